"""The start page through AppTest: it opens first, says where the user stands and leads to the next step."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.library.service import UploadedFile
from core.services import build_services

ROOT = Path(__file__).resolve().parents[2]
FACT = "Check and clean the filters once a week, and rinse them under running water."


def open_app(data: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.chdir(ROOT)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()


def test_the_app_opens_on_the_start_page_and_its_button_leads_to_the_first_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(tmp_path / "data", monkeypatch)
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Start"]
    assert any("fine-tuning" in m.value and "(RAG)" in m.value for m in at.markdown)
    assert [s.value for s in at.subheader] == ["Step 1 of 5: Documents"]
    assert [m.value.split("**")[1] for m in at.markdown if m.value.startswith(":material/")] == [
        "1. Documents",
        "2. Chat",
        "3. Fine-tune",
        "4. Evaluate",
        "5. Advisor",
    ]
    assert any(c.value == "Next · no documents indexed yet" for c in at.caption)
    at.button(key="next_step").click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Documents"]


def test_with_documents_indexed_the_next_step_is_chat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder
) -> None:
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data), embedder=embedder)
    svc.library.ingest("manuals", [UploadedFile("filters.txt", FACT.encode())])
    svc.close()
    at = open_app(data, monkeypatch)
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == ["Step 2 of 5: Chat"]
    assert any(c.value.startswith("Done · ") and "indexed in 1 collection" in c.value for c in at.caption)
    at.button(key="next_step").click().run()
    assert [t.value for t in at.title] == ["Chat"]


def test_a_skipped_step_is_the_next_one_with_its_own_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder
) -> None:
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data), embedder=embedder)
    svc.library.ingest("manuals", [UploadedFile("filters.txt", FACT.encode())])
    chat = svc.history.new("manuals")
    chat.add_question("How often are the filters cleaned?")
    chat.messages.append({"role": "assistant", "content": "Once a week."})
    svc.history.save(chat)
    svc.journey.note_advice()  # the advisor was asked before any variant was built
    svc.close()
    at = open_app(data, monkeypatch)
    assert [s.value for s in at.subheader] == ["Step 3 of 5: Fine-tune"]
    assert any("(3 of 5 steps done.)" in c.value for c in at.caption)


def test_on_the_bundled_model_the_start_page_says_what_it_can_and_cannot_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(tmp_path / "data", monkeypatch)
    notes = [i.value for i in at.info if "bundled model" in i.value]
    assert len(notes) == 1 and "about half" in notes[0] and "DOMAINCHAT_OPENAI_BASE_URL" in notes[0], notes


def test_on_a_model_of_the_users_own_the_start_page_says_nothing_about_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.engines.bundled import bundled_gguf_path

    monkeypatch.setenv("DOMAINCHAT_GGUF", str(bundled_gguf_path()))  # the same file, named by the user
    at = open_app(tmp_path / "data", monkeypatch)
    assert not at.exception, at.exception
    assert not [i.value for i in at.info if "bundled model" in i.value]
