"""A document-update result built by hand: four changed facts, answered by rag and base, scored by `_score`."""

from __future__ import annotations

import json
from typing import Any

from core.evaluation.document_update import ChangedFact, UpdateTestResult, _score

FACTS = [
    ChangedFact("What is the maximum weight on the open door?", "12 kg", "15 kg"),
    ChangedFact("How long does the Intensive 70° programme take?", "2 h 25 min", "2 h 45 min"),
    ChangedFact("How much water does the Eco 50° programme use?", "8.4 l", "9.9 l"),
    ChangedFact("How many place settings does it hold?", "14", "13"),
]


def given(text: str, contains_new: bool | None = None) -> dict[str, Any]:
    """An answer as `_answer_all` records it: its text and whether a retrieved passage held the new figure."""
    return {"text": text, "total_ms": 50.0, "error": None, "sources": [], "contains_new": contains_new}


def hand_result() -> UpdateTestResult:
    """rag after the change: 1 new figure, 1 old figure read from the new passage, 1 neither, 1 new passage missed."""
    before = {
        (i, arm): given(f.old_answer, False if arm == "rag" else None)
        for i, f in enumerate(FACTS)
        for arm in ("rag", "base")
    }
    after = {
        (0, "rag"): given("12 kg", True),
        (1, "rag"): given("2 h 45 min", True),  # the new passage was in hand: the reader gave the old figure
        (2, "rag"): given("I don't know.", True),
        (3, "rag"): given("13", False),  # the new passage was not retrieved
        **{(i, "base"): given(f.old_answer) for i, f in enumerate(FACTS)},
    }
    rows, summary = _score(FACTS, ["rag", "base"], before, after)
    raw = {
        "collection": "update-test-x",
        "document": "manual.pdf",
        "engine": "embedded",
        "arms": ["rag", "base"],
        "reindex": {"seconds": 2.0, "chunks": 10},
        "retrain": {"seconds": 200.0, "estimated": True, "basis": "estimate"},
        "summary": summary,
        "questions": rows,
        "skipped": [],
        "created": 1_790_000_000.0,
    }
    return UpdateTestResult.from_dict(json.loads(json.dumps(raw)))  # as saved and read back


def saved_hand_result() -> dict[str, Any]:
    """`hand_result()` as the test saves it (JSON)."""
    return json.loads(json.dumps(hand_result().to_dict()))
