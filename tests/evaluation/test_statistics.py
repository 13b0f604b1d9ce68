"""The grid's statistics against values worked out by hand or taken from published worked examples.

z = 1.959964 for 95% (z² = 3.841459) throughout; every expected value below can be redone on a calculator from the
formula named beside it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Sequence

import pytest

from core.base.questions import EvalQuestion
from core.evaluation.scoring import score_answer, summarise
from core.evaluation.statistics import (
    PairedComparison,
    fisher_exact_p,
    mcnemar_exact_p,
    newcombe_independent_interval,
    newcombe_paired_interval,
    paired_comparison,
    paired_comparisons,
    questions_needed,
    smallest_detectable_difference,
    wilson_interval,
    with_intervals,
)

# --- Wilson score interval: centre = (p + z²/2n)/(1 + z²/n), half = z·√(p(1−p)/n + z²/4n²)/(1 + z²/n)


def test_wilson_interval_of_8_of_15() -> None:
    # p = 0.5333; 1 + z²/n = 1.256097; centre = (0.5333 + 0.128049)/1.256097 = 0.526531;
    # half = 1.959964·√(0.016593 + 0.004268)/1.256097 = 0.225362 → 0.3012 to 0.7519
    low, high = wilson_interval(8, 15) or (None, None)
    assert low == pytest.approx(0.3012, abs=1e-4) and high == pytest.approx(0.7519, abs=1e-4)


def test_wilson_interval_of_none_right_starts_at_zero() -> None:
    # 0 of 8: the upper limit is (z²/n)/(1 + z²/n) = 0.480182/1.480182 = 0.3244
    assert wilson_interval(0, 8) == (0.0, pytest.approx(0.3244, abs=1e-4))
    # n of n mirrors it: 8 of 8 is 0.6756 to exactly 1
    assert wilson_interval(8, 8) == (pytest.approx(0.6756, abs=1e-4), 1.0)


def test_wilson_interval_of_no_questions_is_none_and_impossible_counts_are_refused() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(9, 8)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 8, confidence=95)


def test_a_wider_confidence_gives_a_wider_wilson_interval() -> None:
    narrow, wide = wilson_interval(8, 15, 0.80), wilson_interval(8, 15, 0.99)
    assert narrow and wide and wide[0] < narrow[0] and wide[1] > narrow[1]


# --- exact McNemar: 2 · P(X ≤ min(b, c)) for X ~ Binomial(b + c, ½), capped at 1


@pytest.mark.parametrize(
    ("only_a", "only_b", "p_value"),
    [
        (5, 0, 0.0625),  # 2 · 0.5⁵ = 2/32
        (9, 1, 0.021484375),  # 2 · (1 + 10)/1024 = 22/1024
        (1, 9, 0.021484375),  # two-sided: the direction does not matter
        (3, 3, 1.0),  # 2 · 42/64 > 1, capped
        (0, 0, 1.0),  # no question separates the arms
    ],
)
def test_exact_mcnemar_p_value(only_a: int, only_b: int, p_value: float) -> None:
    assert mcnemar_exact_p(only_a, only_b) == pytest.approx(p_value, rel=1e-12)


# --- Newcombe (1998) method 10, worked by hand on a paired table of 15 questions:
#     both right 5, only A right 6, only B right 1, both wrong 3 → A 11/15 = 0.7333, B 6/15 = 0.4000, difference 0.3333
#     Wilson: A 0.4805 to 0.8910, B 0.1982 to 0.6425;  φ = (5·3 − 6·1)/√(11·4·6·9) = 9/48.7442 = 0.18464
#     lower: √(0.25284² − 2·0.18464·0.25284·0.24253 + 0.24253²) = √0.100104 = 0.31639 → 0.3333 − 0.3164 = 0.0169
#     upper: √(0.15769² − 2·0.18464·0.15769·0.20176 + 0.20176²) = √0.053823 = 0.23200 → 0.3333 + 0.2320 = 0.5653


def test_newcombe_paired_interval_on_a_table_worked_by_hand() -> None:
    low, high = newcombe_paired_interval(5, 6, 1, 3)
    assert low == pytest.approx(0.0169, abs=1e-4) and high == pytest.approx(0.5653, abs=1e-4)


def test_newcombe_interval_with_an_empty_margin_uses_no_correlation_and_stays_within_bounds() -> None:
    # every question right for A: A's margin of wrong answers is empty, φ is taken as 0
    low, high = newcombe_paired_interval(3, 5, 0, 0)
    # A 8/8 (0.6756 to 1), B 3/8 = 0.375 (0.1368 to 0.6943): 0.625 − √(0.3244² + 0.3193²) = 0.1698;
    # 0.625 + √(0² + 0.2382²) = 0.8632
    assert low == pytest.approx(0.1698, abs=1e-4) and high == pytest.approx(0.8632, abs=1e-4)
    assert newcombe_paired_interval(4, 0, 0, 0)[0] >= -1 and newcombe_paired_interval(0, 0, 0, 4)[1] <= 1


def test_a_paired_comparison_reads_as_one_sentence() -> None:
    found = paired_comparison("rag", "finetuned", "new", both=200, only_a=60, only_b=20, neither=120)
    assert (found.n, found.a_right, found.b_right, found.difference) == (400, 260, 220, 10.0)
    assert found.sentence() == (
        "rag − finetuned on new documents: +10 points (95% CI +6 to +14), 80 of 400 questions differ, p < 0.001"
    )
    behind = paired_comparison("finetuned", "rag", "all", both=5, only_a=1, only_b=6, neither=3)
    assert behind.sentence() == (
        "finetuned − rag on all questions: −33 points (95% CI −57 to −2), 7 of 15 questions differ, p = 0.12"
    )


def test_a_ten_point_lead_on_15_questions_is_not_clear_but_on_400_paired_questions_it_is() -> None:
    # 15 questions: the nearest lead to 10 points is 2 questions (13 points), both in A's favour
    small = paired_comparison("rag", "finetuned", "seen", both=6, only_a=2, only_b=0, neither=7)
    assert small.difference == pytest.approx(13.33, abs=0.01) and small.low < 0 < small.high
    assert small.p_value == 0.5 and not small.clear
    # 400 questions, 20% of them discordant (60 against 20): the interval is about +6 to +14 points
    large = paired_comparison("rag", "finetuned", "seen", both=200, only_a=60, only_b=20, neither=120)
    assert large.difference == 10.0 and large.low > 0 and large.p_value < 0.001 and large.clear


def test_the_sentence_rounds_half_points_away_from_zero() -> None:
    ahead = paired_comparison("finetuned", "rag", "seen", both=3, only_a=5, only_b=0, neither=0)  # 62.5 points
    assert ahead.sentence().startswith("finetuned − rag on seen facts: +63 points (95% CI +17 to +86)")
    assert (
        paired_comparison("rag", "finetuned", "seen", both=3, only_a=0, only_b=5, neither=0)
        .sentence()
        .startswith("rag − finetuned on seen facts: −63 points")
    )


def test_a_lead_is_clear_only_when_the_interval_and_the_exact_test_agree() -> None:
    # 6 against 1 of 15: Newcombe's interval is +1.7 to +56.5 points, the exact test p = 2·8/128 = 0.125
    split_verdict = paired_comparison("rag", "finetuned", "new", both=5, only_a=6, only_b=1, neither=3)
    assert split_verdict.low > 0 and split_verdict.p_value == 0.125 and not split_verdict.clear
    # a lead for B is clear the same way as a lead for A
    assert paired_comparison("a", "b", "all", both=120, only_a=20, only_b=60, neither=200).clear


def test_a_comparison_is_saved_as_json_with_its_verdict() -> None:
    saved = paired_comparison("rag", "base", "all", both=1, only_a=9, only_b=1, neither=4).to_dict()
    assert json.loads(json.dumps(saved)) == saved
    assert (saved["only_a"], saved["only_b"], saved["p_value"], saved["difference"]) == (9, 1, 0.02148, 53.33)
    assert saved["clear"] is True and saved["sentence"].startswith("rag − base on all questions: +53 points")


# --- paired comparisons from the rows of a run


def _row(arm: str, question: str, split: str, correct: bool | None, error: str = "") -> dict[str, Any]:
    return {"arm": arm, "question": question, "split": split, "correct": correct, "error": error}


def test_paired_comparisons_match_questions_by_text_and_leave_out_unanswerable_and_failed_answers() -> None:
    rows = [
        # rag, in an order that differs from finetuned's: pairs are matched by question, not by position
        _row("rag", "q1", "seen", True),
        _row("rag", "q2", "seen", True),
        _row("rag", "q3", "seen", False),
        _row("rag", "q4", "new", True),
        _row("rag", "q5", "new", True),
        _row("rag", "q6", "new", None),  # unanswerable: no accuracy
        _row("rag", "q7", "new", False, error="engine stopped"),  # never answered
        _row("finetuned", "q3", "seen", True),
        _row("finetuned", "q2", "seen", True),
        _row("finetuned", "q1", "seen", True),
        _row("finetuned", "q5", "new", False),
        _row("finetuned", "q4", "new", False),
        _row("finetuned", "q6", "new", None),
        _row("finetuned", "q7", "new", True),
        _row("finetuned", "q8", "new", True),  # rag has no answer to it
    ]
    found = {c.split: c for c in paired_comparisons(rows, ["rag", "finetuned"])}
    assert list(found) == ["all", "seen", "new"]
    everything = found["all"]
    assert (everything.arm_a, everything.arm_b, everything.n) == ("rag", "finetuned", 5)
    assert (everything.a_right, everything.b_right, everything.only_a, everything.only_b) == (4, 3, 2, 1)
    assert (found["seen"].n, found["seen"].only_a, found["seen"].only_b) == (3, 0, 1)
    assert (found["new"].n, found["new"].only_a, found["new"].only_b) == (2, 2, 0)
    assert found["new"].p_value == 0.5 and found["new"].difference == 100.0


def test_paired_comparisons_cover_every_pair_of_arms_and_skip_a_lone_split() -> None:
    rows = [_row(arm, f"q{i}", "", i % 2 == 0) for arm in ("base", "rag", "hybrid") for i in range(4)]
    found = paired_comparisons(rows)
    assert [(c.arm_a, c.arm_b, c.split) for c in found] == [
        ("base", "rag", "all"),
        ("base", "hybrid", "all"),
        ("rag", "hybrid", "all"),
    ]
    assert all(c.only_a == c.only_b == 0 and c.p_value == 1.0 for c in found)
    # asked for by name, the unsplit questions are compared too; a split without questions is left out
    named = paired_comparisons(rows, ["base", "rag"], splits=["", "new"])
    assert [c.split for c in named] == ["all", "unsplit"]


def test_a_question_asked_twice_pairs_each_answer_in_turn() -> None:
    rows = [
        _row("rag", "same", "new", True),
        _row("rag", "same", "new", False),
        _row("base", "same", "new", True),
        _row("base", "same", "new", True),
    ]
    (only,) = paired_comparisons(rows, ["rag", "base"])
    assert (only.n, only.only_a, only.only_b) == (2, 0, 1)


# --- planning: Connor (1987), n = (z_{1−α/2}·√ψ + z_{power}·√(ψ − δ²))² / δ²


def test_questions_needed_matches_connors_published_worked_example() -> None:
    # Connor 1987 p. 209, as worked in the powerandsamplesize.com McNemar calculator: p10 = 0.05, p01 = 0.45
    # (ψ = 0.5, δ = −0.4), α = 0.05 two-sided, power 0.8 → n = 22.01, 23 pairs
    assert questions_needed(0.5, 0.9, discordant_share=0.5) == 23


def test_questions_needed_worked_by_hand() -> None:
    # δ = 0.1, ψ = 0.3: (1.959964·0.547723 + 0.841621·0.538516)²/0.01 = (1.073517 + 0.453227)²/0.01 = 233.09 → 234
    assert questions_needed(0.6, 0.5, discordant_share=0.3) == 234
    # the arms erring independently: ψ = 0.6·0.5 + 0.5·0.4 = 0.5; (1.385904 + 0.589135)²/0.01 = 390.08 → 391
    assert questions_needed(0.6, 0.5) == 391


def test_questions_needed_refuses_what_cannot_be_planned() -> None:
    with pytest.raises(ValueError, match="equal accuracies"):
        questions_needed(0.7, 0.7)
    with pytest.raises(ValueError, match="discordant share"):
        questions_needed(0.6, 0.5, discordant_share=0.05)  # fewer disagreements than the difference itself


def test_smallest_detectable_difference_of_15_questions() -> None:
    # Put back into Connor's formula at base rate 0.5 (ψ = 0.5 + δ²/2): δ = 0.5357 gives ψ = 0.64349,
    # (1.959964·0.80218 + 0.841621·0.59708)²/0.28697 = 4.3046/0.28697 = 15.0 questions
    assert smallest_detectable_difference(15) == pytest.approx(53.57, abs=0.01)
    assert smallest_detectable_difference(400) == pytest.approx(9.92, abs=0.01)
    # even 0% against 100% (ψ = 1, δ = 1) needs z² = 3.84 questions
    assert smallest_detectable_difference(3) is None and smallest_detectable_difference(4) is not None


def test_smallest_detectable_difference_is_what_questions_needed_asks_for() -> None:
    for n in (8, 15, 50, 200):
        points = smallest_detectable_difference(n)
        assert points is not None
        half = points / 200
        assert questions_needed(0.5 + half, 0.5 - half) == n  # the difference just reached with n questions
        assert questions_needed(0.5 + half * 0.98, 0.5 - half * 0.98) > n


# --- intervals on a grid summary made by the real scorer


def _answer(mode: str, text: str, sources: Sequence[tuple[str, int]] = ()) -> dict[str, Any]:
    return {
        "mode": mode,
        "text": text,
        "sources": [{"file": f, "page": p, "score": 0.5, "text": "a passage"} for f, p in sources],
        "timings": {"first_token_ms": 100.0, "total_ms": 400.0, "tokens": 3, "prompt_tokens": 40},
    }


def _scored_rows() -> list[dict[str, Any]]:
    """15 answerable questions (rag: 8 right, the right page among the passages for 12; base: none right) and
    3 unanswerable ones (rag declines 1, base none)."""
    rows = []
    for i in range(15):
        q = EvalQuestion(f"What is the load limit of rack {chr(65 + i)}?", "15 kg", "manual.pdf", 1, split="seen")
        found = [("manual.pdf", 1)] if i < 12 else [("other.pdf", 3)]
        rows.append(score_answer(q, _answer("rag", "15 kg" if i < 8 else "40 kg", found), k=3))
        rows.append(score_answer(q, _answer("base", "40 kg"), k=3))
    for i in range(3):
        q = EvalQuestion(f"Who painted wall {chr(65 + i)}?", unanswerable=True, split="new")
        rows.append(score_answer(q, _answer("rag", "It is not in the documents." if i == 0 else "Mr Smith"), k=3))
        rows.append(score_answer(q, _answer("base", "Mr Smith"), k=3))
    return rows


def test_with_intervals_adds_a_wilson_interval_to_every_counted_share_of_the_grid() -> None:
    summary = summarise(_scored_rows(), ["rag", "base"])
    before = json.dumps(summary, sort_keys=True)
    out = with_intervals(summary)
    assert json.dumps(summary, sort_keys=True) == before  # the summary given is left as it was
    seen = out["arms"]["rag"]["seen"]
    assert (seen["correct"], seen["correct_n"], seen["answerable"]) == (0.5333, 8, 15)
    assert seen["correct_ci"] == [0.3012, 0.7519]  # 8 of 15, worked above
    assert seen["hit_k_ci"] == [0.5481, 0.9295]  # 12 of 15: centre 0.738835, half 0.190689
    assert seen["refused_answerable_ci"] == [0.0, 0.2039]  # 0 of 15: (3.841459/15)/(1 + 3.841459/15)
    assert seen["refused_unanswerable_ci"] is None  # no unanswerable question in this split
    new = out["arms"]["rag"]["new"]
    assert new["refused_unanswerable"] == 0.3333 and new["refused_unanswerable_ci"] == [0.0615, 0.7923]  # 1 of 3
    assert new["correct_ci"] is None
    base = out["arms"]["base"]["all"]
    assert base["correct_ci"] == [0.0, 0.2039] and base["hit_k_ci"] is None  # base retrieves nothing
    assert out["by_source"]["rag"]["manual.pdf"]["correct_ci"] == [0.3012, 0.7519]
    assert out["intervals"] == {"method": "Wilson score interval", "confidence": 0.95}
    assert json.loads(json.dumps(out)) == out  # saved with the run as it is


def test_paired_comparisons_on_scored_rows_agree_with_the_grid() -> None:
    rows = _scored_rows()
    # the new split holds only unanswerable questions: nothing to compare there
    everything, only = paired_comparisons(rows, ["rag", "base"])
    grid = summarise(rows, ["rag", "base"])["arms"]
    assert (everything.split, only.split, only.n) == ("all", "seen", 15) and everything == replace(only, split="all")
    assert (only.a_right, only.b_right) == (grid["rag"]["seen"]["correct_n"], grid["base"]["seen"]["correct_n"])
    assert isinstance(only, PairedComparison) and only.only_a == 8 and only.p_value == pytest.approx(2 / 256)


def test_two_independent_shares_get_newcombes_published_interval_and_fishers_exact_p() -> None:
    # Newcombe (1998), independent proportions, method 10: 56/70 − 48/80 → +0.0524 to +0.3339
    low, high = newcombe_independent_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # Fisher's exact test, two-sided: 14/15 against 9/13 → 0.15278; a table as likely either way gives 1
    assert round(fisher_exact_p(14, 15, 9, 13), 5) == 0.15278
    assert fisher_exact_p(5, 10, 5, 10) == 1.0
    with pytest.raises(ValueError, match="at least one answer"):
        newcombe_independent_interval(0, 0, 3, 4)
