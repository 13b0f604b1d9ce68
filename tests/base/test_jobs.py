"""core.base.jobs with a real job program (tests/helpers/count_job.py): progress, result, failure, cancel, liveness."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.base import jobs
from core.errors import JobBusyError, JobError
from tests.helpers.count_job import COUNT


@pytest.mark.slow
def test_a_job_reports_progress_and_its_result(tmp_path: Path) -> None:
    # steps of 0.5 s: a poll on a loaded CI machine can take longer than 0.1 s, and then saw only the first and last
    job_id = jobs.start_job(tmp_path, COUNT, {"n": 5, "step_s": 0.5}, status={"what_we_count": "steps"})
    assert job_id.startswith("cnt-")
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = jobs.job_status(tmp_path, COUNT, job_id)
        seen.add(status.step)
        if status.terminal:
            break
        time.sleep(0.05)
    assert status.state == "done" and status.result == {"counted": 5} and status.message == "Counted all"
    assert status.fraction == 1.0 and status.extra["what_we_count"] == "steps"
    assert len(seen) >= 3  # progress was visible while it ran, not only at the end
    assert [s.job_id for s in jobs.list_jobs(tmp_path, COUNT)] == [job_id]


def test_a_failing_job_says_why(tmp_path: Path) -> None:
    job_id = jobs.start_job(tmp_path, COUNT, {"n": 5, "fail_at": 2})
    status = jobs.wait_job(tmp_path, COUNT, job_id, timeout_s=60, poll_s=0.1)
    assert status.state == "failed" and status.message == "Failed at 2 as asked." and status.error == "AppError"


def test_cancel_stops_a_running_job_between_steps(tmp_path: Path) -> None:
    job_id = jobs.start_job(tmp_path, COUNT, {"n": 1000, "step_s": 0.05})
    deadline = time.monotonic() + 60
    while jobs.job_status(tmp_path, COUNT, job_id).step < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    status = jobs.cancel_job(tmp_path, COUNT, job_id, wait_s=30)
    assert status.state == "cancelled" and 2 <= status.step < 1000
    assert status.message == COUNT.cancelled_message


def test_a_job_killed_hard_is_reported_failed_through_its_lock(tmp_path: Path) -> None:
    job_id = jobs.start_job(tmp_path, COUNT, {"n": 1000, "step_s": 0.05})
    deadline = time.monotonic() + 60
    while (status := jobs.job_status(tmp_path, COUNT, job_id)).step < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status.state == "running"
    os.kill(status.extra["pid"], 9)
    deadline = time.monotonic() + 10
    while not (status := jobs.job_status(tmp_path, COUNT, job_id)).terminal and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status.state == "failed" and "stopped unexpectedly" in status.message


def test_heavy_jobs_run_one_at_a_time(tmp_path: Path) -> None:
    heavy = replace(COUNT, heavy=True)
    first = jobs.start_job(tmp_path, heavy, {"n": 1000, "step_s": 0.05})
    try:
        with pytest.raises(JobBusyError, match=f"counting job {first}.*the test's cancel"):
            jobs.start_job(tmp_path, heavy, {"n": 1})
        assert jobs.heavy_job_holder(tmp_path)["job_id"] == first
        light = jobs.start_job(tmp_path, COUNT, {"n": 1})  # a light job does not wait for the heavy one
        assert jobs.wait_job(tmp_path, COUNT, light, timeout_s=60).state == "done"
    finally:
        jobs.cancel_job(tmp_path, heavy, first, wait_s=30)
    assert jobs.heavy_job_holder(tmp_path) is None


def test_job_ids_cannot_leave_the_jobs_folder(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="not a job id"):
        jobs.job_status(tmp_path, COUNT, "../x")
    with pytest.raises(JobError, match="No counting job"):
        jobs.job_status(tmp_path, COUNT, "cnt-none")


def test_a_job_that_ends_while_its_status_is_read_keeps_its_own_final_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = jobs.start_job(tmp_path, COUNT, {"n": 5, "fail_at": 2})
    final = jobs.wait_job(tmp_path, COUNT, job_id, timeout_s=60, poll_s=0.1)
    assert final.message == "Failed at 2 as asked."
    status_file = COUNT.job_dir(tmp_path, job_id) / "status.json"
    done = jobs.read_status_file(status_file)
    jobs.write_json_atomic(status_file, {**done, "state": "running"})  # as read an instant before the job's last write

    def ends_meanwhile(folder: Path, pid: object) -> bool:
        jobs.write_json_atomic(status_file, done)  # the job writes its final status, then exits
        return False

    monkeypatch.setattr(jobs, "_job_alive", ends_meanwhile)
    status = jobs.job_status(tmp_path, COUNT, job_id)
    assert status.state == "failed" and status.message == "Failed at 2 as asked." and status.error == "AppError"
    assert jobs.read_status_file(status_file)["message"] == "Failed at 2 as asked."  # not overwritten
