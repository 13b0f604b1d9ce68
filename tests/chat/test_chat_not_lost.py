"""Chat history loses neither the question nor the answer: a stop mid-answer or a failed save (issue 10, item 6)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core.base.files
from core.chat.answers import Answer
from core.chat.history import INTERRUPTED, ChatHistory
from core.chat.service import Question
from core.config import Settings
from core.engines.ollama_engine import OllamaEngine
from core.services import Services
from tests.fakes.ollama_server import FakeOllamaServer

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How often should the filters be checked and cleaned?"
REPLY = "The filters should be checked and cleaned once a week, and rinsed under running water."
REAL_WRITE = core.base.files._write_file


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(core.base.files, "_write_file", fail)


def test_an_answer_stopped_half_way_keeps_the_question_and_the_partial_answer_on_disk(
    services: Services, settings: Settings, ollama_server: FakeOllamaServer
) -> None:
    ollama_server.find("gemma3:270m").reply = REPLY
    engine = OllamaEngine(dataclasses.replace(settings, ollama_host=ollama_server.url, engine="ollama"))
    history = services.chat.history
    chat = history.new("manuals")
    chat.start_answer(QUESTION)
    history.save(chat)
    # what a reload sees while the answer is still streaming: the question, and an answer marked unfinished
    (saved,) = ChatHistory(settings.data_dir).list("manuals")
    assert [m["role"] for m in saved.messages] == ["user", "assistant"]
    assert (
        saved.messages[0]["content"] == QUESTION
        and saved.messages[1]["incomplete"]
        and saved.messages[1]["error"] == INTERRUPTED
    )

    stream = services.chat.ask(Question(QUESTION, "base", "manuals", "gemma3:270m", None, temperature=0.0), engine)
    pieces = iter(stream)
    first = [next(pieces) for _ in range(3)]
    pieces.close()  # what Streamlit's StopException does to st.write_stream's generator on a rerun
    chat.add_answer(stream.stopped(INTERRUPTED))
    history.save(chat)

    (saved,) = ChatHistory(settings.data_dir).list("manuals")
    assert len(saved.messages) == 2  # the placeholder was replaced, not followed by a second answer
    answer = saved.messages[1]
    assert answer["content"] == "".join(first).strip() and answer["content"] and REPLY.startswith(answer["content"])
    assert answer["incomplete"] and answer["error"] == INTERRUPTED and "pending" not in answer


def test_a_finished_answer_replaces_the_placeholder_and_a_failed_question_leaves_none(services: Services) -> None:
    chat = services.chat.history.new("manuals")
    chat.start_answer("first?")
    assert chat.drop_unanswered() == "first?" and chat.messages == []
    chat.start_answer("second?")
    chat.add_answer(Answer(question="second?", text="done", mode="base", engine="ollama", model="gemma3:270m"))
    assert [(m["role"], m["content"], bool(m.get("incomplete"))) for m in chat.messages] == [
        ("user", "second?", False),
        ("assistant", "done", False),
    ]
    assert chat.drop_unanswered() is None  # an answered question is never dropped


def test_a_failed_save_shows_the_error_keeps_the_chat_in_the_session_and_saves_it_later(
    tmp_path: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.find("gemma3:270m").reply = REPLY
    data = tmp_path / "data"
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/chat.py")
    at.run()
    at.sidebar.radio(key="mode").set_value("base").run()
    _disk_full(monkeypatch)
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert any("is full" in e.value and "Free some space" in e.value for e in at.error)
    assert any("could not be saved" in i.value for i in at.info)
    contents = [m.markdown[0].value for m in at.chat_message]
    assert contents[0] == QUESTION and "once a week" in contents[1]  # still on screen after the rerun
    assert ChatHistory(data).list(None) == []  # nothing half-written

    monkeypatch.setattr(core.base.files, "_write_file", REAL_WRITE)  # space freed: the next click saves it
    at.sidebar.slider(key="top_k").set_value(4).run()
    assert not at.exception and not at.error
    (saved,) = ChatHistory(data).list(None)
    assert [m["content"] for m in saved.messages][0] == QUESTION and "once a week" in saved.messages[1]["content"]
    assert not saved.messages[1].get("incomplete")
