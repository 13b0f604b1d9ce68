"""Calls run ahead on a few threads, their results read in the order the calls were given.

A server that batches requests (the openai engine) answers N requests at once about as fast as one, so long work
(an evaluation, the document-update test, training-set generation) asks up to N calls ahead of the one it waits
for. The reader still sees every result in submission order, so what it does with them (scoring, saving,
deduplicating, reporting progress) is what a one-at-a-time run does. With one worker nothing runs ahead: each call
is made when its result is read, in the reader's thread, exactly as a plain loop would.

Stopping early is closing the iterator (`close()`, or `contextlib.closing`): calls not yet started are cancelled,
calls already running are waited for, so nothing keeps using the engine once the reader has moved on.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generator, Iterable, TypeVar

T = TypeVar("T")


def results_in_order(calls: Iterable[Callable[[], T]], workers: int, name: str = "ahead") -> Generator[T, None, None]:
    """Each call's result, in the order of `calls`, with up to `workers` calls running at once (1: no threads).

    A call that raises raises where its result is read, and the calls ahead of it are stopped as by `close()`.
    `calls` is read lazily, never more than `workers` calls beyond the result being read.
    """
    if workers <= 1:
        for call in calls:
            yield call()
        return
    pending = iter(calls)
    ahead: deque[Future[T]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        while True:
            # keep `workers` calls submitted, the awaited one included: at most `workers` in flight
            while len(ahead) < workers:
                following = next(pending, None)
                if following is None:
                    break
                ahead.append(pool.submit(following))
            if not ahead:
                return
            yield ahead.popleft().result()
    finally:
        # a reader that stops (or a call that failed): what has not started never will; what runs is waited for,
        # so no call outlives the reader's loop
        for future in ahead:
            future.cancel()
        pool.shutdown(wait=True)
