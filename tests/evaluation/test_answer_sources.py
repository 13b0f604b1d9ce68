"""Where each answer came from: hand-made answers scored by `score_answer`, classified, counted and put in words."""

from __future__ import annotations

from typing import Any

import pytest

from core.base.questions import EvalQuestion
from core.evaluation.answer_sources import (
    PLAIN_CATEGORIES,
    RETRIEVAL_CATEGORIES,
    answer_source,
    diagnosis,
    source_counts,
    with_answer_sources,
)
from core.evaluation.scoring import score_answer, summarise

HOLDS = "Do not place more than 15 kg on the open door of the dishwasher."
OTHER = "Children under 3 years must be kept away unless supervised."
DOOR = EvalQuestion("What is the maximum weight on the open door?", "15 kg", "manual.pdf", 1, split="seen")
DOOR_NEW = EvalQuestion("What is the maximum weight on the open door?", "15 kg", "manual.pdf", 1, split="new")
NONE = EvalQuestion("Who won the 1998 chess olympiad?", "", unanswerable=True, split="new")


def answer(mode: str, text: str, passages: tuple[str, ...] = (), flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """An answer dict as `Answer.to_dict()` gives it, with the passages retrieval handed the model."""
    return {
        "mode": mode,
        "text": text,
        "flags": list(flags),
        "sources": [{"file": "manual.pdf", "page": i + 1, "score": 0.5, "text": t} for i, t in enumerate(passages)],
        "timings": {"first_token_ms": 10.0, "total_ms": 40.0},
    }


def row(question: EvalQuestion, mode: str, text: str, *passages: str, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    return score_answer(question, answer(mode, text, passages, flags), k=3)


@pytest.mark.parametrize(
    ("mode", "text", "passages", "flags", "expected"),
    [
        ("rag", "15 kg", (OTHER, HOLDS), (), "right_supported"),
        ("hybrid", "15 kg", (OTHER,), (), "right_unsupported"),  # right with no passage holding it: the weights
        ("rag", "20 kg", (HOLDS,), (), "misread"),
        ("hybrid", "20 kg", (OTHER,), (), "retrieval_miss"),
        ("rag", "20 kg", (), (), "retrieval_miss"),  # nothing close enough was retrieved
        ("rag", "I don't know.", (HOLDS,), (), "declined"),  # a refusal with the answer in hand is still declined
        ("rag", "15 kg", (HOLDS,), ("unsupported",), "declined"),  # flagged: the user was told not to rely on it
        ("rag", "", (HOLDS,), (), "no_answer"),
        ("base", "15 kg", (), (), "right"),
        ("finetuned", "12 kg", (), (), "wrong"),
        ("finetuned", "I don't know.", (), (), "declined"),
        ("base", "", (), (), "no_answer"),
    ],
)
def test_each_answer_gets_its_category_and_the_row_carries_it(
    mode: str, text: str, passages: tuple[str, ...], flags: tuple[str, ...], expected: str
) -> None:
    scored = row(DOOR, mode, text, *passages, flags=flags)
    assert answer_source(scored) == expected
    assert scored["answer_source"] == expected  # score_answer writes it into the saved row


def test_unanswerable_questions_are_not_classified() -> None:
    scored = row(NONE, "rag", "I don't know.", OTHER)
    assert answer_source(scored) is None and scored["answer_source"] is None


def test_a_row_saved_before_the_field_existed_is_classified_from_its_fields() -> None:
    scored = row(DOOR, "rag", "20 kg", HOLDS)
    del scored["answer_source"], scored["no_answer"]
    assert answer_source(scored) == "misread"


def _grid() -> list[dict[str, Any]]:
    """Two retrieving and two plain modes on seen and new questions, with an unanswerable one each."""
    rows = [
        row(DOOR, "rag", "15 kg", HOLDS),
        row(DOOR, "rag", "15 kg", OTHER),
        row(DOOR_NEW, "rag", "20 kg", HOLDS),
        row(DOOR_NEW, "rag", "20 kg", HOLDS),
        row(DOOR_NEW, "rag", "20 kg", OTHER),
        row(NONE, "rag", "I don't know.", OTHER),
        row(DOOR, "finetuned", "15 kg"),
        row(DOOR, "finetuned", "15 kg"),
        row(DOOR_NEW, "finetuned", "12 kg"),
        row(DOOR_NEW, "finetuned", "12 kg"),
        row(DOOR_NEW, "finetuned", "I don't know."),
        row(NONE, "finetuned", "Kasparov"),
    ]
    return rows


def test_counts_per_mode_and_half_add_up_to_the_answerable_questions() -> None:
    rows = _grid()
    counts = source_counts(rows)
    assert set(counts) == {"rag", "finetuned"}
    assert set(counts["rag"]) == {"all", "seen", "new"}
    assert tuple(counts["rag"]["all"]) == RETRIEVAL_CATEGORIES and tuple(counts["finetuned"]["all"]) == PLAIN_CATEGORIES
    assert counts["rag"]["all"] == {
        "right_supported": 1,
        "right_unsupported": 1,
        "misread": 2,
        "retrieval_miss": 1,
        "declined": 0,
        "no_answer": 0,
    }
    assert counts["rag"]["new"]["misread"] == 2 and counts["rag"]["seen"]["misread"] == 0
    assert counts["finetuned"]["new"] == {"right": 0, "wrong": 2, "declined": 1, "no_answer": 0}
    for arm, splits in counts.items():
        answerable = [r for r in rows if r["arm"] == arm and not r["unanswerable"]]
        assert sum(splits["all"].values()) == len(answerable) == 5
        assert sum(splits["seen"].values()) + sum(splits["new"].values()) == len(answerable)


def test_the_diagnosis_says_who_is_at_fault_in_plain_words() -> None:
    said = diagnosis(source_counts(_grid()))
    assert said["rag"] == (
        "rag: 2 of 3 wrong answers had the answer in a retrieved passage — the model misread them; "
        "in the other 1 no retrieved passage held it — the retriever missed it; "
        "1 of 2 right answers came from the model's weights, not a retrieved passage."
    )
    assert said["finetuned"] == (
        "finetuned: 2 of 2 seen-fact answers were right from memory; "
        "2 of 3 new-document answers came from memory and were wrong; 1 declined."
    )


def test_the_diagnosis_names_the_verbatim_and_reworded_halves_as_a_reader_says_them() -> None:
    rows = [{**r, "split": "verbatim" if r["split"] == "seen" else "reworded"} for r in _grid()]
    said = diagnosis(source_counts(rows))["finetuned"]
    assert said == (
        "finetuned: 2 of 2 answers to trained questions (word for word) were right from memory; "
        "2 of 3 answers to trained facts (reworded) came from memory and were wrong; 1 declined."
    )


def test_the_diagnosis_of_a_mode_with_only_misses_or_nothing_to_classify() -> None:
    said = diagnosis(
        source_counts([row(DOOR, "hybrid", "20 kg", OTHER), row(DOOR, "hybrid", "20 kg"), row(NONE, "base", "Tal")])
    )
    assert said["hybrid"] == (
        "hybrid: 2 of 2 wrong answers had no retrieved passage holding the answer — the retriever missed them."
    )
    assert said["base"] == "base: no answerable question was asked."


def test_the_summary_gets_the_counts_and_the_diagnosis_and_keeps_the_grid() -> None:
    rows = _grid()
    grid = summarise(rows)
    summary = with_answer_sources(grid, rows, ["rag", "finetuned"])
    assert summary["arms"] == grid["arms"] and "answer_sources" not in grid  # a copy: the grid is left as it was
    assert summary["answer_sources"]["counts"] == source_counts(rows)
    assert list(summary["answer_sources"]["diagnosis"]) == ["rag", "finetuned"]


def test_a_run_summary_is_saved_with_its_answer_sources_beside_its_intervals_and_comparisons() -> None:
    from core.evaluation.runner import with_statistics

    rows = _grid()
    saved = with_statistics(summarise(rows), rows, ["rag", "finetuned"])
    assert saved["answer_sources"]["counts"] == source_counts(rows, ["rag", "finetuned"])
    assert "comparisons" in saved and "intervals" in saved
