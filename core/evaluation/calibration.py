"""Fitting the answer confidence (core/chat/confidence.py) on the rows of evaluation runs.

Each scored row carries the signals its answer was judged on (`signals`) and whether it was right (`correct`). Two
L2-penalised logistic regressions are fitted by Newton's method (deterministic: same rows, same coefficients): one
on the answers read from passages (rag, hybrid), one on the answers of the model alone (base, finetuned). Only
answerable questions that got an answer (not refused, not empty) are used: a refusal has no confidence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence

import numpy as np

from core.chat.confidence import ALONE_FEATURES, PASSAGE_FEATURES, PRIOR, Calibration, LogisticModel
from core.chat.service import RETRIEVAL_MODES
from core.evaluation.confidence_metrics import answered
from core.evaluation.runs import split_arm

# penalty on the weights (not the intercept): ~85 answers per fit and sixteen signals would otherwise over-fit; held
# out (each set judged by the fit on the other two), 3 ranked the answers better than 1 (AUROC 0.85 against 0.84)
L2 = 3.0
NEWTON_STEPS = 100
SIGNALS_MISSING = (
    "token probabilities (token_mean, token_min) where an engine gives none: the embedded engine always records them; "
    "an OpenAI-compatible server or Ollama only when it returns logprobs. Without them an answer's two signals are "
    "weighed at the fitting average"
)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = NEWTON_STEPS) -> tuple[np.ndarray, float]:
    """Weights and intercept of an L2-penalised logistic regression of `y` (0/1) on `x`, by Newton's method."""
    n, d = x.shape
    design = np.hstack([np.ones((n, 1)), x])
    penalty = np.eye(d + 1) * l2
    penalty[0, 0] = 0.0  # the intercept is not shrunk: it carries the base rate
    beta = np.zeros(d + 1)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (p - y) + penalty @ beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty + np.eye(d + 1) * 1e-9
        step = np.linalg.solve(hessian, gradient)
        beta = beta - step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta[1:], float(beta[0])


def training_rows(
    rows: Sequence[Mapping[str, Any]], from_passages: bool, features: Sequence[str] = ()
) -> list[Mapping[str, Any]]:
    """The rows a model is fitted on: answerable, answered, in the arms of its kind, with every one of `features`
    among their signals (a row from a run made before a signal existed, or from an engine that gives no token
    probabilities, would teach the model a made-up value)."""
    return [
        r
        for r in rows
        if not r.get("unanswerable")
        and answered(r)
        and r.get("signals")
        and all(f in r["signals"] for f in features)
        and r.get("correct") is not None
        and (split_arm(str(r.get("arm", "")))[0] in RETRIEVAL_MODES) == from_passages
    ]


def fit_model(rows: Sequence[Mapping[str, Any]], features: Sequence[str], prior: LogisticModel) -> LogisticModel:
    """A logistic model of `correct` on `features` of the rows' signals; the prior when the rows cannot fit one."""
    y = np.array([1.0 if r.get("correct") else 0.0 for r in rows])
    if len(rows) < 10 or y.min(initial=1.0) == y.max(initial=0.0):
        return prior  # too few rows, or all right / all wrong: nothing to tell apart
    x = np.array([[float(r["signals"][f]) for f in features] for r in rows])
    weights, intercept = fit_logistic(x, y)
    return LogisticModel(
        tuple(features), tuple(float(w) for w in weights), intercept, tuple(float(m) for m in x.mean(axis=0))
    )


def fit_calibration(rows: Sequence[Mapping[str, Any]], fitted_on: Mapping[str, Any] | None = None) -> Calibration:
    """Both models fitted on the rows of evaluation runs, with what they were fitted on."""
    with_passages = training_rows(rows, True, PASSAGE_FEATURES)
    alone = training_rows(rows, False, ALONE_FEATURES)
    info = {
        **(fitted_on or {}),
        "rows": {"passages": len(with_passages), "alone": len(alone)},
        "right": {
            "passages": sum(bool(r["correct"]) for r in with_passages),
            "alone": sum(bool(r["correct"]) for r in alone),
        },
        "l2": L2,
        "signals_missing": SIGNALS_MISSING,
    }
    return Calibration(
        fit_model(with_passages, PASSAGE_FEATURES, PRIOR.passages),
        fit_model(alone, ALONE_FEATURES, PRIOR.alone),
        info,
    )


def calibration_to_dict(calibration: Calibration, date: dt.date | None = None) -> dict[str, Any]:
    """The JSON calibration.json holds: the fitting data's description, its date and both models."""
    return {
        **calibration.fitted_on,
        "date": (date or dt.datetime.now(dt.timezone.utc).date()).isoformat(),
        "models": {"passages": calibration.passages.to_dict(), "alone": calibration.alone.to_dict()},
    }


def rescored(rows: Sequence[Mapping[str, Any]], calibration: Calibration, threshold: float) -> list[dict[str, Any]]:
    """The rows with `confidence` and `unsure` recomputed from their signals by `calibration` at `threshold`."""
    out = []
    for r in rows:
        row = dict(r)
        if r.get("signals") and answered(r) and r.get("confidence") is not None:
            p = calibration.model(split_arm(str(r.get("arm", "")))[0] in RETRIEVAL_MODES).probability(r["signals"])
            # as the chat marks it: an answer flagged "not supported" is not also flagged unsure
            row["confidence"], row["unsure"] = round(p, 4), p < threshold and not r.get("flagged")
        out.append(row)
    return out
