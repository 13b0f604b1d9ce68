"""Job plumbing without a model: config checks, the heavy-job lock, failures reported in status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.engines.ollama_engine import parse_parameters
from core.engines.variants import Variant, VariantRegistry
from core.errors import FineTuneError, JobBusyError, JobError, VariantError
from core.finetune import jobs


def _config(tmp_path: Path, **kw: object) -> jobs.TrainConfig:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    dataset = tmp_path / "train.jsonl"
    if not dataset.exists():
        dataset.write_text(json.dumps({"question": "Q?", "answer": "A"}) + "\n")
    values = {
        "job_id": "job-1",
        "data_dir": str(tmp_path / "data"),
        "dataset": str(dataset),
        "base_gguf": str(base),
        **kw,
    }
    return jobs.TrainConfig(**values)  # type: ignore[arg-type]


def test_start_refuses_a_config_that_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(FineTuneError, match="does not exist"):
        jobs.start_job(_config(tmp_path, base_gguf=str(tmp_path / "missing.gguf")))
    with pytest.raises(FineTuneError, match="training set"):
        jobs.start_job(_config(tmp_path, dataset=str(tmp_path / "nope.jsonl")))
    with pytest.raises(FineTuneError, match="positive"):
        jobs.start_job(_config(tmp_path, epochs=0))
    VariantRegistry(tmp_path / "data").register(Variant(name="taken", engine="embedded", base_model="b"))
    with pytest.raises(VariantError, match="already exists"):
        jobs.start_job(_config(tmp_path, register={"name": "taken", "engine": "embedded"}))
    assert not jobs.jobs_root(tmp_path / "data").exists()  # nothing was started


def test_busy_lock_refuses_a_second_job_with_a_clear_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fd = jobs.acquire_heavy_lock(data, "ft-other", what="ingestion job")
    try:
        assert jobs.heavy_job_holder(data)["job_id"] == "ft-other"
        with pytest.raises(JobBusyError, match="ingestion job ft-other .*one at a time.*cancel ft-other"):
            jobs.start_job(_config(tmp_path))
    finally:
        os.close(fd)
    assert jobs.heavy_job_holder(data) is None


@pytest.mark.slow
def test_a_failing_job_says_why_and_frees_the_lock(tmp_path: Path) -> None:
    config = _config(tmp_path)
    Path(config.dataset).write_text("\n")  # exists, but holds no pair
    job_id = jobs.start_job(config)
    status = jobs.wait_job(config.data_dir, job_id, timeout_s=120)
    assert status.state == "failed" and "holds no question/answer pair" in status.message
    assert jobs.heavy_job_holder(Path(config.data_dir)) is None
    assert jobs.cancel_job(Path(config.data_dir), job_id).state == "failed"  # cancelling a finished job is a no-op


@pytest.mark.slow
def test_cancel_right_after_start_stops_the_job(tmp_path: Path) -> None:
    config = _config(tmp_path)
    job_id = jobs.start_job(config)
    status = jobs.cancel_job(Path(config.data_dir), job_id, wait_s=60)
    assert status.state == "cancelled", (status, (config.job_dir / "log.txt").read_text()[-1500:])
    assert jobs.heavy_job_holder(Path(config.data_dir)) is None


def test_a_real_training_process_killed_with_sigkill_is_reported_failed(tmp_path: Path) -> None:
    config = _config(tmp_path)
    data = Path(config.data_dir)
    job_id = jobs.start_job(config)
    deadline = time.monotonic() + 60
    while (
        (status := jobs.job_status(data, job_id)).state != "running"
        and not status.terminal
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert status.state == "running", status  # it is working (it then spends seconds loading the base model)
    pid = status.extra["pid"]
    assert (
        b"core.finetune.train" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )  # the training program itself, not a stand-in
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (status := jobs.job_status(data, job_id)).terminal and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status.state == "failed" and "stopped unexpectedly" in status.message, status
    assert jobs.heavy_job_holder(data) is None  # the heavy-job slot is free for the next job
    assert jobs.cancel_job(data, job_id).state == "failed"  # and Cancel signals nobody


def test_a_job_whose_lock_holder_dies_is_reported_as_failed(tmp_path: Path) -> None:
    config = _config(tmp_path)
    folder = config.job_dir
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config.to_json())
    # a stand-in job process: alive exactly while it holds the job's lock, as a real job does
    holder = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(60)"
    )
    sleeper = subprocess.Popen([sys.executable, "-c", holder, str(folder / "job.lock")], stdout=subprocess.PIPE)
    assert sleeper.stdout.readline().strip() == b"locked"
    (folder / "status.json").write_text(
        json.dumps({"job_id": config.job_id, "state": "running", "pid": sleeper.pid, "created": time.time()})
    )
    assert jobs.job_status(Path(config.data_dir), config.job_id).state == "running"
    sleeper.send_signal(signal.SIGKILL)
    sleeper.wait()
    status = jobs.job_status(Path(config.data_dir), config.job_id)
    assert status.state == "failed" and "stopped unexpectedly" in status.message


def test_config_file_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    config = _config(tmp_path, epochs=3, register={"name": "v1", "engine": "ollama"})
    path = tmp_path / "c.json"
    path.write_text(config.to_json())
    assert jobs.TrainConfig.from_file(path) == config
    path.write_text(json.dumps({**json.loads(config.to_json()), "epoch": 3}))
    with pytest.raises(FineTuneError, match="unknown keys \\['epoch'\\]"):
        jobs.TrainConfig.from_file(path)
    with pytest.raises(JobError, match="not a job id"):
        jobs.job_status(tmp_path, "../etc")


def test_ollama_parameters_text_becomes_a_create_mapping() -> None:
    text = (
        'stop                           "<end_of_turn>"\nstop "<eos>"\n'
        "temperature 0.7\ntop_k 64\npenalize_newline false"
    )
    assert parse_parameters(text) == {
        "stop": ["<end_of_turn>", "<eos>"],
        "temperature": 0.7,
        "top_k": 64,
        "penalize_newline": False,
    }
    assert parse_parameters("") == {}


def test_a_dead_job_whose_pid_was_reused_is_not_taken_for_alive(tmp_path: Path) -> None:
    """A job folder from before job locks: its recorded PID now runs another program, so the job is dead."""
    config = _config(tmp_path)
    folder = config.job_dir
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config.to_json())
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder / "status.json").write_text(
            json.dumps({"job_id": config.job_id, "state": "running", "pid": other.pid, "created": time.time()})
        )
        status = jobs.job_status(Path(config.data_dir), config.job_id)
        assert status.state == "failed"
        assert jobs.cancel_job(Path(config.data_dir), config.job_id).state == "failed"
        assert other.poll() is None  # never signalled: it is not the job
    finally:
        other.kill()
        other.wait()
