"""Saved evaluation runs: one folder per run under `<data_dir>/evaluation/runs/<run_id>/`.

    config.json     what was asked (collection, arms, engine, models, question set)
    questions.jsonl the questions, as `core.base.questions` reads them
    rows.jsonl      one scored row per question and arm, appended as each answer finishes (partial runs keep them)
    status.json     state (queued|running|done|cancelled|failed), progress, ETA: the run is a background job
                    (core/jobs.py; the folder is the job's folder, with its log.txt, job.lock and cancel flag)
    summary.json    the grid, written at the end (also for a cancelled or failed run, from the rows it has)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from core.errors import EvaluationError

TERMINAL = ("done", "cancelled", "failed")
_RUN_ID = re.compile(r"^ev-[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$")


@dataclass
class EvalConfig:
    """Everything a run needs, written as its config.json."""

    collection: str
    arms: list[str]
    engine: str = "auto"
    base_model: str = ""
    variant: str = ""  # the model the engine runs for the fine-tuned arms (an Ollama variant: its Ollama model)
    top_k: int = 3
    retrieval: str = "fused"
    temperature: float = 0.0
    max_tokens: int = 128
    question_set: str = ""  # where the questions came from, for people
    judge_model: str = ""  # an Ollama model that grades answers; empty: no judge
    label: str = ""
    run_id: str = ""
    data_dir: str = ""
    created: float = field(default_factory=time.time)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "EvalConfig":
        """A config from its JSON (unknown keys are ignored: an older or newer run still loads)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def runs_root(data_dir: Path) -> Path:
    """The folder holding every saved run."""
    return Path(data_dir) / "evaluation" / "runs"


def run_dir(data_dir: Path, run_id: str) -> Path:
    """The folder of one run (the id is checked, so no path escapes the runs folder)."""
    if not _RUN_ID.match(run_id or ""):
        raise EvaluationError(f"{run_id!r} is not an evaluation run id: list runs with `python -m core eval --list`.")
    return runs_root(data_dir) / run_id


def read_json(path: Path) -> Any:
    """A JSON file's content, or None if it is missing or half-written."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def append_row(folder: Path, row: Mapping[str, Any]) -> None:
    """Append one scored row (flushed at once: a killed run keeps every finished answer)."""
    with (folder / "rows.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """The scored rows of a run (a torn last line from a killed process is skipped)."""
    path = folder / "rows.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


@dataclass
class SavedRun:
    """A run as saved: config, status, summary and rows."""

    run_id: str
    config: EvalConfig
    status: dict[str, Any]
    summary: dict[str, Any]
    rows: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the export)."""
        return {"run_id": self.run_id, "config": asdict(self.config), "status": self.status, "summary": self.summary, "rows": self.rows}
