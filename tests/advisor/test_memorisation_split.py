"""The advisor on a run whose trained facts are asked word for word: it shows the memorisation scores but moves no
advice on them, reads the reworded half as evidence, and says so when a run has no reworded half."""

from __future__ import annotations

from typing import Any

from core.advisor.advice import Criteria, Evidence, evidence_from_summary, evidence_moves, missing_evidence

CRITERIA = Criteria(team_skills="nlp_dl", data_changes="static", budget="medium", hardware="gpu", labelled_pairs=2000)


def _cell(correct: float, n: int = 30) -> dict[str, Any]:
    return {"correct": correct, "answerable": n, "n": n}


def _summary(splits: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A saved run's summary: per arm, its correctness on each split (30 questions each)."""
    arms = ("rag", "finetuned", "hybrid")
    return {"arms": {arm: {"all": _cell(0.5, 90)} | {s: _cell(v[arm]) for s, v in splits.items()} for arm in arms}}


# the variant has learnt its training questions (100%) and not the facts (10% reworded): rag reads them (90%)
MEMORISED = {
    "verbatim": {"rag": 0.9, "finetuned": 1.0, "hybrid": 1.0},
    "reworded": {"rag": 0.9, "finetuned": 0.1, "hybrid": 0.9},
    "new": {"rag": 0.9, "finetuned": 0.0, "hybrid": 0.9},
}


def test_verbatim_scores_are_reported_but_move_nothing_while_the_reworded_half_does() -> None:
    scores = evidence_from_summary(_summary(MEMORISED))
    assert {s.split for s in scores} == {"verbatim", "reworded", "new"}
    evidence = Evidence(scores=scores)
    assert evidence.splits == ["reworded", "new"]
    names = [m.name for m in evidence_moves(CRITERIA, evidence) if m.kind == "measurement"]
    assert "correctness on trained facts, reworded" in names and "correctness on new documents" in names
    assert not any("word for word" in n for n in names)
    assert not any("only word for word" in m for m in missing_evidence(CRITERIA, evidence))


def test_a_run_with_only_the_training_questions_word_for_word_says_they_measure_memorisation() -> None:
    only_verbatim = {k: v for k, v in MEMORISED.items() if k != "reworded"}
    evidence = Evidence(scores=evidence_from_summary(_summary(only_verbatim)))
    notes = [m for m in missing_evidence(CRITERIA, evidence) if "only word for word" in m]
    assert len(notes) == 1
    assert "these are the training questions word for word: they measure memorisation" in notes[0]
    assert [m.name for m in evidence_moves(CRITERIA, evidence) if m.kind == "measurement"] == [
        "correctness on new documents"
    ]
