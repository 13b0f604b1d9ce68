"""How much of the CPU other processes are using right now, so parallel work takes only the cores that are free.

Used by llama.cpp's prompt processing (per request), by the question's embedding and by LoRA training on the CPU
(per step): torch's threads
wait on each other the same way (a training step 3.7–4.8× slower on two threads than on one under load).

llama.cpp's worker threads spin-wait for each other: with two batch threads on a 2-core machine where
another process is busy, prompt processing collapsed to ≈80–160 tokens/s, against ≈240 with one thread
(measured here, load average 4). On an idle machine two threads read ≈2× faster than one. So each request
looks at the CPU time the *other* processes used since the previous request (the system's busy time from
/proc/stat minus this process's own) and gives llama.cpp's batch only the cores they leave free.
"""

from __future__ import annotations

import os
import threading
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
BUSY_SHARE = 0.5  # another process using half a core or more counts as holding one
SHORTEST_WINDOW_S = 0.05  # /proc/stat counts in ticks of 10 ms: a shorter window measures nothing
LONGEST_WINDOW_S = 30.0  # older activity says little about now: fall back to the 1-minute load average


def _system_busy_s() -> float | None:
    """Seconds of CPU time all processes have used since boot (None where /proc is missing)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user/nice
    return (sum(fields) - idle - guest) / _TICK


def _own_busy_s() -> float:
    """Seconds of CPU time this process has used (all its threads)."""
    t = os.times()
    return t.user + t.system


class CpuShare:
    """Tracks other processes' CPU use between calls (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None  # (wall, system busy, own busy)
        self._estimate: float | None = None

    def others_busy_cores(self) -> float:
        """Cores' worth of CPU the other processes used since the previous call (or the load average's estimate)."""
        now, system, own = time.monotonic(), _system_busy_s(), _own_busy_s()
        with self._lock:
            last = self._last
            if last is not None and now - last[0] <= SHORTEST_WINDOW_S and self._estimate is not None:
                # Calls in quick succession (questions embedded back to back): too short a window to measure, so
                # the last figure stands and the window keeps growing. The load average would count our own work.
                return self._estimate
            self._last = (now, system, own) if system is not None else None
        if system is None or last is None or now - last[0] >= LONGEST_WINDOW_S:
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
            estimate = max(0.0, load - 1.0)  # the load average counts this process's own busy thread too
        else:
            estimate = max(0.0, ((system - last[1]) - (own - last[2])) / (now - last[0]))
        self._estimate = estimate
        return estimate

    def free_cores(self, cores: int) -> int:
        """How many of `cores` threads to use: one per core the other processes leave free, at least one."""
        busy = self.others_busy_cores()
        return max(1, min(cores, cores - int(busy + (1.0 - BUSY_SHARE))))
