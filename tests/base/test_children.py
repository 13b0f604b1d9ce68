"""core.base.children with a real child program (tests/helpers/child_probe.py): output, limits, environment."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from core.base.children import run_child, start_child
from core.config import APP_ROOT

PROBE = "tests.helpers.child_probe"


def test_stdout_comes_back_with_the_exit_status() -> None:
    result = run_child(PROBE, ["echo"], 256, 60, stdin=b"one line\nand another")
    assert (result.stdout, result.returncode, result.timed_out) == (b"one line\nand another", 0, False)


def test_an_allocation_beyond_the_memory_limit_fails_in_the_child_only() -> None:
    limited = run_child(PROBE, ["allocate", "400"], 200, 60)
    assert limited.returncode != 0 and b"MemoryError" in limited.stderr and b"allocated" not in limited.stdout
    # the same program without a limit allocates it: the limit is what stopped it
    free = run_child(PROBE, ["allocate", "400"], None, 60)
    assert free.returncode == 0 and free.stdout.startswith(b"allocated"), free.stderr


def test_a_child_past_its_time_limit_is_killed_and_reported() -> None:
    started = time.monotonic()
    result = run_child(PROBE, ["sleep", "60"], None, 1.0)
    assert result.timed_out and result.returncode == -9 and b"woke" not in result.stdout
    assert time.monotonic() - started < 20  # it was stopped, not waited for


def test_the_child_imports_core_without_a_pythonpath_from_us(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen = json.loads(run_child(PROBE, ["env"], 512, 60).stdout)
    assert seen["pythonpath"] is None
    assert Path(seen["core"]).resolve() == APP_ROOT / "core" / "__init__.py"
    assert Path(seen["cwd"]).resolve() == APP_ROOT
    assert (seen["hf_offline"], seen["unbuffered"]) == ("1", "1")  # offline model hubs, unbuffered output


def test_start_child_streams_and_keeps_the_limit() -> None:
    proc = start_child(PROBE, ["echo"], 256, stdin=subprocess.PIPE)
    out, _ = proc.communicate(b"streamed", timeout=60)
    assert (out, proc.returncode) == (b"streamed", 0)
    proc = start_child(PROBE, ["allocate", "400"], 200)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"MemoryError" in err
