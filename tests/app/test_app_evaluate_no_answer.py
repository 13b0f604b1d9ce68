"""The Evaluate page shows answers that never came (AppTest): the grid's "no answer given" column counts them per
mode as "1/3 · 33%", and the answers side by side read "no answer: <reason>" instead of an empty cell.

The run is a real background job on the openai engine against tests/fakes/openai_server.py
(tests/helpers/no_answer_run.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from core.chat.service import NO_ANSWER
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.no_answer_run import REFUSAL, no_answer_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "manuals-lora")) as server:
        yield server


def test_the_grid_counts_no_answer_per_mode_and_the_answers_say_why(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = no_answer_run(tmp_path / "data", fake, monkeypatch)
    assert run.status.state == "done", run.status.message
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    answers = at.dataframe[0].value  # the grid's first group: Answers
    assert list(answers["mode"]) == ["base", "finetuned · manuals-ft"]  # a fine-tuned mode names its variant
    assert list(answers["no answer given"]) == ["1/3 · 33%", "3/3 · 100%"]
    side = at.dataframe[-1].value  # the answers side by side, one row per question
    refused = side["base answer"].iloc[0]  # the first question's base answer: the server refused the request
    assert refused == f"no answer: {run.rows[0]['error']}" and REFUSAL in refused
    assert list(side["finetuned answer"]) == [f"no answer: {NO_ANSWER}"] * 3
    assert side["base answer"].iloc[1] == "The filter is cleaned every 2 weeks."
