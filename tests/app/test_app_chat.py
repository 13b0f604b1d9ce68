"""The Chat page through AppTest against a real HTTP server speaking Ollama's API."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from core.chat.history import ChatHistory, to_markdown
from core.config import Settings
from core.library.service import UploadedFile
from core.services import build_services
from tests.fakes.ollama_server import FakeModel, FakeOllamaServer

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


def open_chat(data_dir: Path, server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/chat.py")
    return at.run()


def test_mode_toggle_changes_model_and_prompt_and_history_persists(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.find("gemma3:270m").reply = "The filters should be checked and cleaned once a week."
    ollama_server.add_model(FakeModel("manual-ft:latest", reply="Once a week."))
    at = open_chat(data_dir, ollama_server, monkeypatch)
    assert not at.exception
    assert at.sidebar.selectbox(key="base_model_ollama").value == "gemma3:270m"
    assert at.sidebar.radio(key="mode").value == "rag"

    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    body = ollama_server.bodies("/api/chat")[-1]
    assert body["model"] == "gemma3:270m" and "<documents>" in body["messages"][-1]["content"]
    assistant = at.chat_message[-1]
    assert "once a week" in assistant.markdown[0].value
    assert any("mode **rag**" in c.value for c in assistant.caption)
    assert "Sources" in assistant.expander[0].label

    at.sidebar.selectbox(key="variant_ollama").set_value("manual-ft:latest")
    at.sidebar.radio(key="mode").set_value("finetuned").run()
    at.chat_input[0].set_value(QUESTION).run()
    body = ollama_server.bodies("/api/chat")[-1]
    assert body["model"] == "manual-ft:latest" and "<documents>" not in body["messages"][-1]["content"]
    labels = [c.value for m in at.chat_message for c in m.caption if "mode **" in c.value]
    assert [("rag" in label, "finetuned" in label) for label in labels] == [(True, False), (False, True)]

    # a fresh app on the same data directory shows the same conversation
    again = open_chat(data_dir, ollama_server, monkeypatch)
    contents = [m.markdown[0].value for m in again.chat_message]
    assert len(contents) == 4 and contents[0].startswith("How often")
    assert again.get("download_button")


def test_ollama_down_keeps_the_question_and_says_how_to_fix(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_chat(data_dir, ollama_server, monkeypatch)
    ollama_server.stop()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert any("ollama serve" in e.value for e in at.error)
    assert any("was kept" in i.value for i in at.info)
    assert any(b.label == "Ask again" for b in at.button)


def test_no_variant_points_to_the_fine_tune_page(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_chat(data_dir, ollama_server, monkeypatch)
    at.sidebar.radio(key="mode").set_value("finetuned").run()
    assert any("Fine-tune" in i.value for i in at.info)


def test_compare_shows_modes_side_by_side_and_counts_the_best(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.find("gemma3:270m").reply = "The filters should be checked and cleaned once a week."
    ollama_server.add_model(FakeModel("manual-ft:latest", reply="Once a week."))
    at = open_chat(data_dir, ollama_server, monkeypatch)
    at.sidebar.selectbox(key="variant_ollama").set_value("manual-ft:latest")
    at.sidebar.toggle(key="compare").set_value(True).run()
    picker = at.sidebar.button_group(key="compare_modes")
    assert picker.value == ["base", "rag", "finetuned", "hybrid"]  # all four once a variant is picked
    picker.set_value(["base", "rag", "hybrid"]).run()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception, at.exception

    # one answer per mode, each with its own model and prompt, shown in columns of one assistant message
    bodies = ollama_server.bodies("/api/chat")[-3:]
    assert [(b["model"], "<documents>" in b["messages"][-1]["content"]) for b in bodies] == [
        ("gemma3:270m", False),
        ("gemma3:270m", True),
        ("manual-ft:latest", True),
    ]
    assistant = at.chat_message[-1]
    assert len(assistant.columns) == 3
    heads = [c.markdown[0].value for c in assistant.columns]
    assert heads == ["**base**", "**rag**", "**hybrid**"]
    labels = [" ".join(cap.value for cap in c.caption) for c in assistant.columns]
    assert "what ran: Ollama model manual\\-ft\\:latest" in labels[2]
    assert "first word after" in labels[0] and "tokens/s" in labels[1]
    assert [len(c.expander) for c in assistant.columns] == [0, 1, 1]  # sources only for the RAG modes

    best = at.button_group(key=next(b.key for b in at.button_group if b.key and b.key.startswith("best-")))
    best.set_value("rag").run()
    assert not at.exception
    assert any("rag preferred 1 of 1 times" in c.value for c in at.caption)
    (saved,) = ChatHistory(data_dir).list("manuals")
    assert saved.messages[-1]["kind"] == "comparison" and saved.messages[-1]["preferred"] == "rag"
    assert [a["mode"] for a in saved.messages[-1]["answers"]] == ["base", "rag", "hybrid"]
    assert "★ best" in to_markdown(saved)


def test_a_long_conversation_shows_its_latest_messages_and_earlier_ones_on_demand(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.base.chunks import Chunk
    from core.chat.answers import Answer

    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data_dir))
    chat = svc.history.new("manuals")
    for i in range(50):
        chat.add_question(f"question {i}")
        chat.add_answer(
            Answer(
                f"question {i}",
                f"answer {i}",
                "rag",
                "ollama",
                "gemma3:270m",
                [Chunk(f"c{i}", "d" * 64, "manual.pdf", 1, f"passage {i}", score=0.5)],
            )
        )
    svc.history.save(chat)
    svc.close()
    at = open_chat(data_dir, ollama_server, monkeypatch)
    shown = [m.markdown[0].value for m in at.chat_message]
    assert len(shown) == 40 and shown[0] == "question 30" and shown[-1] == "answer 49"
    earlier = next(b for b in at.button if b.label.startswith("Show earlier messages"))
    assert "60 not shown" in earlier.label
    earlier.click().run()
    shown = [m.markdown[0].value for m in at.chat_message]
    assert len(shown) == 80 and shown[0] == "question 10"
    next(b for b in at.button if b.label.startswith("Show earlier messages")).click().run()
    assert [m.markdown[0].value for m in at.chat_message][0] == "question 0"
    assert not [b for b in at.button if b.label.startswith("Show earlier messages")]
    # the exports hold the whole conversation, built when asked for
    assert at.get("download_button")


def test_a_followup_shows_what_was_searched_and_the_switch_keeps_the_question_as_typed(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ollama_server.find("gemma3:270m")
    at = open_chat(data_dir, ollama_server, monkeypatch)
    assert at.sidebar.toggle(key="follow_up").value is True  # on by default
    model.reply = "Once a week."
    at.chat_input[0].set_value(QUESTION).run()
    assert not any("Searched for" in c.value for c in at.chat_message[-1].caption)  # a first question stands alone

    model.reply = (
        "How do I remove the filters?"  # what the model answers to the rewrite request (and, here, to the question)
    )
    at.chat_input[0].set_value("And how do I remove them?").run()
    assert not at.exception
    rewrite, answer = ollama_server.bodies("/api/chat")[-2:]
    assert (
        QUESTION in rewrite["messages"][-1]["content"]
        and "Question: How do I remove the filters?" in answer["messages"][-1]["content"]
    )
    searched = [c.value for c in at.chat_message[-1].caption if "Searched for" in c.value]
    assert (
        len(searched) == 1 and "How do I remove the filters?" in searched[0] and "rewritten by the model" in searched[0]
    )
    (saved,) = ChatHistory(data_dir).list("manuals")
    assert (
        saved.messages[-1]["standalone"] == "How do I remove the filters?"
        and saved.messages[-2]["content"] == "And how do I remove them?"
    )

    at.sidebar.toggle(key="follow_up").set_value(False).run()
    calls = len(ollama_server.bodies("/api/chat"))
    at.chat_input[0].set_value("And how do I clean them?").run()
    bodies = ollama_server.bodies("/api/chat")
    assert len(bodies) == calls + 1  # no rewrite request: the question went as typed
    assert "Question: And how do I clean them?" in bodies[-1]["messages"][-1]["content"]
    assert not any("Searched for" in c.value for c in at.chat_message[-1].caption)


def test_an_empty_chat_without_documents_links_to_the_documents_page(
    tmp_path: Path, embedder, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    at = open_chat(data, ollama_server, monkeypatch)  # no collection at all
    # a link to a page of the app carries the page's hash (Streamlit hashes its url path, here "documents")
    assert [(link.value, link.proto.page_script_hash) for link in at.page_link] == [
        ("Add documents", calc_hash("documents"))
    ]
    assert any("There is no collection yet" in i.value for i in at.info)

    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data), embedder=embedder)
    svc.library.create_collection("legal")
    svc.close()
    at = open_chat(data, ollama_server, monkeypatch)  # a collection with no documents
    assert [link.value for link in at.page_link] == ["Add documents"]
    assert any("legal" in i.value and "has no documents yet" in i.value for i in at.info)


def test_a_chat_with_documents_offers_no_add_documents_link(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_chat(data_dir, ollama_server, monkeypatch)
    assert not at.page_link and any("Ask a question about your documents" in i.value for i in at.info)


def test_deleting_a_chat_waits_for_the_confirmation(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_chat(data_dir, ollama_server, monkeypatch)
    at.chat_input[0].set_value(QUESTION).run()
    assert len(ChatHistory(data_dir).list("manuals")) == 1
    next(b for b in at.sidebar.button if b.label == "Delete this chat").click().run()
    assert len(ChatHistory(data_dir).list("manuals")) == 1  # asked, not done
    assert any("This cannot be undone" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert len(ChatHistory(data_dir).list("manuals")) == 1 and len(at.chat_message) == 2
    next(b for b in at.sidebar.button if b.label == "Delete this chat").click().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception
    assert ChatHistory(data_dir).list("manuals") == [] and not at.chat_message


def test_the_compare_in_chat_link_opens_compare_with_the_new_variant(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.add_model(FakeModel("other-ft:latest"))
    ollama_server.add_model(FakeModel("manual-ft:latest"))
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/chat.py")
    at.query_params.update({"compare": "1", "variant": "manual-ft"})  # what the Fine-tune page's link carries
    at.run()
    assert not at.exception
    assert at.sidebar.toggle(key="compare").value is True
    assert at.sidebar.selectbox(key="variant_ollama").value == "manual-ft:latest"
    assert at.sidebar.button_group(key="compare_modes").value == ["base", "rag", "finetuned", "hybrid"]


def test_a_compare_link_to_a_variant_the_engine_lacks_says_so(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/chat.py")
    at.query_params.update({"compare": "1", "variant": "trained-elsewhere"})
    at.run()
    assert at.sidebar.toggle(key="compare").value is True
    assert any("trained\\-elsewhere is not available on the ollama engine" in c.value for c in at.sidebar.caption)


def test_an_empty_generation_shows_no_answer_with_the_reason_and_ask_again(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.find("gemma3:270m").reply = " \n"
    at = open_chat(data_dir, ollama_server, monkeypatch)
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert len(ollama_server.bodies("/api/chat")) == 2  # asked once more before giving up
    assistant = at.chat_message[-1]
    assert any(w.value.startswith("No answer: the model returned an empty answer") for w in assistant.warning)
    again = [b for b in at.button if b.label == "Ask again"]
    assert len(again) == 1

    ollama_server.find("gemma3:270m").reply = "The filters should be checked and cleaned once a week."
    again[0].click().run()
    assert not at.exception
    contents = [m.markdown[0].value for m in at.chat_message if m.markdown]
    assert contents[-1].startswith("The filters should be checked") and contents.count(QUESTION) == 2
    assert len([b for b in at.button if b.label == "Ask again"]) == 1  # only the empty answer has the button


def test_the_compare_in_chat_link_starts_a_new_conversation(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.add_model(FakeModel("manual-ft:latest", reply="Once a week."))
    at = open_chat(data_dir, ollama_server, monkeypatch)
    at.chat_input[0].set_value(QUESTION).run()  # an earlier conversation, the one the page shows
    assert len(at.chat_message) == 2
    at.query_params.update({"compare": "1", "variant": "manual-ft"})  # the Fine-tune page's link, in the same session
    at.switch_page("pages/chat.py").run()
    assert not at.exception
    assert at.sidebar.toggle(key="compare").value is True and not at.chat_message  # a new chat, not the old one
    at.chat_input[0].set_value(QUESTION).run()
    chats = ChatHistory(data_dir).conversations("manuals")
    assert len(chats) == 2 and [len(c.messages) for c in chats] == [2, 2]
    assert chats[0].messages[1]["kind"] == "comparison"
