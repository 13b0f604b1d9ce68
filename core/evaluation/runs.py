"""Saved evaluation runs: one folder per run under `<data_dir>/evaluation/runs/<run_id>/`.

config.json     what was asked (collection, arms, engine, models, question set)
questions.jsonl the questions, as `core.base.questions` reads them
rows.jsonl      one scored row per question and arm, appended as each answer finishes (partial runs keep them)
status.json     state (queued|running|done|cancelled|failed), progress, ETA: the run is a background job
                (core/base/jobs.py, read as its JobStatus; the folder is the job's folder, with its log.txt,
                job.lock and cancel flag)
summary.json    the grid, written at the end (also for a cancelled or failed run, from the rows it has)
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from core.base.jobs import JobStatus
from core.chat.service import VARIANT_MODES
from core.errors import EvaluationError

_RUN_ID = re.compile(r"^ev-[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$")
# An arm is a chat mode, or a fine-tuned mode with its own variant: `finetuned:NAME`, `hybrid:NAME`. Plain `finetuned`
# and `hybrid` run the run's `variant`, so several variants (recipes) can be scored side by side in one run.
ARM_VARIANT_SEPARATOR = ":"


def split_arm(arm: str) -> tuple[str, str]:
    """An arm's chat mode and the variant it names ('' when it names none): `finetuned:v1` → (finetuned, v1)."""
    mode, _, variant = arm.partition(ARM_VARIANT_SEPARATOR)
    return mode.strip(), variant.strip()


def arm_label(arm: str, run_variant: str = "") -> str:
    """An arm as a reader sees it: "finetuned · samples-ft" (a plain fine-tuned arm with the run's variant)."""
    mode, variant = split_arm(arm)
    if not variant and mode in VARIANT_MODES:
        variant = run_variant
    return f"{mode} · {variant}" if variant else mode


def expand_arms(modes: list[str], variants: list[str]) -> tuple[list[str], str]:
    """The arms and run variant for modes scored with each of several variants.

    One variant (or none) keeps the plain arms and makes it the run's variant, as runs always were; with several, each
    fine-tuned mode becomes one arm per variant (`finetuned:v1`, `finetuned:v2`…), in the order given.
    """
    if len(variants) <= 1:
        return list(modes), (variants[0] if variants else "")
    arms: list[str] = []
    for mode in modes:
        named = [f"{mode}{ARM_VARIANT_SEPARATOR}{v}" for v in variants]
        arms += named if mode in VARIANT_MODES else [mode]
    return arms, variants[0]


@dataclass
class EvalConfig:
    """Everything a run needs, written as its config.json."""

    collection: str
    arms: list[str]
    engine: str = "auto"
    base_model: str = ""
    variant: str = ""  # the model the engine runs for the fine-tuned arms (an Ollama variant: its Ollama model)
    # the model the engine runs for each variant the run scores, by variant name (`finetuned:NAME` runs
    # variant_models[NAME]; the plain arms' variant is in it too, so it is named as the user knows it)
    variant_models: dict[str, str] = field(default_factory=dict)
    top_k: int = 3
    retrieval: str = "fused"
    temperature: float = 0.0
    max_tokens: int = 128
    question_set: str = ""  # where the questions came from, for people
    judge_model: str = ""  # an Ollama model that grades answers; empty: no judge
    # below this confidence an answer was marked unsure (DOMAINCHAT_CONFIDENCE_THRESHOLD when the run started), so a
    # run's confidence figures are read at its own threshold; None: a run saved before the threshold was kept
    confidence_threshold: float | None = None
    label: str = ""
    run_id: str = ""
    data_dir: str = ""
    created: float = field(default_factory=time.time)

    @property
    def variant_name(self) -> str:
        """The plain fine-tuned arms' variant by its name (`variant` is the model the engine ran: an Ollama or served
        variant's model name); runs saved before the names were kept give that model."""
        return next((name for name, model in self.variant_models.items() if model == self.variant), self.variant)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "EvalConfig":
        """A config from its JSON (unknown keys are ignored: an older or newer run still loads)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


THRESHOLD_FROM_RUN = "run"  # the confidence threshold the run saved with its config
THRESHOLD_FROM_SETTINGS = "settings"  # a run saved none: DOMAINCHAT_CONFIDENCE_THRESHOLD as set now


def run_threshold(config: EvalConfig, setting: float) -> tuple[float, str]:
    """The confidence threshold a run's figures are read at, and where it came from: the run's own, else `setting`
    (the settings' threshold now) for a run saved before the threshold was kept."""
    if config.confidence_threshold is not None:
        return float(config.confidence_threshold), THRESHOLD_FROM_RUN
    return float(setting), THRESHOLD_FROM_SETTINGS


def threshold_text(value: float, source: str) -> str:
    """The threshold as a report names it: "0.5 (saved with the run)"."""
    if source == THRESHOLD_FROM_RUN:
        return f"{value:g} (saved with the run)"
    return f"{value:g} (DOMAINCHAT_CONFIDENCE_THRESHOLD now: the run saved none of its own)"


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


@dataclass(frozen=True)
class RunRecord:
    """A saved run as the run list shows it: its config, its job status and its summary (the rows stay on disk)."""

    run_id: str
    config: EvalConfig
    status: JobStatus
    summary: dict[str, Any]
    questions: int  # how many questions the run was given

    @property
    def correct(self) -> dict[str, float | None]:
        """The correct share of each arm over all its questions (None: none answerable); {} before the run ends."""
        arms = self.summary.get("arms") or {}
        return {arm: (splits.get("all") or {}).get("correct") for arm, splits in arms.items()}

    def to_dict(self) -> dict[str, Any]:
        """One entry of `python -m core eval --list`."""
        c, s = self.config, self.status
        return {
            "run_id": self.run_id,
            "label": c.label,
            "created": c.created,
            "collection": c.collection,
            "arms": c.arms,
            "engine": c.engine,
            "variant": c.variant,
            "question_set": c.question_set,
            "questions": self.questions,
            "state": s.state,
            "step": s.step,
            "total_steps": s.total_steps,
            "correct": self.correct,
        }


@dataclass
class SavedRun:
    """A run as saved: config, status, summary and rows."""

    run_id: str
    config: EvalConfig
    status: JobStatus
    summary: dict[str, Any]
    rows: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the export)."""
        return {
            "run_id": self.run_id,
            "config": asdict(self.config),
            "status": self.status.to_dict(),
            "summary": self.summary,
            "rows": self.rows,
        }
