"""When the team says a wrong answer costs a lot, the advisor compares the approaches by the accuracy of the answers
they were sure of: a clear lead moves the advice, the same lead on few answers names the answers needed, a run
without confidence figures says so, and when a wrong answer costs little nothing changes."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.advisor.advice import (
    SURE_NAME,
    ArmScore,
    Criteria,
    Evidence,
    Share,
    SureAnswers,
    advise,
    report_markdown,
    sure_comparison,
    what_would_change,
)
from core.advisor.report_html import report_html
from core.advisor.service import AdvisorService
from core.base.files import write_json_atomic
from core.config import Settings
from core.evaluation.runs import append_row, run_dir
from core.evaluation.scoring import summarise
from core.evaluation.service import EvaluationService
from tests.advisor.test_costs import write_run

# rag 2, hybrid 2, fine-tuning 1 from the answers alone: RAG by the tie-break, so one clear measurement decides
TEAM = Criteria(team_skills="mixed", data_changes="monthly", budget="medium", hardware="gpu", labelled_pairs=500)
COSTLY = replace(TEAM, wrong_answers_costly=True)
# both right on 60-odd of 100 questions: level on correctness, so only the answers they were sure of can separate them
SCORES = (ArmScore("rag", "", 0.60, 100), ArmScore("hybrid", "", 0.62, 100))


def sure(arm: str, right: int, answerable: int, sure_n: int, sure_right: int) -> SureAnswers:
    """An arm's confidence figures as the advisor reads them from a saved run."""
    return SureAnswers(
        arm,
        Share(right, answerable),
        Share(sure_n, answerable),
        Share(sure_right, sure_n),
        Share(sure_n - sure_right, answerable),
        0.8,
        answerable,
    )


def evidence(rag: tuple[int, int], hybrid: tuple[int, int], answerable: int = 100) -> Evidence:
    """A run where rag and hybrid were right on `(right, sure)` of the answers they were sure of."""
    return Evidence(
        SCORES,
        "run test",
        confidence={
            "rag": sure("rag", 60 * answerable // 100, answerable, rag[1], rag[0]),
            "hybrid": sure("hybrid", 62 * answerable // 100, answerable, hybrid[1], hybrid[0]),
        },
    )


CLEAR = evidence(rag=(59, 85), hybrid=(56, 60))


def sure_move(criteria: Criteria, e: Evidence) -> Any:
    return next(m for m in advise(criteria, e).moves if m.name == SURE_NAME)


def test_a_clear_lead_in_the_answers_it_was_sure_of_moves_a_costly_teams_advice() -> None:
    assert advise(TEAM, CLEAR).recommendation == "rag"  # the answers alone, and correctness is level
    advice = advise(COSTLY, CLEAR)
    assert advice.recommendation == "hybrid"
    move = next(m for m in advice.moves if m.name == SURE_NAME)
    assert move.points == {"hybrid": 2.0}
    assert move.reason == (
        "Wrong answers are costly for you: of the answers it was sure of, hybrid was right 56 of 60 (93%, 84–97%), "
        "rag 59 of 85 (69%, 59–78%); hybrid leads rag by 24 points (95% CI +11 to +35, Fisher's exact p < 0.001), "
        "a clear difference."
    )
    assert "accuracy of the answers it was sure of" in advice.conflicts[0]  # the answers alone pointed to RAG


def test_the_same_lead_on_few_answers_moves_nothing_and_names_the_answers_needed() -> None:
    few = evidence(rag=(9, 13), hybrid=(14, 15), answerable=20)  # 69% and 93% again, on 13 and 15 answers
    move = sure_move(COSTLY, few)
    assert move.points == {}
    assert "hybrid leads rag by 24 points (95% CI −5 to +52, Fisher's exact p = 0.15)" in move.reason
    assert "not distinguishable with 15 and 13 answers they were sure of" in move.reason
    # (1.96·√0.333 + 0.842·√0.275)² / 0.241² ≈ 42.7 → 43 sure answers each; rag was sure of 13 of its 20 questions
    # (65%), so 43 / 0.65 ≈ 66.2 → 67 questions
    assert "about 43 sure answers each would be needed to tell a difference of this size" in move.reason
    assert move.reason.endswith("about 67 questions at the share of answers they were sure of. Nothing moved.")
    assert advise(COSTLY, few).recommendation == advise(TEAM, few).recommendation == "rag"


def test_fewer_than_five_sure_answers_are_too_few_to_compare() -> None:
    move = sure_move(COSTLY, evidence(rag=(59, 85), hybrid=(4, 4)))
    assert move.points == {}
    assert "too few to count (under 5 answers it was sure of): hybrid was sure of 4" in move.reason
    assert "nothing to compare" in move.reason


def test_a_run_without_confidence_figures_says_so_in_one_line_and_moves_nothing() -> None:
    bare = replace(CLEAR, confidence={})
    advice = advise(COSTLY, bare)
    moves = [m for m in advice.moves if m.name == SURE_NAME]
    assert len(moves) == 1 and moves[0].points == {} and "\n" not in moves[0].reason
    assert moves[0].reason.startswith("Wrong answers are costly for you, but this run saved no confidence figures")
    assert "Evaluate page" in moves[0].reason
    assert advice.totals == advise(TEAM, bare).totals


def test_with_no_run_at_all_the_costly_answer_adds_nothing_to_what_is_missing() -> None:
    assert advise(COSTLY) == replace(advise(TEAM))  # the missing runs already say to score the modes


@pytest.mark.parametrize("e", [CLEAR, evidence(rag=(9, 13), hybrid=(14, 15), answerable=20)])
def test_when_a_wrong_answer_costs_little_the_advice_is_exactly_as_without_confidence_figures(e: Evidence) -> None:
    assert advise(TEAM, e) == advise(TEAM, replace(e, confidence={}))
    assert all(m.name != SURE_NAME for m in advise(TEAM, e).moves)


def test_what_would_change_names_the_costly_answer_when_it_flips_the_advice() -> None:
    advice = advise(TEAM, CLEAR)
    lines = what_would_change(TEAM, advice, lambda c: advise(c, CLEAR))
    assert "A wrong answer costs little (a user re-asks) → a lot (legal, medical, safety): Hybrid (4 points " in (
        "\n".join(lines)
    )


def test_both_reports_carry_the_answer_and_the_move() -> None:
    advice = advise(COSTLY, CLEAR)
    markdown = report_markdown(COSTLY, CLEAR, advice)
    assert "| a wrong answer costs | a lot (legal, medical, safety) |" in markdown
    assert "| measurement | accuracy of the answers it was sure of |  |  | +2 |" in markdown
    html = report_html(COSTLY, CLEAR, advice, [], None, "")
    assert "<td>a wrong answer costs</td><td>a lot (legal, medical, safety)</td>" in html
    assert "| a wrong answer costs | little (a user re-asks) |" in report_markdown(TEAM, CLEAR, advise(TEAM, CLEAR))


def test_the_comparison_matches_newcombes_published_interval_and_fishers_test() -> None:
    # Newcombe (1998), independent proportions, method 10: 56/70 − 48/80 → +0.0524 to +0.3339
    c = sure_comparison(Share(56, 70), Share(48, 80))
    assert (round(c.low / 100, 4), round(c.high / 100, 4)) == (0.0524, 0.3339)
    # Fisher's exact test of 14/15 against 9/13: the tables no likelier than the one seen, 0.15278
    assert round(sure_comparison(Share(14, 15), Share(9, 13)).p_value, 5) == 0.15278


def write_confident_run(data: Path, run_id: str = "ev-20261201-100000-cccc") -> None:
    """A finished run whose rows give rag right on 59 of the 85 answers it was sure of and hybrid on 56 of 60, both
    right on about 60 of 100 questions."""
    write_run(data, run_id, time.time(), {"rag": [1000.0], "hybrid": [1500.0]})
    plan = {"rag": (85, 59, 1), "hybrid": (60, 56, 6)}  # sure answers, right among them, right among the unsure
    rows = []
    for arm, (sure_n, sure_right, unsure_right) in plan.items():
        for i in range(100):
            unsure = i >= sure_n
            right = i < sure_right or sure_n <= i < sure_n + unsure_right
            rows.append(
                {"i": i, "arm": arm, "question": f"Q{i}?", "answer": f"A{i}", "total_ms": 1000.0}
                | {"correct": right, "unsure": unsure, "confidence": 0.2 if unsure else 0.9}
            )
    folder = run_dir(data, run_id)
    (folder / "rows.jsonl").unlink()
    for row in rows:
        append_row(folder, row)
    write_json_atomic(folder / "summary.json", {**summarise(rows, ["rag", "hybrid"]), "complete": True})


def test_the_service_weighs_the_confidence_a_saved_run_carries(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_confident_run(data)
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded")
    advisor = AdvisorService(data, EvaluationService(settings, None, None, None, None))  # type: ignore[arg-type]
    assert advisor.advise(TEAM).advice.recommendation == "rag"
    advised = advisor.advise(COSTLY)
    assert advised.advice.recommendation == "hybrid"
    assert "hybrid was right 56 of 60 (93%, 84–97%), rag 59 of 85 (69%, 59–78%)" in advised.markdown
    assert advised.to_dict()["criteria"]["wrong_answers_costly"] is True
