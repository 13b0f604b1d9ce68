"""Prompt threads follow the cores other processes leave free: a busy process elsewhere is seen and counted."""

from __future__ import annotations

import subprocess
import sys
import time

from core.base.cpu import CpuShare, _own_busy_s, _system_busy_s


def test_a_busy_process_elsewhere_is_counted_and_leaves_one_thread() -> None:
    share = CpuShare()
    share.others_busy_cores()  # the first reading starts the window
    spinner = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"]
    )
    try:
        time.sleep(1.2)
        busy = share.others_busy_cores()
        share.others_busy_cores()
        time.sleep(0.3)
        threads = share.free_cores(2)
    finally:
        spinner.wait()
    assert busy >= 0.5  # the spinner alone keeps one core busy
    assert threads == 1


def test_the_system_reading_includes_this_process_in_the_same_unit() -> None:
    """Others' share is the system's busy time minus ours: both must be CPU seconds, the system's including ours."""
    system_before, own_before = _system_busy_s(), _own_busy_s()
    give_up = time.perf_counter() + 20
    while _own_busy_s() - own_before < 0.3 and time.perf_counter() < give_up:  # spin until 0.3 s of our own CPU time
        pass
    system_spent, own_spent = _system_busy_s() - system_before, _own_busy_s() - own_before  # type: ignore[operator]
    assert own_spent >= 0.3
    assert system_spent >= 0.9 * own_spent


def test_calls_in_quick_succession_keep_the_last_measured_figure_not_the_load_average() -> None:
    share = CpuShare()
    share.others_busy_cores()
    time.sleep(0.3)
    measured = share.others_busy_cores()
    started = share._last[0]  # type: ignore[index]
    quick = []
    while time.monotonic() - started < 0.04:  # inside the shortest window: nothing can be measured in between
        quick.append(share.others_busy_cores())
    assert quick and set(quick) == {measured}
    time.sleep(0.3)
    share.others_busy_cores()  # a window long enough again: measured afresh
    assert share._last is not None and time.monotonic() - share._last[0] < 0.2
