"""One engine choice for the whole session: picked on the Chat page, it is the engine of the Fine-tune page's question
writer and of the Evaluate page, and a pick on Evaluate is the Chat page's choice again (AppTest, fake Ollama)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.services import build_services
from tests.fakes.ollama_server import FakeOllamaServer

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_picked_on_one_page_is_the_engine_of_every_page(
    tmp_path: Path,
    embedder,
    ollama_server: FakeOllamaServer,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data), embedder=embedder)
    svc.library.create_collection("manuals")
    svc.close()
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/chat.py").run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="engine_choice").value == "ollama"  # DOMAINCHAT_ENGINE until the user picks
    at.sidebar.selectbox(key="engine_choice").set_value("embedded").run()
    assert any("engine **embedded**" in c.value for c in at.caption)

    at.switch_page("pages/finetune.py").run()  # the Chat page's box is not drawn here: its choice still holds
    assert not at.exception, at.exception
    assert any("the chat's engine (embedded)" in c.value for c in at.caption)

    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    engine = at.selectbox(key="eval_engine")
    assert engine.value == "embedded"
    engine.set_value("ollama").run()
    assert not at.exception, at.exception

    at.switch_page("pages/chat.py").run()
    assert at.sidebar.selectbox(key="engine_choice").value == "ollama"
    assert any("engine **ollama**" in c.value for c in at.caption)
