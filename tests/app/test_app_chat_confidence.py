"""The Chat page marks an answer below the confidence threshold "unsure — check the source", with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.chat.history import ChatHistory
from core.config import Settings
from core.library.service import UploadedFile
from core.services import build_services
from tests.fakes.ollama_server import FakeOllamaServer

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
QUESTION = "How often should the filters be checked and cleaned?"


@pytest.fixture
def data_dir(tmp_path: Path, embedder) -> Path:
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data), embedder=embedder)
    svc.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
    svc.close()
    return data


def ask(data_dir: Path, server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch, threshold: str) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    monkeypatch.setenv("DOMAINCHAT_CONFIDENCE_THRESHOLD", threshold)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/chat.py")
    at.run()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    return at


def test_an_answer_below_the_threshold_is_marked_unsure_with_its_reason_beside_the_citation(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a cited answer the manual holds, judged against a threshold no answer reaches
    ollama_server.find("gemma3:270m").reply = "The filters should be checked and cleaned once a week."
    at = ask(data_dir, ollama_server, monkeypatch, "0.999")
    assistant = at.chat_message[-1]
    marks = [w.value for w in assistant.warning if w.value.startswith("Unsure — check the source")]
    assert len(marks) == 1
    # the reason in words after the citation: the saved answer's own reason, shown as it was given
    saved = ChatHistory(data_dir).conversations("manuals")[0].entries()[-1].answer
    assert saved is not None and saved.unsure and saved.confidence_reason
    assert re.fullmatch(r"Unsure — check the source \[\d\]: .+\.", marks[0])  # beside the citation's number
    assert saved.confidence_reason in marks[0]
    assert any("confidence " in c.value for c in assistant.caption)
    # what the threshold meant on the last evaluation, from the committed calibration (its nearest measured one)
    assert any(c.value.startswith("At a threshold of 0.8, on the last evaluation") for c in assistant.caption)

    # the mark is kept with the conversation: a fresh app shows it again
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    again.switch_page("pages/chat.py")
    again.run()
    assert any(w.value.startswith("Unsure — check the source") for w in again.chat_message[-1].warning)


def test_an_answer_above_the_threshold_carries_no_unsure_mark(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.find("gemma3:270m").reply = "The filters should be checked and cleaned once a week."
    at = ask(data_dir, ollama_server, monkeypatch, "0")
    assistant = at.chat_message[-1]
    assert not [w for w in assistant.warning if w.value.startswith("Unsure")]
    assert any("confidence " in c.value for c in assistant.caption)
    # this Ollama returned the answer's token probabilities: the confidence weighed them, and says nothing of them
    assert not any("without token probabilities" in c.value for c in assistant.caption)


def test_an_answer_from_an_ollama_without_token_probabilities_says_its_confidence_was_judged_without_them(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ollama_server.find("gemma3:270m")
    assert model is not None
    model.reply, model.logprob = "The filters should be checked and cleaned once a week.", None  # before 0.12.11
    at = ask(data_dir, ollama_server, monkeypatch, "0")
    captions = [c.value for c in at.chat_message[-1].caption]
    without = "judged without token probabilities: this engine gave none"
    assert any("confidence " in c and without in c for c in captions)
