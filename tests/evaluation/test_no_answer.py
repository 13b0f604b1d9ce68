"""An answer with no text (an empty generation the chat marks NO_ANSWER, or an engine error) is counted per arm as
"no answer" in a real run's summary, not as a refusal, and reads "no answer: <reason>" in the answers side by side.

The run is a real background job on the openai engine against tests/fakes/openai_server.py
(tests/helpers/no_answer_run.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from core.chat.service import NO_ANSWER
from core.cli.main import main
from core.evaluation.scoring import block, grid_rows
from core.evaluation.service import EvaluationService
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.no_answer_run import REFUSAL, no_answer_run


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "manuals-lora")) as server:
        yield server


def test_empty_answers_and_engine_errors_are_counted_as_no_answer_per_arm_with_their_reason(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = no_answer_run(tmp_path / "data", fake, monkeypatch)
    assert run.status.state == "done", run.status.message
    base = [r for r in run.rows if r["arm"] == "base"]
    variant = [r for r in run.rows if r["arm"] == "finetuned"]
    assert [r["no_answer"] for r in base] == [True, False, False]
    assert REFUSAL in base[0]["error"] and base[1]["answer"] and base[1]["error"] == ""
    # an empty generation is asked once more, then recorded as no answer with the chat's reason
    assert all(r["no_answer"] and r["answer"] == "" and r["error"] == NO_ANSWER for r in variant)
    assert not any(r["refused"] or r["declined"] for r in base[:1] + variant)  # saying nothing is not declining
    summary = run.summary["arms"]
    assert (summary["base"]["all"]["no_answer_n"], summary["base"]["all"]["no_answer"]) == (1, 0.3333)
    assert (summary["finetuned"]["all"]["no_answer_n"], summary["finetuned"]["all"]["no_answer"]) == (3, 1.0)
    assert [(g.arm, g.n, g.value("no_answer")) for g in grid_rows(run.summary)] == [
        ("base", 3, 0.3333),
        ("finetuned", 3, 1.0),
    ]
    side = {row["question"]: row for row in EvaluationService.side_by_side(run)}
    first = side[base[0]["question"]]
    assert first["base answer"].startswith("no answer: ") and REFUSAL in first["base answer"]
    assert all(row["finetuned answer"] == f"no answer: {NO_ANSWER}" for row in side.values())
    assert side[base[1]["question"]]["base answer"] == base[1]["answer"]


def test_the_command_line_prints_the_no_answer_count_per_mode(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = no_answer_run(tmp_path / "data", fake, monkeypatch)  # the environment now names this data folder
    capsys.readouterr()
    assert main(["eval", "--show", run.run_id]) == 0
    printed = json.loads(capsys.readouterr().out)
    arms = printed["summary"]["arms"]
    assert [(arms[a]["all"]["no_answer_n"], arms[a]["all"]["no_answer"]) for a in ("base", "finetuned")] == [
        (1, 0.3333),
        (3, 1.0),
    ]


def test_rows_saved_before_the_field_existed_are_counted_from_their_text() -> None:
    old = [{"answer": "", "error": "engine down"}, {"answer": "15 kg", "error": ""}, {"answer": "  ", "error": ""}]
    metrics = block(old)
    assert (metrics["no_answer_n"], metrics["no_answer"]) == (2, 0.6667)
