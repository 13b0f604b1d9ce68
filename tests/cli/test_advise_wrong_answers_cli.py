"""`python -m core advise --wrong-answers-costly`: the advice weighs the accuracy of the answers each approach was
sure of, from the confidence the newest run saved; without the flag it is as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.advisor.test_wrong_answers_costly import write_confident_run

ROOT = Path(__file__).resolve().parents[2]
# rag 2, hybrid 2, fine-tuning 1 from the answers alone: RAG by the tie-break
TEAM = ["--skills", "mixed", "--data-changes", "monthly", "--budget", "medium", "--hardware", "gpu"]


def advise(data: Path, *args: str) -> dict:
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data), "DOMAINCHAT_ENGINE": "embedded"}
    proc = subprocess.run(
        [sys.executable, "-m", "core", "advise", *TEAM, "--labelled-pairs", "500", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_the_costly_flag_moves_the_advice_on_a_clear_lead_in_the_answers_it_was_sure_of(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_confident_run(data)
    report = tmp_path / "advice.md"
    little = advise(data)
    assert little["criteria"]["wrong_answers_costly"] is False
    assert little["advice"]["recommendation"] == "rag"
    assert all(m["name"] != "accuracy of the answers it was sure of" for m in little["advice"]["moves"])
    assert any(w.startswith("A wrong answer costs little (a user re-asks) → a lot") for w in little["would_change"])

    costly = advise(data, "--wrong-answers-costly", "--markdown", str(report))
    assert costly["criteria"]["wrong_answers_costly"] is True
    assert costly["advice"]["recommendation"] == "hybrid"
    move = next(m for m in costly["advice"]["moves"] if m["name"] == "accuracy of the answers it was sure of")
    assert move["points"] == {"hybrid": 2.0} and move["favours"] == "hybrid"
    assert "hybrid was right 56 of 60 (93%, 84–97%), rag 59 of 85 (69%, 59–78%)" in move["reason"]
    assert "| a wrong answer costs | a lot (legal, medical, safety) |" in report.read_text(encoding="utf-8")
