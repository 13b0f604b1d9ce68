"""The confidence figures against values worked out by hand, and the calibration fit: deterministic, and right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.chat.confidence import ALONE_FEATURES, PASSAGE_FEATURES, PRIOR, judge_answer, load_calibration
from core.evaluation.calibration import calibration_to_dict, fit_calibration, fit_logistic, rescored
from core.evaluation.confidence_metrics import auroc, confidence_figures, figures_by_arm, reliability


def row(correct: bool | None, confidence: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "arm": "rag",
        "unanswerable": correct is None,
        "correct": correct,
        "confidence": confidence,
        "unsure": confidence is not None and confidence < 0.5,
        "refused": False,
        "no_answer": False,
        "flagged": False,
        **extra,
    }


def test_auroc_counts_the_pairs_a_right_answer_ranks_above_and_ties_as_half() -> None:
    # right 0.9, 0.6, 0.4; wrong 0.6, 0.2: pairs (9 > 6, 9 > 2, 6 = 6 → ½, 6 > 2, 4 < 6, 4 > 2) = 4.5 of 6
    assert auroc([0.9, 0.6, 0.4, 0.6, 0.2], [True, True, True, False, False]) == pytest.approx(4.5 / 6)
    assert auroc([0.1, 0.9], [True, False]) == 0.0
    assert auroc([0.3, 0.3], [True, True]) is None  # no wrong answer: nothing to rank against


def test_the_figures_of_one_arm_match_the_hand_count() -> None:
    rows = [
        row(True, 0.9),  # right, sure
        row(True, 0.8),  # right, sure
        row(True, 0.3),  # right, marked unsure
        row(False, 0.7),  # wrong, sure: confidently wrong
        row(False, 0.2),  # wrong, unsure
        row(False, 0.9, flagged=True),  # wrong, but flagged "not supported": not confidently wrong
        row(False, None, refused=True),  # refused an answerable question: no confidence, not confidently wrong
        row(None, None, refused=True),  # unanswerable: outside every answerable denominator
    ]
    f = confidence_figures(rows)
    assert f.answerable == 7
    assert (f.accuracy.k, f.accuracy.n) == (3, 7)
    assert (f.sure_share.k, f.sure_share.n) == (3, 7)
    assert (f.selective_accuracy.k, f.selective_accuracy.n) == (2, 3)
    assert (f.confidently_wrong.k, f.confidently_wrong.n) == (1, 7)
    assert (f.right_marked_unsure.k, f.right_marked_unsure.n) == (1, 3)
    # six confidences: right 0.9, 0.8, 0.3 against wrong 0.7, 0.2, 0.9 → 2.5 + 2 + 1 (0.9 = 0.9 is ½) = 5.5 of 9
    assert f.auroc == pytest.approx(5.5 / 9) and f.auroc_n == 6
    out = f.to_dict()
    assert out["selective_accuracy"]["share"] == pytest.approx(0.6667, abs=1e-4)
    low, high = out["selective_accuracy"]["ci"]
    assert low < 2 / 3 < high


def test_the_reliability_bands_count_their_answers_and_the_share_right() -> None:
    bands = reliability([0.1, 0.15, 0.5, 0.95, 1.0], [False, True, True, True, True])
    assert [(b.low, b.n) for b in bands] == [(0.0, 2), (0.2, 0), (0.4, 1), (0.6, 0), (0.8, 2)]
    assert bands[0].right == 0.5 and bands[0].mean_confidence == 0.125 and bands[4].right == 1.0


def test_figures_are_given_per_arm() -> None:
    rows = [row(True, 0.9), {**row(False, 0.8), "arm": "base"}]
    by_arm = figures_by_arm(rows)
    assert list(by_arm) == ["rag", "base"]
    assert by_arm["base"].confidently_wrong.k == 1 and by_arm["rag"].confidently_wrong.k == 0


def test_the_logistic_fit_recovers_a_known_direction_and_is_deterministic() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(size=(400, 2))
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-(6 * x[:, 0] - 3)))).astype(float)
    w1, b1 = fit_logistic(x, y, l2=0.01)
    w2, b2 = fit_logistic(x, y, l2=0.01)
    assert np.array_equal(w1, w2) and b1 == b2
    assert 4 < w1[0] < 8 and abs(w1[1]) < 1.0 and -4.5 < b1 < -1.5


def _signal_rows() -> list[dict[str, Any]]:
    """Rows whose rightness follows the fit of the answer's sentence, as the real runs' do."""
    rows = []
    for i in range(40):
        fit = (i % 10) / 9
        right = fit > 0.45 if i % 7 else fit <= 0.45  # mostly, not always: a fit that is not perfect
        signals = {f: PRIOR.passages.means[k] for k, f in enumerate(PASSAGE_FEATURES)} | {"fit": fit}
        rows.append(row(right, 0.5, signals=signals | {"type_fit": 0.5, "length": 0.1, "echo": 0.0}))
        alone = {"type_fit": 1.0 if right else 0.0, "length": 0.2, "echo": 0.0, "token_mean": 0.6, "token_min": 0.2}
        rows.append({**row(right, 0.5, signals=alone), "arm": "base"})
    return rows


def test_a_calibration_fitted_on_rows_is_deterministic_reloads_and_ranks_by_its_signal(tmp_path: Path) -> None:
    rows = _signal_rows()
    first = calibration_to_dict(fit_calibration(rows, {"runs": ["r1"]}))
    again = calibration_to_dict(fit_calibration(rows, {"runs": ["r1"]}))
    assert first == again
    assert first["rows"] == {"passages": 40, "alone": 40} and "logprobs" in first["signals_missing"]
    weights = dict(zip(first["models"]["passages"]["features"], first["models"]["passages"]["coefficients"]))
    # the signal the rows follow weighs the most (the others are constant in these rows)
    assert weights["fit"] > 0.5 and max(weights, key=lambda f: abs(weights[f])) == "fit"
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(first), encoding="utf-8")
    loaded = load_calibration(path)
    assert loaded.alone.features == ALONE_FEATURES
    judged = rescored(rows, loaded, 0.5)
    assert confidence_figures([r for r in judged if r["arm"] == "rag"]).auroc > 0.7
    text = judge_answer("What is it?", "42", ["It is 42."], calibration=loaded)
    assert text.confidence is not None


def test_rows_without_every_signal_of_a_model_are_not_fitted_on() -> None:
    rows = _signal_rows()
    # a run recorded before the token signals existed (or on an engine that gives none): its rows lack them
    older = [{**r, "signals": {k: v for k, v in r["signals"].items() if not k.startswith("token")}} for r in rows]
    fitted = calibration_to_dict(fit_calibration(rows + older))
    assert fitted["rows"] == {"passages": 40, "alone": 40}
    assert calibration_to_dict(fit_calibration(rows)) == fitted  # the same fit as on the complete rows alone


def test_too_few_rows_keep_the_prior() -> None:
    assert fit_calibration(_signal_rows()[:6]).passages is PRIOR.passages


def test_a_scored_row_keeps_the_answers_confidence_its_unsure_mark_and_the_signals_it_was_judged_on() -> None:
    from core.base.questions import EvalQuestion
    from core.chat.answers import Answer
    from core.evaluation.scoring import score_answer

    answer = Answer("What is the maximum weight on the open door?", "15 kg", "rag", "embedded", "m", flags=["unsure"])
    answer.confidence, answer.signals = 0.31, {"fit": 0.4, "type_fit": 1.0}
    row = score_answer(EvalQuestion(answer.question, "15 kg", "manual.pdf", 1), answer.to_dict(), 3)
    assert (row["confidence"], row["unsure"], row["signals"]) == (0.31, True, {"fit": 0.4, "type_fit": 1.0})
    assert row["correct"] and not row["flagged"]
    refused = score_answer(EvalQuestion("Who?", "", unanswerable=True), {"mode": "rag", "text": "Not found."}, 3)
    assert refused["confidence"] is None and refused["unsure"] is False and refused["signals"] == {}
