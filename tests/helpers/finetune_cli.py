"""`python -m core finetune …` run as a user runs it, on a data directory of the test's, on the embedded engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def finetune_cli(
    data_dir: Path, *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The finished command; with `check`, asserts it exited 0 (showing its stderr when not)."""
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data_dir), "DOMAINCHAT_ENGINE": "embedded"}
    proc = subprocess.run(
        [sys.executable, "-m", "core", "finetune", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc
