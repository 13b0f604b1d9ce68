"""An approach scored with several variants (`hybrid`, `hybrid:NAME`): the advisor weighs the variant the run's paired
comparisons put first, names it with its recipe in its sentences, says whether that pick was clear, and still moves
the recommendation only on a clear lead over another approach.

Grid cells and paired comparisons are made by hand on 40 questions, so every lead and its verdict is known.
"""

from __future__ import annotations

from core.advisor.advice import (
    CLEAR_POINTS,
    ArmScore,
    Criteria,
    Evidence,
    VariantRecipe,
    advise,
    criteria_moves,
    missing_evidence,
)
from core.evaluation.statistics import PairedComparison, paired_comparison

TEAM = Criteria(team_skills="mixed", data_changes="monthly", budget="medium", hardware="gpu", labelled_pairs=500)
RECIPES = {
    "v1": VariantRecipe("v1", "plain", "v1: recipe plain, 30 pairs × 10 epochs, 119 s"),
    "v2": VariantRecipe("v2", "read-passages", "v2: recipe read-passages, 30 pairs × 10 epochs, 140 s"),
}


def cell(arm: str, right: int) -> ArmScore:
    return ArmScore(arm, "", right / 40, 40)


def pair(a: str, b: str, a_right: int, only_a: int, only_b: int) -> PairedComparison:
    """A paired comparison on all 40 questions from A's right answers and the two kinds of disagreement."""
    both = a_right - only_a
    return paired_comparison(a, b, "all", both, only_a, only_b, 40 - both - only_a - only_b)


def evidence(
    scores: tuple[ArmScore, ...], comparisons: tuple[PairedComparison, ...], run_variant: str = ""
) -> Evidence:
    return Evidence(scores, "run test", None, comparisons, run_variant=run_variant, variants=RECIPES)


def criteria_total(approach: str) -> float:
    return sum(m.points.get(approach, 0.0) for m in criteria_moves(TEAM))


def test_the_clearly_better_variant_is_weighed_and_named_with_its_recipe() -> None:
    # the plain arm runs the run's variant v1 and is listed first; hybrid:v2 is right on 34, v1 on 20, rag on 22
    e = evidence(
        (cell("rag", 22), cell("hybrid", 20), cell("hybrid:v2", 34)),
        (pair("hybrid:v2", "hybrid", 34, 15, 1), pair("hybrid:v2", "rag", 34, 13, 1), pair("rag", "hybrid", 22, 4, 2)),
        run_variant="v1",
    )
    picked = e.pick("hybrid")
    assert picked is not None and (picked.arm, picked.others) == ("hybrid:v2", ("hybrid",))
    assert picked.comparison is not None and picked.comparison.clear
    advice = advise(TEAM, e)
    moves = {m.name: m for m in advice.moves}
    assert moves["which hybrid variant"].points == {}  # picking a variant moves nothing by itself
    assert moves["which hybrid variant"].reason.startswith(
        "Of the run's 2 hybrid variants, hybrid with variant v2 (recipe read-passages) is weighed for Hybrid: it leads "
        "hybrid with variant v1 (recipe plain), a clear difference (hybrid:v2 − hybrid on all questions: +35 points"
    )
    correctness = moves["correctness"]
    assert correctness.points == {"hybrid": CLEAR_POINTS}  # the picked variant's clear lead over rag
    assert correctness.reason.startswith(
        "Measured hybrid with variant v2 (recipe read-passages) 85%, rag 55% (40 questions): hybrid with variant v2 "
        "(recipe read-passages) leads rag by 30 points, a clear difference (hybrid:v2 − rag on all questions"
    )
    assert advice.recommendation == "hybrid"
    # the approach was scored: nothing asks for a hybrid mode, though no arm is called plain "hybrid:…" alone
    assert not any("no `hybrid` mode" in m for m in missing_evidence(TEAM, e))


def test_a_lead_that_is_not_clear_picks_the_variant_but_moves_nothing() -> None:
    # hybrid:v2 right on 26, hybrid:v1 on 21 (7 against 2 disagreements), rag on 22 (6 against 2): none is clear
    e = evidence(
        (cell("rag", 22), cell("hybrid:v1", 21), cell("hybrid:v2", 26)),
        (
            pair("hybrid:v2", "hybrid:v1", 26, 7, 2),
            pair("hybrid:v2", "rag", 26, 6, 2),
            pair("rag", "hybrid:v1", 22, 3, 2),
        ),
    )
    picked = e.pick("hybrid")
    assert picked is not None and picked.arm == "hybrid:v2"
    assert picked.comparison is not None and not picked.comparison.clear
    advice = advise(TEAM, e)
    moves = {m.name: m for m in advice.moves}
    note = moves["which hybrid variant"].reason
    assert note.startswith(
        "Of the run's 2 hybrid variants, hybrid with variant v2 (recipe read-passages) is weighed for Hybrid, as it "
        "was right more often, but its lead over hybrid with variant v1 (recipe plain) is not clear (hybrid:v2 − "
        "hybrid:v1 on all questions"
    )
    assert note.endswith("either may be the better variant.")
    correctness = moves["correctness"]
    assert correctness.points == {}  # 65% against 55% on 40 questions, 6 against 2: not clear, so no points
    assert correctness.reason.startswith(
        "Measured hybrid with variant v2 (recipe read-passages) 65%, rag 55% (40 questions): hybrid with variant v2 "
        "(recipe read-passages) leads rag by 10 points, not distinguishable with 40 questions"
    )
    assert advice.totals["hybrid"] == criteria_total("hybrid") and advice.totals["rag"] == criteria_total("rag")


def test_one_variant_per_approach_reads_as_before() -> None:
    e = evidence((cell("rag", 22), cell("hybrid", 30)), (pair("hybrid", "rag", 30, 10, 2),), run_variant="v1")
    advice = advise(TEAM, e)
    assert not any(m.name.startswith("which ") for m in advice.moves)
    assert next(m for m in advice.moves if m.name == "correctness").reason.startswith("Measured hybrid 75%, rag 55%")
