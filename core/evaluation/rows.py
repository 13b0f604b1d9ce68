"""What a scored row says, read by the scorer, the statistics and the answer sources alike (core/evaluation/
scoring.py writes the rows; the modules above it read them without importing one another in a circle)."""

from __future__ import annotations

from typing import Any, Mapping

from core.evaluation.metrics import gave_no_answer

ALL = "all"  # the summary's name for every question of a run, whatever its split
UNSPLIT = "unsplit"  # the summary's name for questions without a split


def no_answer(row: Mapping[str, Any]) -> bool:
    """Whether a scored row got no answer at all (rows saved before the field existed: from their text)."""
    return bool(row["no_answer"]) if "no_answer" in row else gave_no_answer(str(row.get("answer") or ""))
