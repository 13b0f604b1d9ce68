"""One chat turn as one core call (`ChatService.turn`), used by the Chat page and `python -m core ask`: the question
is on disk before the answer streams, the answer is recorded whole, partial or not at all, and the conversation is
saved; the typed records the page reads give back exactly what was saved. Real Chroma, the real `ollama` client
against the in-test Ollama server (embeddings too, so no model loads)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterator

import pytest

import core.base.files
import core.cli.main as cli
from core.base.chunks import Chunk
from core.chat.answers import Answer, AnswerRecord
from core.chat.history import INTERRUPTED, ChatHistory, Conversation
from core.chat.service import Question
from core.config import Settings
from core.errors import AppError, VariantError
from core.services import Services, build_services
from tests.fakes.ollama_server import FakeModel, FakeOllamaServer

QUESTION = "How often should the filters be checked and cleaned?"
REPLY = "The filters should be checked and cleaned once a week, and rinsed under running water."
REAL_WRITE = core.base.files._write_file


class Stop(BaseException):
    """What Streamlit raises in a script it stops (a rerun, a closed tab): not an Exception."""


@pytest.fixture
def svc(tmp_path: Path, ollama_server: FakeOllamaServer) -> Iterator[Services]:
    ollama_server.find("gemma3:270m").reply = REPLY  # type: ignore[union-attr]
    settings = Settings.from_env(
        env={},
        dotenv=None,
        data_dir=tmp_path / "data",
        engine="ollama",
        ollama_host=ollama_server.url,
        embedding_backend="ollama",
    )
    services = build_services(settings)
    yield services
    services.close()


def ask(text: str = QUESTION, mode: str = "base", variant: str | None = None) -> Question:
    return Question(text, mode, "manuals", "gemma3:270m", variant, temperature=0.0)  # type: ignore[arg-type]


def on_disk(svc: Services, chat: Conversation) -> list[dict]:
    """The conversation as a fresh reader (a reload, another process) finds it."""
    found = [c for c in ChatHistory(svc.settings.data_dir).conversations(chat.collection) if c.id == chat.id]
    return found[0].messages if found else []


def test_the_question_is_saved_before_the_answer_streams_and_the_answer_after_it(svc: Services) -> None:
    chat = svc.chat.history.new("manuals")
    with svc.chat.turn(chat, ask(), "ollama") as turn:
        waiting = on_disk(svc, chat)
        assert [(m["role"], m["content"], bool(m.get("pending"))) for m in waiting] == [
            ("user", QUESTION, False),
            ("assistant", "", True),
        ]
        assert waiting[1]["incomplete"] and waiting[1]["error"] == INTERRUPTED  # what a reload shows while it streams
        text = "".join(turn)
    assert text.strip() == REPLY and turn.failed is None and turn.save_error is None
    saved = on_disk(svc, chat)
    assert [m["role"] for m in saved] == ["user", "assistant"] and saved[1]["content"] == REPLY
    assert not saved[1].get("incomplete") and "pending" not in saved[1] and saved[1]["model"] == "gemma3:270m"
    assert chat.title == QUESTION[:60]


def test_a_reader_stopped_half_way_leaves_the_partial_answer_marked_interrupted(svc: Services) -> None:
    chat = svc.chat.history.new("manuals")
    with pytest.raises(Stop):
        with svc.chat.turn(chat, ask(), "ollama") as turn:
            pieces = iter(turn)
            first = [next(pieces) for _ in range(3)]
            raise Stop  # Streamlit ends the script in the middle of st.write_stream
    saved = on_disk(svc, chat)
    assert len(saved) == 2  # the placeholder was replaced, not followed by a second answer
    assert (
        saved[1]["content"] == "".join(first).strip() and REPLY.startswith(saved[1]["content"]) and saved[1]["content"]
    )
    assert saved[1]["incomplete"] and saved[1]["error"] == INTERRUPTED and "pending" not in saved[1]


def test_a_failed_question_is_taken_out_again_and_an_empty_chat_leaves_no_file(svc: Services) -> None:
    chat = svc.chat.history.new("manuals")
    with pytest.raises(VariantError):  # refused before any answer: no fine-tuned variant
        with svc.chat.turn(chat, ask(mode="finetuned"), "ollama"):
            pytest.fail("a turn that cannot start is not entered")
    assert chat.messages == [] and ChatHistory(svc.settings.data_dir).conversations("manuals") == []

    svc.chat.turn(chat, ask(), "ollama").run()
    missing = dataclasses.replace(ask("And how do I remove them?"), base_model="no-such-model")
    turn = svc.chat.turn(chat, missing, "ollama")
    with pytest.raises(AppError) as failed:  # the engine refuses while the answer is asked for
        turn.run()
    assert turn.failed is failed.value and "ollama pull no-such-model" in str(failed.value)
    assert [m["content"] for m in on_disk(svc, chat)] == [
        QUESTION,
        REPLY,
    ]  # the earlier exchange stays, the failed question does not


def test_a_compared_question_is_one_comparison_message_with_every_mode(
    svc: Services, ollama_server: FakeOllamaServer
) -> None:
    ollama_server.add_model(FakeModel("manual-ft:latest", reply="Once a week."))
    chat = svc.chat.history.new("manuals")
    turn = svc.chat.turn(chat, ask(variant="manual-ft:latest"), "ollama", modes=["base", "finetuned"])
    answers = turn.run()
    assert [(a.mode, a.model, a.text) for a in answers] == [
        ("base", "gemma3:270m", REPLY),
        ("finetuned", "manual-ft:latest", "Once a week."),
    ]
    saved = on_disk(svc, chat)
    assert (
        [m["role"] for m in saved] == ["user", "assistant"]
        and saved[1]["kind"] == "comparison"
        and saved[1]["preferred"] is None
    )
    (_, message) = chat.entries()
    assert (
        message.is_comparison and [a.mode for a in message.answers] == ["base", "finetuned"] and message.answer is None
    )


def test_a_failed_save_does_not_stop_the_answer_and_is_reported(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(core.base.files, "_write_file", disk_full)
    chat = svc.chat.history.new("manuals")
    turn = svc.chat.turn(chat, ask(), "ollama")
    (answer,) = turn.run()
    assert answer.text == REPLY and turn.failed is None
    assert turn.save_error is not None and "is full" in str(turn.save_error)
    assert [m["content"] for m in chat.messages] == [QUESTION, REPLY]  # kept in memory for the caller to save again
    assert on_disk(svc, chat) == []
    monkeypatch.setattr(core.base.files, "_write_file", REAL_WRITE)
    svc.chat.history.save(chat)
    assert [m["content"] for m in on_disk(svc, chat)] == [QUESTION, REPLY]


def test_the_typed_records_read_back_every_kind_of_saved_message(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path)
    chat = history.new("manuals")
    source = Chunk(
        "c1",
        "d" * 64,
        "manual.pdf",
        6,
        "Check and clean the filters once a week.",
        score=0.81234,
        similarity=0.7123,
        ocr=True,
    )
    answer = Answer(
        QUESTION,
        "Once a week. [1]",
        "rag",
        "ollama",
        "gemma3:270m",
        [source],
        {"first_token_ms": 120.0, "total_ms": 900.0},
        warnings=["a note"],
        cited=[1],
        flags=["unsupported"],
        standalone="How often are the filters cleaned?",
        rewritten_by="rule",
    )
    chat.start_answer(QUESTION)
    (_, placeholder) = chat.entries()
    assert (
        placeholder.pending
        and placeholder.answer is not None
        and placeholder.answer.incomplete
        and placeholder.answer.error == INTERRUPTED
    )
    chat.add_answer(answer)
    chat.add_question("And the spray arms?")
    chat.add_comparison([dataclasses.replace(answer, mode="base", sources=[]), answer])
    chat.set_preference(3, "rag")
    history.save(chat)
    (loaded,) = history.conversations("manuals")
    question, one, again, compared = loaded.entries()
    assert (question.role, question.content, question.answer) == (
        "user",
        QUESTION,
        None,
    ) and again.content == "And the spray arms?"
    assert one.role == "assistant" and one.answer is not None and not one.is_comparison and not one.pending
    record = one.answer
    assert dataclasses.replace(record, time=None) == AnswerRecord.from_answer(answer)  # what was saved is what streamed
    assert (record.text, record.mode, record.ran, record.cited, record.unsupported) == (
        "Once a week. [1]",
        "rag",
        "Ollama model gemma3:270m",
        (1,),
        True,
    )
    assert (record.timings.first_token_ms, record.timings.total_ms, record.timings.tokens_per_s) == (120.0, 900.0, None)
    (src,) = record.sources
    assert (src.file, src.page, src.score, src.similarity, src.ocr, src.doc_id) == (
        "manual.pdf",
        6,
        0.8123,
        0.712,
        True,
        "d" * 64,
    )
    assert src.to_dict() == json.loads(
        json.dumps(loaded.messages[1]["sources"][0])
    )  # the page view gets the saved source
    assert (
        compared.is_comparison and compared.preferred == "rag" and [a.mode for a in compared.answers] == ["base", "rag"]
    )
    assert compared.answers[1].text == "Once a week. [1]" and compared.answers[0].sources == ()
    assert [m.role for m in loaded.entries(2)] == ["user", "assistant"]  # a page reads only the messages it shows


def test_python_m_core_ask_keeps_the_exchange_in_the_chat_history_unless_told_not_to(
    tmp_path: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ollama_server.find("gemma3:270m").reply = REPLY  # type: ignore[union-attr]
    data = tmp_path / "data"
    for name, value in {
        "DOMAINCHAT_DATA_DIR": str(data),
        "OLLAMA_HOST": ollama_server.url,
        "DOMAINCHAT_ENGINE": "ollama",
        "DOMAINCHAT_EMBEDDING_BACKEND": "ollama",
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["ask", "--mode", "base", QUESTION]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["text"] == REPLY
    (chat,) = ChatHistory(data).conversations(None)
    assert [m["content"] for m in chat.messages] == [QUESTION, REPLY] and chat.messages[1]["mode"] == "base"
    assert f"chats export {chat.id[:8]}" in err

    assert cli.main(["ask", "--mode", "base", "--no-history", QUESTION]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["text"] == REPLY and "chat history" not in err
    assert len(ChatHistory(data).conversations(None)) == 1  # nothing kept

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "What is the first question?"})
        + "\n"
        + json.dumps({"question": "And the second?"})
        + "\n"
    )
    assert cli.main(["ask", "--mode", "base", "--questions", str(questions)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    newest = ChatHistory(data).conversations(None)[0]
    assert [m["content"] for m in newest.messages if m["role"] == "user"] == [
        "What is the first question?",
        "And the second?",
    ]
    assert cli.main(["chats", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(c["questions"], c["modes"]) for c in listed] == [(2, ["base"]), (1, ["base"])]


def test_an_empty_generation_is_asked_once_more_then_recorded_as_no_answer_not_as_an_empty_one(
    svc: Services, ollama_server: FakeOllamaServer
) -> None:
    from core.chat.service import NO_ANSWER, RETRY_TEMPERATURE

    ollama_server.find("gemma3:270m").reply = "  \n "  # type: ignore[union-attr]
    chat = svc.chat.history.new("manuals")
    (answer,) = svc.chat.turn(chat, ask(), "ollama").run()
    asked = ollama_server.bodies("/api/generate") + ollama_server.bodies("/api/chat")
    assert len(asked) == 2  # retried once, not more
    assert asked[0]["options"]["temperature"] == 0.0 and asked[1]["options"]["temperature"] == RETRY_TEMPERATURE
    assert answer.text == "" and answer.incomplete and answer.error == NO_ANSWER and answer.timings["retries"] == 1
    saved = on_disk(svc, chat)
    assert saved[1]["incomplete"] and saved[1]["error"] == NO_ANSWER  # saved as "no answer", with the reason
    (_, message) = chat.entries()
    assert message.answer is not None and message.answer.incomplete and message.answer.error == NO_ANSWER


def test_a_generation_with_text_is_not_asked_again(svc: Services, ollama_server: FakeOllamaServer) -> None:
    chat = svc.chat.history.new("manuals")
    (answer,) = svc.chat.turn(chat, ask(), "ollama").run()
    assert answer.text == REPLY and not answer.incomplete and "retries" not in answer.timings
    assert len(ollama_server.bodies("/api/generate") + ollama_server.bodies("/api/chat")) == 1
