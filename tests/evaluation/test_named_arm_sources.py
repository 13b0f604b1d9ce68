"""A named hybrid arm (`hybrid:NAME`) is diagnosed as hybrid is: its answers' retrieval categories give the retriever's
and the reader's sentence, and a run scoring it gets its summary (the sentence once raised KeyError on 'wrong')."""

from __future__ import annotations

from core.evaluation.runner import with_statistics
from core.evaluation.scoring import summarise


def test_a_named_hybrid_arms_summary_says_who_missed_its_wrong_answers() -> None:
    rows = [
        {"i": i, "arm": "hybrid:passages-ft", "question": f"Q{i}?", "reference": "15 kg", "answer": a, "split": "new"}
        | {"correct": ok, "declined": False, "passages": [{"contains_reference": held}]}
        for i, (a, ok, held) in enumerate([("15 kg", True, True), ("40 kg", False, True), ("9 kg", False, False)])
    ]
    summary = with_statistics(summarise(rows, ["hybrid:passages-ft"]), rows, ["hybrid:passages-ft"])
    counts = summary["answer_sources"]["counts"]["hybrid:passages-ft"]["all"]
    assert (counts["right_supported"], counts["misread"], counts["retrieval_miss"]) == (1, 1, 1)
    assert summary["answer_sources"]["diagnosis"]["hybrid:passages-ft"] == (
        "hybrid:passages-ft: 1 of 2 wrong answers had the answer in a retrieved passage — the model misread it; in the "
        "other 1 no retrieved passage held it — the retriever missed it."
    )
