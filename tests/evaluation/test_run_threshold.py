"""The confidence threshold is saved with a run and its confidence figures are read at it.

A real background run on the openai engine (tests/helpers/paired_run.py) writes DOMAINCHAT_CONFIDENCE_THRESHOLD into
its config.json; a run reloaded under another threshold keeps its own; a run saved before the threshold was kept is
read at the settings' threshold, and its summary says so. Hand-made rows (the real scorer, confidences set by hand)
make every figure countable on the fingers.
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
from core.evaluation.runner import marked_at, with_statistics
from core.evaluation.runs import EvalConfig, run_dir
from core.evaluation.scoring import score_answer, summarise
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.paired_run import REPLIES, paired_run

RUN_ID = "ev-20261207-093000-7e51"
# rag's four answerable answers: (right?, confidence); marked unsure below 0.5 when they were made
ANSWERS = [(True, 0.9), (True, 0.7), (False, 0.8), (True, 0.3)]


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i, (right, confidence) in enumerate(ANSWERS):
        q = EvalQuestion(f"What is the load of door {i}?", "15 kg", "manual.pdf", 1, split="new")
        answer = {
            "mode": "rag",
            "text": "15 kg" if right else "40 kg",
            "sources": [],
            "timings": {"total_ms": 300.0},
            "confidence": confidence,
            "flags": ["unsure"] if confidence < 0.5 else [],
        }
        rows.append({"i": i, **score_answer(q, answer, k=3)})
    return rows


def _saved_run(data: Path, threshold: float | None) -> None:
    """A finished run whose summary was written from the rows' own marks (as runs before the threshold was kept)."""
    rows = _rows()
    folder = run_dir(data, RUN_ID)
    folder.mkdir(parents=True)
    config = EvalConfig(collection="", arms=["rag"], run_id=RUN_ID, data_dir=str(data), confidence_threshold=threshold)
    (folder / "config.json").write_text(json.dumps(asdict(config)))
    (folder / "status.json").write_text(json.dumps({"job_id": RUN_ID, "kind": "evaluation", "state": "done"}))
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "summary.json").write_text(json.dumps(with_statistics(summarise(rows, ["rag"]), rows, ["rag"])))


def _load(data: Path, setting: float) -> dict[str, Any]:
    svc = build_services(Settings.from_env(dotenv=None, data_dir=data, confidence_threshold=setting))
    try:
        return svc.evaluation.load_run(RUN_ID).summary
    finally:
        svc.close()


def _counts(figures: dict[str, Any]) -> dict[str, tuple[int, int]]:
    keys = ("sure_share", "selective_accuracy", "confidently_wrong", "right_marked_unsure")
    return {k: (figures[k]["k"], figures[k]["n"]) for k in keys}


def test_a_run_reloaded_under_another_setting_is_read_at_its_own_saved_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _saved_run(data, threshold=0.75)
    summary = _load(data, setting=0.5)
    assert summary["confidence_threshold"] == {"value": 0.75, "from": "run"}
    # at 0.75 only 0.9 (right) and 0.8 (wrong) are sure; 0.7 and 0.3 (both right) are marked unsure
    assert _counts(summary["confidence"]["rag"]) == {
        "sure_share": (2, 4),
        "selective_accuracy": (1, 2),
        "confidently_wrong": (1, 4),
        "right_marked_unsure": (2, 3),
    }
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_CONFIDENCE_THRESHOLD", "0.5")
    capsys.readouterr()
    assert main(["eval", "--show", RUN_ID]) == 0
    said = capsys.readouterr().err.splitlines()
    assert "Answers were marked unsure below a confidence of 0.75 (saved with the run):" in said
    assert "rag: 1 of 2 answers marked sure were right (50%); 1 wrong answer was not marked" in said


def test_a_run_saved_without_a_threshold_is_read_at_the_settings_threshold_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _saved_run(data, threshold=None)
    summary = _load(data, setting=0.85)
    assert summary["confidence_threshold"] == {"value": 0.85, "from": "settings"}
    # at 0.85 only the right 0.9 is sure: no wrong answer goes unmarked
    assert _counts(summary["confidence"]["rag"]) == {
        "sure_share": (1, 4),
        "selective_accuracy": (1, 1),
        "confidently_wrong": (0, 4),
        "right_marked_unsure": (2, 3),
    }
    # at the threshold the answers were marked at, the figures are those the rows' own marks give
    assert _load(data, setting=0.5)["confidence"] == with_statistics({}, _rows())["confidence"]


def test_a_background_run_writes_its_threshold_into_config_json_and_reads_its_figures_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOMAINCHAT_CONFIDENCE_THRESHOLD", "0.7")
    with FakeOpenAIServer(models=tuple(REPLIES)) as fake:
        run = paired_run(tmp_path / "data", fake, monkeypatch)
    assert run.status.state == "done", run.status.message
    folder = run_dir(tmp_path / "data", run.run_id)
    assert json.loads((folder / "config.json").read_text())["confidence_threshold"] == 0.7
    saved = json.loads((folder / "summary.json").read_text())
    assert saved["confidence_threshold"] == {"value": 0.7, "from": "run"}
    expected = {arm: f.to_dict() for arm, f in figures_by_arm(marked_at(run.rows, 0.7)).items()}
    assert saved["confidence"] == expected
    judged = [r for r in run.rows if r.get("confidence") is not None]
    assert judged  # the figures had confidences to read
    # the job marked its answers at the same threshold, so the rows and the figures tell one story
    assert all(r["unsure"] == (r["confidence"] < 0.7 and not r["flagged"]) for r in judged)


def test_a_background_run_marks_its_answers_at_the_apps_threshold_not_at_the_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the environment the job starts in would mark every answer unsure; the app's threshold marks none
    monkeypatch.setenv("DOMAINCHAT_CONFIDENCE_THRESHOLD", "1.0")
    with FakeOpenAIServer(models=tuple(REPLIES)) as fake:
        run = paired_run(tmp_path / "data", fake, monkeypatch, threshold=0.0)
    assert run.status.state == "done", run.status.message
    judged = [r for r in run.rows if r.get("confidence") is not None]
    assert judged and not any(r["unsure"] for r in judged)
