"""Calls run ahead on a few threads: results in submission order, at most N running, stopping cancels the rest."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

import pytest

from core.base.ahead import results_in_order


class Meter:
    """Calls that record when they start, end and how many run at once (a real counter under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started: list[int] = []
        self.finished: list[int] = []
        self.threads: set[str] = set()

    def call(self, i: int, seconds: float) -> Callable[[], int]:
        def run() -> int:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.started.append(i)
                self.threads.add(threading.current_thread().name)
            time.sleep(seconds)
            with self.lock:
                self.running -= 1
                self.finished.append(i)
            return i * 10

        return run


def test_results_come_in_submission_order_though_later_calls_finish_first() -> None:
    meter = Meter()
    # the first calls are the slowest: they finish last, yet are read first
    calls = [meter.call(i, 0.02 * (8 - i)) for i in range(8)]
    assert list(results_in_order(calls, 4, "t")) == [i * 10 for i in range(8)]
    assert meter.finished != sorted(meter.finished)  # they really did finish out of order
    assert meter.most == 4 and meter.running == 0


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_never_more_than_n_calls_run_at_once(workers: int) -> None:
    meter = Meter()
    results = list(results_in_order((meter.call(i, 0.05) for i in range(20)), workers, "t"))
    assert results == [i * 10 for i in range(20)]
    assert meter.most == workers


def test_one_worker_makes_each_call_when_its_result_is_read_in_the_readers_thread() -> None:
    meter = Meter()
    results = results_in_order((meter.call(i, 0.0) for i in range(3)), 1)
    assert meter.started == []  # nothing runs before it is asked for
    assert next(results) == 0 and meter.started == [0]
    assert list(results) == [10, 20]
    assert meter.threads == {threading.current_thread().name} and meter.most == 1


def test_calls_are_taken_lazily_no_further_than_n_ahead() -> None:
    meter = Meter()
    taken: list[int] = []

    def calls() -> Iterator[Callable[[], int]]:
        for i in range(100):
            taken.append(i)
            yield meter.call(i, 0.0)

    results = results_in_order(calls(), 3, "t")
    assert next(results) == 0
    assert taken == [0, 1, 2]  # the awaited call and two ahead of it, not the whole list
    results.close()


def test_stopping_early_cancels_the_calls_not_started_and_waits_for_the_running_ones() -> None:
    meter = Meter()
    results = results_in_order([meter.call(i, 0.3) for i in range(10)], 3, "t")
    assert next(results) == 0  # calls 1 and 2 were running ahead of it meanwhile
    results.close()
    assert meter.running == 0  # close() returned only after the running calls ended
    assert sorted(meter.finished) == [0, 1, 2]
    time.sleep(0.4)
    assert sorted(meter.started) == [0, 1, 2]  # the seven calls not started never were
    assert list(results) == []


def test_a_call_that_raises_raises_at_its_place_and_stops_the_rest() -> None:
    meter = Meter()

    def boom() -> int:
        time.sleep(0.05)
        raise ValueError("call 2 failed")

    calls = [meter.call(0, 0.0), meter.call(1, 0.0), boom, *(meter.call(i, 0.2) for i in range(3, 12))]
    results = results_in_order(calls, 3, "t")
    assert [next(results), next(results)] == [0, 10]
    with pytest.raises(ValueError, match="call 2 failed"):
        next(results)
    assert meter.running == 0  # the calls running beside it were waited for
    assert not set(meter.started) & set(range(5, 12))  # the ones further on were never started
    assert list(results) == []  # the iterator has ended
