"""A small real job program for testing `core.base.jobs`: counts to `n`, one step every `step_s` seconds."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from core.base.jobs import JobContext, JobKind, run_job_main
from core.errors import AppError

COUNT = JobKind(
    name="count",
    module="tests.helpers.count_job",
    root="jobs/count",
    prefix="cnt",
    what="counting job",
    heavy=False,
    cancel_hint="the test's cancel",
)


def work(config_path: Path, ctx: JobContext) -> dict[str, Any]:
    """Count; fail on request; stop between steps when cancelled."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for i in range(1, int(config["n"]) + 1):
        ctx.check_cancelled()
        time.sleep(float(config.get("step_s", 0.05)))
        if config.get("fail_at") == i:
            raise AppError(f"Failed at {i} as asked.")
        ctx.progress(i, int(config["n"]), f"Counted {i}")
    return {"result": {"counted": int(config["n"])}, "message": "Counted all"}


if __name__ == "__main__":
    sys.exit(run_job_main(COUNT, work))
