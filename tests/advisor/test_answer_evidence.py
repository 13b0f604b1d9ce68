"""The advisor reads where a run's answers came from and how sure they were: notes that move no points, the accuracy
of the answers each approach was sure of beside its accuracy, and nothing at all for a run saved before either."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core.advisor.advice import (
    Criteria,
    Evidence,
    advise,
    comparisons_from_summary,
    confidence_from_summary,
    evidence_from_summary,
    report_markdown,
    sources_from_summary,
    sure_rows,
)
from core.advisor.service import AdvisorService
from core.base.files import write_json_atomic
from core.config import Settings
from core.evaluation.answer_sources import diagnosis
from core.evaluation.runs import append_row, run_dir
from core.evaluation.scoring import summarise
from core.evaluation.service import EvaluationService
from tests.advisor.test_costs import write_run

TEAM = Criteria(team_skills="mixed", data_changes="monthly", budget="medium", hardware="gpu", labelled_pairs=500)


def block(right: int, n: int) -> dict[str, Any]:
    return {"n": n, "answerable": n, "correct": right / n}


def grid() -> dict[str, Any]:
    """A two-half grid: finetuned right on 6 of 8 seen facts and on none of 8 new documents."""
    return {
        "rag": {"all": block(10, 16), "seen": block(5, 8), "new": block(5, 8)},
        "finetuned": {"all": block(6, 16), "seen": block(6, 8), "new": block(0, 8)},
        "hybrid": {"all": block(11, 16), "seen": block(6, 8), "new": block(5, 8)},
    }


COUNTS = {
    "rag": {
        "all": {"right_supported": 9, "right_unsupported": 1, "misread": 4, "retrieval_miss": 2, "declined": 0,
                "no_answer": 0},
    },
    "finetuned": {
        "all": {"right": 6, "wrong": 10, "declined": 0, "no_answer": 0},
        "seen": {"right": 6, "wrong": 2, "declined": 0, "no_answer": 0},
        "new": {"right": 0, "wrong": 8, "declined": 0, "no_answer": 0},
    },
}  # fmt: skip


def figures(right: int, sure: int, sure_right: int, answerable: int = 16, auroc: float | None = 0.8) -> dict[str, Any]:
    """Confidence figures as a run saves them (only the counts the advisor reads)."""
    return {
        "answerable": answerable,
        "accuracy": {"k": right, "n": answerable},
        "sure_share": {"k": sure, "n": answerable},
        "selective_accuracy": {"k": sure_right, "n": sure},
        "confidently_wrong": {"k": sure - sure_right, "n": answerable},
        "auroc": auroc,
    }


def evidence(summary: dict[str, Any]) -> Evidence:
    """The evidence the advisor service builds from a saved summary."""
    counts, said = sources_from_summary(summary)
    return Evidence(
        evidence_from_summary(summary),
        "run test",
        None,
        comparisons_from_summary(summary),
        sources=counts,
        diagnosis=said,
        confidence=confidence_from_summary(summary),
    )


def test_finetuned_new_documents_all_wrong_gives_a_note_with_the_counts_and_no_points() -> None:
    summary = {"arms": grid(), "answer_sources": {"counts": COUNTS, "diagnosis": diagnosis(COUNTS)}}
    advice = advise(TEAM, evidence(summary))
    notes = {m.name: m for m in advice.moves if m.name.startswith("where the")}
    finetuned = notes["where the finetuned answers came from"]
    assert "8 of 8 new-document answers came from memory and were wrong" in finetuned.reason
    assert "6 of 8 seen-fact answers" not in finetuned.reason  # the seen half had wrong answers too: 2 of 8
    assert "2 of 8 seen-fact answers came from memory and were wrong" in finetuned.reason
    assert "Only retrieval (rag, hybrid) brings in the facts of documents the variant never saw." in finetuned.reason
    rag = notes["where the rag answers came from"]
    assert rag.reason.startswith("rag: 4 of 6 wrong answers had the answer in a retrieved passage")
    assert "would fix the 4 misread, not a better index" in rag.reason and "would fix the 2 missed" in rag.reason
    # notes weigh nothing: the totals are those of the same grid without them
    assert finetuned.points == rag.points == {}
    assert advice.totals == advise(TEAM, evidence({"arms": grid()})).totals
    assert "where the hybrid answers came from" not in notes  # no counts saved for it


def test_saved_diagnosis_sentences_are_used_as_written() -> None:
    said = {"finetuned": "finetuned: as the run wrote it.", "rag": "rag: as the run wrote it."}
    counts, read = sources_from_summary({"answer_sources": {"counts": COUNTS, "diagnosis": said}})
    assert read == said and counts["finetuned"]["new"]["wrong"] == 8
    report = report_markdown(TEAM, evidence({"arms": grid(), "answer_sources": {"counts": COUNTS,
                                                                               "diagnosis": said}}),
                             advise(TEAM))  # fmt: skip
    assert "## Where the answers came from\n\n- finetuned: as the run wrote it.\n- rag: as the run wrote it." in report


def test_the_report_shows_the_accuracy_of_the_answers_each_approach_was_sure_of_with_its_count() -> None:
    summary = {
        "arms": grid(),
        "confidence": {
            "rag": figures(right=10, sure=8, sure_right=7),
            "finetuned": figures(right=6, sure=12, sure_right=5, auroc=None),
            "base": figures(right=2, sure=3, sure_right=1),
        },
    }
    e = evidence(summary)
    rows = {r["approach"]: r for r in sure_rows(e)}
    assert list(rows) == ["RAG (rag)", "Fine-tuning (finetuned)"]  # base is no approach; hybrid has no figures
    assert rows["RAG (rag)"]["correct"].startswith("10/16 · 62%")
    assert rows["RAG (rag)"]["accuracy of the answers it was sure of"].startswith("7/8 · 88% (")
    assert rows["Fine-tuning (finetuned)"]["wrong with no mark"] == "7 of 16"
    assert rows["Fine-tuning (finetuned)"]["AUROC"] == "–"
    report = report_markdown(TEAM, e, advise(TEAM, e))
    assert "## How sure the answers were" in report
    line = next(x for x in report.splitlines() if x.startswith("| RAG (rag) |"))
    assert "| 10/16 · 62% (" in line and "| 8 of 16 | 7/8 · 88% (" in line and line.endswith("| 1 of 16 | 0.80 |")


def test_no_answer_marked_sure_reads_as_a_dash_not_a_crash() -> None:
    e = evidence({"arms": grid(), "confidence": {"rag": figures(right=10, sure=0, sure_right=0)}})
    assert sure_rows(e)[0]["accuracy of the answers it was sure of"] == "–"


def test_a_run_saved_without_answer_sources_or_confidence_gives_no_note_and_one_line_per_section() -> None:
    old = {"arms": grid()}
    assert sources_from_summary(old) == ({}, {}) and confidence_from_summary(old) == {}
    e = evidence(old)
    advice = advise(TEAM, e)
    assert not any(m.name.startswith("where the") for m in advice.moves)
    assert sure_rows(e) == []
    report = report_markdown(TEAM, e, advice)
    # each section says in one line that the run has none, and why, instead of a table
    sources = report.split("## Where the answers came from\n\n")[1].split("\n\n")[0]
    assert sources.startswith("This run carries no answer-source counts: it was saved without them")
    assert "|" not in sources
    sure = report.split("## How sure the answers were\n\n")[1].split("\n\n")[0]
    assert sure.startswith("This run carries no confidence figures: it was saved without them") and "|" not in sure
    assert "## The scored grid (run test)" in report


def test_a_saved_run_read_by_the_service_carries_its_answer_sources_and_confidence(tmp_path: Path) -> None:
    data, run_id = tmp_path / "data", "ev-20261201-100000-bbbb"
    write_run(data, run_id, time.time(), {"rag": [1000.0] * 5, "finetuned": [400.0] * 5})
    # the answers as scored: rag right from a passage, finetuned wrong on every new-document question; the summary
    # is saved without answer sources or confidence, which the evaluation adds when it loads the run
    rows = [
        {"i": i, "arm": arm, "question": f"Q{i}?", "answer": f"A{i}", "total_ms": 500.0, "split": split}
        | {"correct": arm == "rag" or split == "seen", "passages": [{"contains_reference": arm == "rag"}]}
        for arm in ("rag", "finetuned")
        for i, split in enumerate(("seen", "seen", "new", "new", "new"))
    ]
    (run_dir(data, run_id) / "rows.jsonl").unlink()
    for row in rows:
        append_row(run_dir(data, run_id), row)
    write_json_atomic(
        run_dir(data, run_id) / "summary.json", {**summarise(rows, ["rag", "finetuned"]), "complete": True}
    )
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded")
    advisor = AdvisorService(data, EvaluationService(settings, None, None, None, None))  # type: ignore[arg-type]

    e = advisor.latest_evidence()
    assert e.sources["finetuned"]["new"]["wrong"] == 3
    assert "3 of 3 new-document answers came from memory and were wrong" in e.diagnosis["finetuned"]
    assert (e.confidence["rag"].selective_accuracy.k, e.confidence["rag"].selective_accuracy.n) == (5, 5)
    advised = advisor.advise(TEAM)
    assert any("3 of 3 new-document answers" in m.reason for m in advised.advice.moves)
    report = advised.markdown
    assert "## Where the answers came from" in report
    assert next(x for x in report.splitlines() if x.startswith("| Fine-tuning (finetuned) |")).startswith(
        "| Fine-tuning (finetuned) | 2/5 · 40% (12–77%) | 5 of 5 | 2/5 · 40% (12–77%) | 3 of 5 |"
    )
