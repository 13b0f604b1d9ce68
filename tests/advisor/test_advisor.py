"""The advisor's rules on fixed inputs: criteria alone, evidence that agrees, evidence that contradicts, nothing run
yet."""

from __future__ import annotations

import pytest

from core.advisor.advice import AdvisorInputError, ArmScore, Criteria, Evidence, UpdateEvidence, advise

ML_TEAM_STATIC_FAST = Criteria(
    team_skills="nlp_dl", data_changes="static", budget="medium", hardware="gpu", labelled_pairs=2000, max_answer_s=0.5
)
APP_TEAM_DAILY_SMALL = Criteria(
    team_skills="app_engineering", data_changes="daily", budget="small", hardware="cpu", labelled_pairs=0
)


def grid(
    rag: float, finetuned: float, hybrid: float, n: int = 20, p95: dict[str, float] | None = None
) -> tuple[ArmScore, ...]:
    """A two-split grid where every arm scores the same on both splits."""
    p95 = p95 or {}
    return tuple(
        ArmScore(arm, split, share, n, p95_ms=p95.get(arm))
        for arm, share in (("rag", rag), ("finetuned", finetuned), ("hybrid", hybrid), ("base", 0.05))
        for split in ("seen", "new")
    )


def test_static_data_ml_team_and_fast_answers_lean_to_fine_tuning() -> None:
    advice = advise(ML_TEAM_STATIC_FAST)
    assert advice.recommendation == advice.from_criteria == "finetuning"
    assert advice.totals["finetuning"] > advice.totals["hybrid"] > advice.totals["rag"]
    by_name = {m.name: m for m in advice.moves}
    assert (
        by_name["data changes"].favours
        == by_name["team skills"].favours
        == by_name["response time"].favours
        == "finetuning"
    )
    assert advice.from_evidence is None and "answers alone" in advice.summary


def test_dynamic_data_and_a_small_budget_lean_to_rag() -> None:
    advice = advise(APP_TEAM_DAILY_SMALL)
    assert advice.recommendation == "rag"
    by_name = {m.name: m for m in advice.moves}
    assert by_name["data changes"].points == {"rag": 3, "hybrid": 1}
    assert by_name["budget"].favours == "rag" and "no training compute" in by_name["budget"].reason
    # the same data and budget lean to RAG even for an ML team
    assert (
        advise(
            Criteria(team_skills="nlp_dl", data_changes="daily", budget="small", hardware="gpu", labelled_pairs=500)
        ).recommendation
        == "rag"
    )


def test_no_evidence_lists_the_runs_that_are_missing() -> None:
    advice = advise(APP_TEAM_DAILY_SMALL, Evidence())
    assert not [m for m in advice.moves if m.kind == "measurement"]
    assert any("No scored grid run" in m and "python -m core eval" in m for m in advice.missing)
    assert any("document-update test" in m and "update-test" in m for m in advice.missing)
    partial = Evidence(scores=tuple(ArmScore(a, "", 0.5, 20) for a in ("base", "rag")))
    missing = advise(APP_TEAM_DAILY_SMALL, partial).missing
    assert any("no `finetuned` mode" in m for m in missing) and any("no `hybrid` mode" in m for m in missing)
    assert any("new documents" in m for m in missing)


def test_evidence_that_contradicts_the_answers_is_reported_as_such() -> None:
    # Stated: fine-tuning. Measured: the variant answers far worse than RAG, misses the speed target, and costs
    # 100x more to update than re-indexing.
    evidence = Evidence(
        scores=grid(rag=0.80, finetuned=0.20, hybrid=0.60, p95={"rag": 400.0, "finetuned": 900.0, "hybrid": 1200.0}),
        run="run-1",
        update=UpdateEvidence(
            reindex_s=2.0, retrain_s=200.0, retrain_estimated=False, current_after={"rag": 1.0, "finetuned": 0.0}, n=6
        ),
    )
    criteria = Criteria(
        team_skills="nlp_dl",
        data_changes="weekly",
        budget="large",
        hardware="gpu",
        labelled_pairs=2000,
        max_answer_s=0.5,
    )
    advice = advise(criteria, evidence)
    assert advice.from_criteria == "finetuning"
    assert advice.from_evidence == "rag"
    assert any("Your answers point to Fine-tuning, but the measurements favour RAG" in c for c in advice.conflicts)
    assert any("RAG measured 0.4 s here for 95% of its answers" in c for c in advice.conflicts)
    measured = {m.name: m for m in advice.moves if m.kind == "measurement"}
    assert measured["correctness on seen facts"].points == {"rag": 2.0}
    assert measured["response time"].points["finetuning"] == -2.0 and measured["response time"].points["rag"] == 1.0
    assert (
        "100× more" in measured["re-index vs re-train"].reason and "recorded" in measured["re-index vs re-train"].reason
    )
    assert advice.recommendation == "rag"  # the measurements outweigh the stated preferences here
    assert "measurements favour RAG" in advice.summary


def test_evidence_that_agrees_is_not_called_a_conflict() -> None:
    evidence = Evidence(scores=grid(rag=0.30, finetuned=0.90, hybrid=0.85))
    advice = advise(ML_TEAM_STATIC_FAST, evidence)
    assert advice.recommendation == advice.from_criteria == advice.from_evidence == "finetuning"
    assert advice.conflicts == []
    assert "agree" in advice.summary


def test_level_or_tiny_measurements_move_nothing() -> None:
    level = advise(APP_TEAM_DAILY_SMALL, Evidence(scores=grid(rag=0.50, finetuned=0.49, hybrid=0.48)))
    assert all(not m.points for m in level.moves if m.kind == "measurement") and level.from_evidence is None
    tiny = advise(APP_TEAM_DAILY_SMALL, Evidence(scores=grid(rag=0.0, finetuned=1.0, hybrid=1.0, n=3)))
    assert not [m for m in tiny.moves if m.kind == "measurement"]
    assert any("too few" in m for m in tiny.missing)


def test_static_data_makes_the_update_cost_move_nothing() -> None:
    update = UpdateEvidence(reindex_s=2.0, retrain_s=130.0, retrain_estimated=True, n=6)
    advice = advise(ML_TEAM_STATIC_FAST, Evidence(update=update))
    (move,) = [m for m in advice.moves if m.name == "re-index vs re-train"]
    assert not move.points and "estimated" in move.reason and "paid once" in move.reason


@pytest.mark.parametrize(
    "bad", [dict(team_skills="wizards"), dict(budget="huge"), dict(labelled_pairs=-1), dict(max_answer_s=0)]
)
def test_bad_inputs_say_what_is_allowed(bad: dict) -> None:
    with pytest.raises(AdvisorInputError) as err:
        Criteria(**bad)
    assert any(word in str(err.value) for word in ("one of", "negative", "positive"))


def test_a_saved_grid_summary_and_update_test_become_evidence() -> None:
    from core.advisor.advice import evidence_from_summary, update_evidence_from_result

    def block(correct: float, n: int, p50: int, p95: int) -> dict[str, float]:
        return {"n": n, "answerable": n, "correct": correct, "total_p50_ms": p50, "total_p95_ms": p95}

    summary = {
        "arms": {
            "rag": {
                "all": block(0.5, 30, 1900, 2500),
                "seen": block(0.4, 15, 1800, 2400),
                "new": block(0.6, 15, 2000, 2600),
            },
            "finetuned": {
                "all": block(0.5, 30, 300, 500),
                "seen": block(1.0, 15, 300, 450),
                "new": block(0.0, 15, 310, 500),
            },
            "base": {"all": block(0.1, 10, 200, 300), "unsplit": block(0.1, 10, 200, 300)},
        }
    }
    cells = {(s.arm, s.split): s for s in evidence_from_summary(summary)}
    assert set(cells) == {("rag", "seen"), ("rag", "new"), ("finetuned", "seen"), ("finetuned", "new"), ("base", "")}
    assert (cells[("finetuned", "new")].correct, cells[("finetuned", "new")].n, cells[("finetuned", "new")].p95_ms) == (
        0.0,
        15,
        500.0,
    )

    saved = {
        "created": 0,
        "reindex": {"seconds": 2.5},
        "retrain": {"seconds": 130.0, "estimated": False},
        "questions": [{}] * 6,
        "summary": {
            "rag": {"before": {"old": 5, "new": 0, "n": 6}, "after": {"old": 0, "new": 6, "n": 6}},
            "finetuned": {"before": {"old": 6, "new": 0, "n": 6}, "after": {"old": 6, "new": 0, "n": 6}},
        },
    }
    update = update_evidence_from_result(saved)
    assert update is not None and (update.reindex_s, update.retrain_s, update.retrain_estimated, update.n) == (
        2.5,
        130.0,
        False,
        6,
    )
    assert update.current_after == {"rag": 1.0, "finetuned": 0.0}


def test_the_markdown_report_carries_the_grid_and_update_numbers() -> None:
    from core.advisor.advice import report_markdown

    evidence = Evidence(
        scores=grid(rag=0.8, finetuned=0.2, hybrid=0.6, p95={"rag": 2400.0}),
        run="ev-20261125-140000-abcd",
        update=UpdateEvidence(reindex_s=2.0, retrain_s=200.0, retrain_estimated=True, current_after={"rag": 1.0}, n=6),
    )
    advice = advise(APP_TEAM_DAILY_SMALL, evidence)
    text = report_markdown(APP_TEAM_DAILY_SMALL, evidence, advice)
    assert text.startswith("# domainchat advice: RAG")
    assert "| rag | seen facts | 80% | 20 |  | 2.4 |" in text and "| finetuned | new documents | 20% | 20 |" in text
    assert (
        "| seconds to re-train the variant (estimated) | 200 |" in text
        and "| seconds to index the changed document | 2.0 |" in text
    )
    assert f"| **total** | | **{advice.totals['rag']:g}** |" in text
