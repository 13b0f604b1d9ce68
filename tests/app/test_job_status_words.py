"""What the job lists and panels say about a job: its own state, with its times (never a stale "queued")."""

from __future__ import annotations

from datetime import datetime

from core.base.jobs import JobStatus
from ui.jobs_panel import status_words

T0 = datetime(2026, 12, 7, 10, 2, 11).timestamp()


def test_each_state_reads_with_its_times() -> None:
    queued = JobStatus("j1", "train", "queued", created=T0)
    running = JobStatus("j1", "train", "running", created=T0, started=T0 + 4)
    done = JobStatus("j1", "train", "done", created=T0, started=T0 + 4, finished=T0 + 4 + 210)
    failed = JobStatus("j1", "train", "failed", created=T0, started=T0 + 4, finished=T0 + 34)
    cancelled = JobStatus("j1", "train", "cancelled", created=T0, finished=T0 + 2)
    assert status_words(queued) == "queued since 10:02:11"
    assert status_words(running) == "running since 10:02:15"
    assert status_words(done) == "done 10:05:45 (3.5 min)"
    assert status_words(failed) == "failed 10:02:45 (30 s)"
    assert status_words(cancelled) == "cancelled 10:02:13"  # never started: no duration
