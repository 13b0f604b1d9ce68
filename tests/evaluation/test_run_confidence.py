"""How sure a run's answers were, saved with its summary: `confidence` per arm (share marked sure, accuracy of the
answers marked sure, confidently wrong, AUROC, reliability bands), computed when a run saved without it loads, and
said per mode on stderr by `python -m core eval`.

Rows are scored by the real scorer from hand-made answers whose confidence and unsure mark are set by hand, so every
figure can be counted on the fingers.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from core.base.questions import EvalQuestion
from core.cli.main import main
from core.config import Settings
from core.evaluation.confidence_metrics import figures_by_arm
from core.evaluation.runner import with_statistics
from core.evaluation.runs import EvalConfig, run_dir
from core.evaluation.scoring import score_answer, summarise
from core.services import build_services

RUN_ID = "ev-20261207-081500-c0f1"
ARMS = ["rag", "base"]
# per arm: (right?, confidence, marked unsure?) for four answerable questions, and one refusal of an unanswerable one
ANSWERS: dict[str, list[tuple[bool, float, bool]]] = {
    # sure: 0.9 right, 0.7 right, 0.8 wrong (confidently wrong); the right 0.3 is marked unsure
    "rag": [(True, 0.9, False), (True, 0.7, False), (False, 0.8, False), (True, 0.3, True)],
    # sure: 0.8 right, 0.6 and 0.55 wrong (both confidently wrong); the wrong 0.2 is marked unsure
    "base": [(True, 0.8, False), (False, 0.6, False), (False, 0.55, False), (False, 0.2, True)],
}


def _rows() -> list[dict[str, Any]]:
    rows = []
    for arm, answers in ANSWERS.items():
        for i, (right, confidence, unsure) in enumerate(answers):
            q = EvalQuestion(f"What is the load of door {i}?", "15 kg", "manual.pdf", 1, split="new")
            answer = {
                "mode": arm,
                "text": "15 kg" if right else "40 kg",
                "sources": [],
                "timings": {"total_ms": 300.0},
                "confidence": confidence,
                "flags": ["unsure"] if unsure else [],
            }
            rows.append({"i": i, **score_answer(q, answer, k=3)})
        refusal = {"mode": arm, "text": "The documents do not say.", "sources": [], "timings": {"total_ms": 200.0}}
        unanswerable = EvalQuestion("Who painted the factory wall?", unanswerable=True, split="new")
        rows.append({"i": len(answers), **score_answer(unanswerable, refusal, k=3)})
    return rows


def test_the_saved_summary_carries_each_arms_confidence_figures_as_counted_by_hand() -> None:
    rows = _rows()
    summary = with_statistics(summarise(rows, ARMS), rows, ARMS)
    confidence = summary["confidence"]
    assert list(confidence) == ARMS
    assert confidence == {arm: figures.to_dict() for arm, figures in figures_by_arm(rows).items()}
    rag = confidence["rag"]
    assert rag["answerable"] == 4  # the unanswerable question is outside every answerable denominator
    assert (rag["sure_share"]["k"], rag["sure_share"]["n"]) == (3, 4)
    assert (rag["selective_accuracy"]["k"], rag["selective_accuracy"]["n"], rag["selective_accuracy"]["share"]) == (
        2,
        3,
        0.6667,
    )
    assert (rag["confidently_wrong"]["k"], rag["confidently_wrong"]["n"]) == (1, 4)
    assert (rag["right_marked_unsure"]["k"], rag["right_marked_unsure"]["n"]) == (1, 3)
    # right 0.9, 0.7, 0.3 against the wrong 0.8: only 0.9 ranks above it
    assert (rag["auroc"], rag["auroc_n"]) == (0.3333, 4)
    assert confidence["base"]["auroc"] == 1.0  # the one right answer is the surest
    bands = {(b["low"], b["high"]): b for b in rag["reliability"]}
    assert (bands[(0.8, 1.0)]["n"], bands[(0.8, 1.0)]["right"]) == (2, 0.5)  # 0.9 right, 0.8 wrong
    assert bands[(0.0, 0.2)]["n"] == 0 and bands[(0.0, 0.2)]["right"] is None


def test_a_run_saved_without_confidence_gets_it_on_load_and_eval_says_it_per_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    rows = _rows()
    folder = run_dir(data, RUN_ID)
    folder.mkdir(parents=True)
    config = EvalConfig(collection="", arms=ARMS, run_id=RUN_ID, data_dir=str(data))
    (folder / "config.json").write_text(json.dumps(asdict(config)))
    (folder / "status.json").write_text(json.dumps({"job_id": RUN_ID, "kind": "evaluation", "state": "done"}))
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    full = with_statistics(summarise(rows, ARMS), rows, ARMS)
    (folder / "summary.json").write_text(json.dumps({k: v for k, v in full.items() if k != "confidence"}))

    svc = build_services(Settings.from_env(dotenv=None, data_dir=data))
    try:
        loaded = svc.evaluation.load_run(RUN_ID)
    finally:
        svc.close()
    assert loaded.summary["confidence"] == full["confidence"]

    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    capsys.readouterr()
    assert main(["eval", "--show", RUN_ID]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["summary"]["confidence"] == full["confidence"]
    said = out.err.splitlines()
    assert "rag: 2 of 3 answers marked sure were right (67%); 1 wrong answer was not marked" in said
    assert "base: 1 of 3 answers marked sure were right (33%); 2 wrong answers were not marked" in said
