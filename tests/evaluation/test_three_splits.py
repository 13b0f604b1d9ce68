"""A run over a set with the three halves (trained questions word for word, the same facts reworded, new documents):
the summary and the grid keep them apart, so memorisation is never read as knowledge."""

from __future__ import annotations

from core.base.questions import SPLIT_LABELS, EvalQuestion
from core.evaluation.scoring import grid_rows, score_answer, summarise
from core.evaluation.statistics import paired_comparisons

VERBATIM = EvalQuestion("What is the maximum weight on the open door?", "15 kg", "manual.pdf", 1, split="verbatim")
REWORDED = EvalQuestion(
    "How heavy a load can the open door carry?",
    "15 kg",
    "manual.pdf",
    1,
    split="reworded",
    rewords="What is the maximum weight on the open door?",
)
VERBATIM_2 = EvalQuestion("Which error code means a leak?", "E4", "manual.pdf", 7, split="verbatim")
REWORDED_2 = EvalQuestion(
    "What code does a leak show?", "E4", "manual.pdf", 7, split="reworded", rewords="Which error code means a leak?"
)
NEW = EvalQuestion("What is the HbA1c target?", "48 mmol/mol", "guide.pdf", 3, split="new")


def _answer(mode: str, text: str) -> dict:
    return {"mode": mode, "text": text, "timings": {"total_ms": 300.0, "first_token_ms": 80.0, "tokens": 4}}


def test_the_summary_has_the_three_splits_and_the_memorised_variant_scores_only_on_the_verbatim_one() -> None:
    # the variant repeats what it was taught word for word and fails the same facts asked otherwise; rag reads them
    answers = {
        "finetuned": {VERBATIM: "15 kg", VERBATIM_2: "E4", REWORDED: "20 kg", REWORDED_2: "E9", NEW: "53 mmol/mol"},
        "rag": {VERBATIM: "15 kg", VERBATIM_2: "E4", REWORDED: "15 kg [1]", REWORDED_2: "E4", NEW: "48 mmol/mol"},
    }
    rows = [score_answer(q, _answer(arm, text), k=3) for arm, given in answers.items() for q, text in given.items()]
    summary = summarise(rows, ["finetuned", "rag"])
    assert list(summary["arms"]["finetuned"]) == ["all", "verbatim", "reworded", "new"]
    ft, rag = summary["arms"]["finetuned"], summary["arms"]["rag"]
    assert (ft["verbatim"]["correct"], ft["reworded"]["correct"], ft["new"]["correct"]) == (1.0, 0.0, 0.0)
    assert (rag["verbatim"]["correct"], rag["reworded"]["correct"], rag["new"]["correct"]) == (1.0, 1.0, 1.0)
    assert ft["all"]["n"] == 5 and ft["verbatim"]["n"] == ft["reworded"]["n"] == 2 and ft["new"]["n"] == 1
    assert [(r.arm, r.split) for r in grid_rows(summary) if r.arm == "finetuned"] == [
        ("finetuned", "all"),
        ("finetuned", "trained questions, word for word"),
        ("finetuned", "trained facts, reworded"),
        ("finetuned", "new documents"),
    ]
    compared = {c.split: c for c in paired_comparisons(rows, ["rag", "finetuned"])}
    assert set(compared) == {"all", "verbatim", "reworded", "new"}
    assert compared["verbatim"].difference == 0.0 and compared["reworded"].difference == 100.0
    assert compared["reworded"].sentence().startswith(f"rag − finetuned on {SPLIT_LABELS['reworded']}: +100 points")
