"""Scoring answers into rows and rows into the grid, on hand-made answers with values worked out by hand."""

from __future__ import annotations

import json

import pytest

from core.base.questions import EvalQuestion
from core.evaluation.scoring import block, grid_rows, score_answer, summarise

PASSAGE_OK = "Do not place more than 15 kg on the open door of the dishwasher."
PASSAGE_OTHER = "Children under 3 years must be kept away unless supervised."
Q_DOOR = EvalQuestion("What is the maximum weight on the open door?", "15 kg", "manual.pdf", 1, split="seen")
Q_NONE = EvalQuestion("Who won the 1998 chess olympiad?", "", unanswerable=True, split="new")


def answer(
    mode: str,
    text: str,
    sources: list[tuple[str, int, str]] = (),
    cited: list[int] = (),
    first: float = 100.0,
    total: float = 400.0,
) -> dict:
    return {
        "mode": mode,
        "engine": "embedded",
        "model": "m",
        "text": text,
        "cited": list(cited),
        "sources": [{"file": f, "page": p, "score": 0.5, "text": t} for f, p, t in sources],
        "timings": {"first_token_ms": first, "total_ms": total, "tokens": 5, "prompt_tokens": 50},
    }


def test_a_correct_cited_rag_answer() -> None:
    row = score_answer(
        Q_DOOR, answer("rag", "15 kg [2]", [("manual.pdf", 2, PASSAGE_OTHER), ("manual.pdf", 1, PASSAGE_OK)], [2]), k=3
    )
    assert (row["correct"], row["contains"], row["f1"], row["refused"]) == (True, True, 1.0, False)
    assert (row["rank"], row["hit_1"], row["hit_k"], row["rr"]) == (2, False, True, 0.5)
    assert row["cites_reference"] is True and row["unsupported_citation"] is False
    assert [p["contains_reference"] for p in row["passages"]] == [False, True]
    assert row["split"] == "seen" and row["prompt_tokens"] == 50 and row["answer_tokens"] == 5


def test_a_wrong_answer_citing_a_passage_that_does_not_support_it() -> None:
    row = score_answer(Q_DOOR, answer("rag", "20 kg [1]", [("manual.pdf", 1, PASSAGE_OK)], [1]), k=3)
    assert row["correct"] is False and row["containment_reason"] == "missing"
    assert row["unsupported_citation"] is True  # "20" is not in the passage
    assert row["cites_reference"] is True  # the cited passage does hold the reference, the answer misread it


def test_base_arm_has_no_retrieval_scores_and_a_list_of_candidates_is_wrong() -> None:
    row = score_answer(Q_DOOR, answer("base", "10 kg, 15 kg or 20 kg"), k=3)
    assert row["correct"] is False and row["contains"] is True and row["containment_reason"] == "competing number"
    assert row["hit_k"] is None and row["rank"] is None and row["cites_reference"] is None


def test_unanswerable_question_scores_the_refusal_only() -> None:
    refused = score_answer(Q_NONE, answer("rag", "I could not find this in the documents."), k=3)
    made_up = score_answer(Q_NONE, answer("rag", "Garry Kasparov [1]", [("manual.pdf", 1, PASSAGE_OK)], [1]), k=3)
    assert refused["refused"] is True and refused["correct"] is None and refused["f1"] is None
    assert (
        made_up["refused"] is False and made_up["unsupported_citation"] is True and made_up["cites_reference"] is None
    )


def test_block_known_values() -> None:
    rows = [
        score_answer(
            Q_DOOR, answer("rag", "15 kg [1]", [("manual.pdf", 1, PASSAGE_OK)], [1], first=100, total=300), k=3
        ),
        score_answer(
            Q_DOOR, answer("rag", "20 kg [1]", [("manual.pdf", 1, PASSAGE_OK)], [1], first=200, total=500), k=3
        ),
        score_answer(Q_DOOR, answer("rag", "I could not find this in the documents."), k=3),
        score_answer(Q_NONE, answer("rag", "I could not find this in the documents.", first=50, total=60), k=3),
    ]
    b = block(rows)
    assert (b["n"], b["answerable"], b["unanswerable"]) == (4, 3, 1)
    assert b["correct"] == pytest.approx(1 / 3, abs=1e-4) and b["correct_n"] == 1
    assert b["f1"] == pytest.approx(0.5)  # 1.0, "20 kg" vs "15 kg" 0.5, refusal 0.0 -> 1.5 / 3
    assert (
        b["retrieval_n"] == 3
        and b["hit_1"] == pytest.approx(2 / 3, abs=1e-4)
        and b["mrr"] == pytest.approx(2 / 3, abs=1e-4)
    )
    assert b["citing_n"] == 2 and b["cites_reference"] == 1.0 and b["unsupported_citations"] == 1
    assert b["refused_unanswerable"] == 1.0 and b["refused_answerable"] == pytest.approx(1 / 3, abs=1e-4)
    # first token 100, 200, 100, 50 -> sorted 50 100 100 200, p50 = 100; total 300 500 400 60 -> p50 = (300 + 400) / 2
    assert b["first_token_p50_ms"] == 100.0 and b["total_p50_ms"] == 350.0


def test_summary_per_arm_split_and_source_and_grid_rows() -> None:
    rows = [
        score_answer(Q_DOOR, answer("base", "15 kg"), k=3),
        score_answer(Q_NONE, answer("base", "Kasparov"), k=3),
        score_answer(Q_DOOR, answer("rag", "15 kg [1]", [("manual.pdf", 1, PASSAGE_OK)], [1]), k=3),
        score_answer(Q_NONE, answer("rag", "I could not find this in the documents."), k=3),
    ]
    s = summarise(rows, ["base", "rag"])
    assert set(s["arms"]) == {"base", "rag"} and set(s["arms"]["rag"]) == {"all", "seen", "new"}
    assert s["arms"]["base"]["seen"]["correct"] == 1.0 and s["arms"]["base"]["new"]["refused_unanswerable"] == 0.0
    assert s["arms"]["rag"]["new"]["refused_unanswerable"] == 1.0
    assert set(s["by_source"]["rag"]) == {"manual.pdf", "(no source)"}
    flat = grid_rows(s)
    lone = grid_rows(summarise([score_answer(Q_DOOR, answer("base", "15 kg"), k=3)]))
    assert [(r.arm, r.split) for r in lone] == [("base", "all")]  # one split only: its row would repeat "all"
    assert [(r.arm, r.split) for r in flat] == [
        ("base", "all"),
        ("base", "seen facts"),
        ("base", "new documents"),
        ("rag", "all"),
        ("rag", "seen facts"),
        ("rag", "new documents"),
    ]


def test_an_answer_flagged_not_supported_counts_as_declined_but_not_as_refused() -> None:
    flagged = dict(answer("rag", "Garry Kasparov", [("manual.pdf", 1, PASSAGE_OK)]), flags=["unsupported"])
    rows = [
        score_answer(Q_NONE, flagged, k=3),
        score_answer(Q_NONE, answer("rag", "Garry Kasparov"), k=3),
        score_answer(Q_DOOR, dict(answer("rag", "20 kg"), flags=["unsupported"]), k=3),
    ]
    assert rows[0]["refused"] is False and rows[0]["flagged"] is True and rows[0]["declined"] is True
    assert rows[1]["declined"] is False
    b = block(rows)
    assert b["refused_unanswerable"] == 0.0 and b["declined_unanswerable"] == 0.5
    assert b["flagged_answerable"] == 1.0 and b["refused_answerable"] == 0.0


def test_a_passage_from_any_page_that_holds_the_answer_counts_as_the_right_page() -> None:
    from core.base.questions import read_questions
    from core.evaluation.metrics import reference_rank

    (q,) = read_questions(
        '{"question": "Dose?", "answer": "200 mg", "source": "label.pdf", "page": 9, "pages": [1, 9]}\n', "q.jsonl"
    )
    assert q.pages == (1, 9) and json.loads(json.dumps(q.to_record()))["pages"] == [1, 9]
    found = [("label.pdf", 4), ("label.pdf", 1), ("label.pdf", 9)]
    assert reference_rank(found, q.source, q.page, q.pages) == 2
    assert reference_rank(found, q.source, q.page) == 3  # without the list only the stated page counts
