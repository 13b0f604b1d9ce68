"""`python -m core advise` with the team's volume: the JSON carries the cost table, next to the advice as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base.jobs import StatusWriter
from core.finetune import jobs as training

ROOT = Path(__file__).resolve().parents[2]
CRITERIA = ["--skills", "app_engineering", "--data-changes", "weekly", "--budget", "small", "--hardware", "cpu"]


def advise(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data), "DOMAINCHAT_ENGINE": "embedded"}
    return subprocess.run(
        [sys.executable, "-m", "core", "advise", *CRITERIA, "--labelled-pairs", "0", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_advise_with_the_teams_volume_prints_the_cost_table(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # a finished training job, as the job writes it: its speed is the measured training rate
    folder = training.job_dir(data, "ft-20261201-090000-abcd")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    cost = {"train_s": 72.0, "load_s": 58.0, "examples": 30, "epochs": 10, "steps": 80, "batch_size": 4}
    StatusWriter(
        folder / "status.json",
        {
            "job_id": "ft-20261201-090000-abcd",
            "kind": "training",
            "state": "done",
            "created": time.time(),
            "cost": {**cost, "s_per_step": 0.9},
        },
    ).update()
    report = tmp_path / "advice.md"
    proc = advise(
        data, "--questions-per-day", "5000", "--documents", "40", "--document-mb", "2", "--markdown", str(report)
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"criteria", "evidence", "advice", "costs", "cost_basis"} <= set(out)  # the advice's keys stay
    assert out["advice"]["recommendation"] == "rag"
    costs = out["costs"]
    assert set(costs) == {"rag", "finetuning", "hybrid"}
    for figures in costs.values():
        for figure in figures.values():
            assert isinstance(figure["measured"], bool) and figure["source"] and figure["unit"]
    # no evaluation run here: the answer time is an estimate naming its assumption; the training speed is measured
    answering = costs["rag"]["answer_hours_per_month"]
    assert answering["measured"] is False and answering["source"].startswith("estimated: no measurement, assumed")
    assert answering["value"] == pytest.approx(5000 * 30 * 0.52 / 3600)  # 21.7 h at 0.52 s an answer
    rates = out["cost_basis"]["rates"]
    assert rates["train_s_per_pair_epoch"]["measured"] is True
    assert rates["train_s_per_pair_epoch"]["source"] == "training job ft-20261201-090000-abcd, 80 steps of 4"
    assert costs["finetuning"]["variant_upkeep_hours_per_month"]["value"] > 0
    assert out["cost_basis"]["volume"]["data_changes"] == "weekly"
    assert "## What each approach costs your team" in report.read_text(encoding="utf-8")

    # without the volume, the output is what it was
    plain = advise(data)
    assert plain.returncode == 0, plain.stderr
    assert "costs" not in json.loads(plain.stdout)

    # half a volume says what else to give
    half = advise(data, "--questions-per-day", "5000")
    assert half.returncode == 1 and "--documents and --document-mb (or --document-pages)" in half.stderr


def test_advise_writes_the_html_report_with_the_cost_chart(tmp_path: Path) -> None:
    page = tmp_path / "advice.html"
    proc = advise(
        tmp_path / "data",
        "--questions-per-day",
        "50",
        "--documents",
        "40",
        "--document-pages",
        "10",
        "--html",
        str(page),
    )
    assert proc.returncode == 0, proc.stderr
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<script" not in text
    assert "What each approach costs your team" in text and "What would change the recommendation" in text
    assert json.loads(proc.stdout)["would_change"] == []  # RAG by a wide margin: no single step changes it
