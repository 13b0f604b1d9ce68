"""The cited page in the app (AppTest): from a source in Chat, and from the Documents page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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


def app(data_dir: Path, monkeypatch: pytest.MonkeyPatch, server: FakeOllamaServer | None = None) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data_dir))
    if server is not None:
        monkeypatch.setenv("DOMAINCHAT_ENGINE", "ollama")
        monkeypatch.setenv("OLLAMA_HOST", server.url)
    else:
        monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def images(at: AppTest) -> list:
    return list(at.get("image"))


def captions(at: AppTest) -> str:
    return "\n".join(c.value.replace("\\", "") for c in at.caption)


def test_a_source_in_chat_opens_its_page_with_the_passage_highlighted(
    data_dir: Path, ollama_server: FakeOllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_server.find("gemma3:270m").reply = "Once a week [1]."
    at = app(data_dir, monkeypatch, ollama_server)
    at.switch_page("pages/chat.py")
    at.run()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert images(at) == []  # nothing is rendered until asked for
    [show] = [b for b in at.button if b.label == "Show page 6"][:1]
    show.click().run()
    assert not at.exception
    assert len(images(at)) == 1
    assert f"{MANUAL.name}, page 6 of 8 · the passage is highlighted" in captions(at)
    assert any(b.label == "Hide page" for b in at.button)
    assert any(d.proto.label == "Download the original" for d in at.get("download_button"))


def test_the_documents_page_shows_any_page_of_a_document(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(data_dir, monkeypatch)
    at.switch_page("pages/documents.py")  # the start page opens first
    at.run()
    assert not at.exception and images(at) == []
    at.toggle(key="view_toggle").set_value(True).run()
    assert not at.exception
    assert len(images(at)) == 1 and f"{MANUAL.name}, page 1 of 8" in captions(at)
    [number] = [n for n in at.number_input if n.label == "Page"]
    number.set_value(3).run()
    assert len(images(at)) == 1 and f"{MANUAL.name}, page 3 of 8" in captions(at)
    table = at.dataframe[0].value
    assert list(table["OCR pages"]) == [0]
