"""A new user loads the sample documents from the Start page or the Documents page (AppTest): the real ingestion runs
(its per-document progress is checked in tests/library/test_samples_progress.py), the 'samples' collection is chosen,
and the page moves on (Start: Chat is the next step; Documents: the collection and its documents are shown).

Embeddings come from tests/fakes/openai_server.py (a real HTTP server speaking the OpenAI-compatible API), so the real
ingestion runs without loading a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fresh_app(tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user's app: an empty data folder; answers and embeddings from the fake OpenAI-compatible server."""
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "openai")
    monkeypatch.setenv("DOMAINCHAT_OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("DOMAINCHAT_OPENAI_MODEL", "gemma-3-270m")
    monkeypatch.setenv("DOMAINCHAT_EMBEDDING_BACKEND", "openai")
    monkeypatch.setenv("DOMAINCHAT_EMBEDDING_MODEL", "gemma-3-270m")


def test_the_start_page_loads_the_samples_and_moves_on_to_chat(fresh_app: None) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Step 1 of 5: Documents") for s in at.subheader)
    load = next(b for b in at.button if b.key == "load_samples")
    load.click().run()
    assert not at.exception, at.exception
    assert at.session_state["collection"] == "samples"
    assert {r.status for r in at.session_state["last_results"]} == {"indexed"}
    # after the load the page ran again: Documents is done, Chat is next, and the button is gone
    assert any(s.value.startswith("Step 2 of 5: Chat") for s in at.subheader)
    assert not [b for b in at.button if b.key == "load_samples"]


def test_the_documents_page_loads_the_samples_and_shows_the_collection(fresh_app: None) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/documents.py").run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Load the sample documents").click().run()
    assert not at.exception, at.exception
    assert at.session_state["collection"] == "samples"
    assert any(s.value == "Collection: samples" for s in at.subheader)
    indexed = [s.value for s in at.success if "— indexed:" in s.value]
    assert len(indexed) == len(at.session_state["last_results"]) == 3
