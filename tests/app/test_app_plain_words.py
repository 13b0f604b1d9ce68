"""A new user's words (AppTest): the sidebar says which engine answers and why, and the Chat and Evaluate pages show
no internal word ("arm", "hit@k", "fused") in their labels, captions, help texts, options or table headers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from core.base.questions import EvalQuestion
from core.config import Settings
from core.evaluation.runs import EvalConfig
from core.index.embeddings import SentenceTransformerEmbedder
from core.library.service import UploadedFile
from core.services import build_services
from tests.helpers.chroma_server import free_port

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
JARGON = re.compile(r"\b(arms?|hit@k|fused)\b", re.IGNORECASE)
# The proto fields that reach the screen: a widget's label, help, options and placeholder, a text's body, a table's
# column settings (its headers and their help).
SHOWN_FIELDS = ("label", "help", "options", "placeholder", "body", "columns", "default_label", "text")


def default_configuration(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    """The app as a new user starts it: engine `auto`, no server URL, and no Ollama where it would listen."""
    for name in ("DOMAINCHAT_ENGINE", "DOMAINCHAT_OPENAI_BASE_URL", "DOMAINCHAT_GGUF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{free_port()}")  # nothing answers there, on any machine
    monkeypatch.chdir(ROOT)


def shown_texts(at: AppTest) -> Iterator[str]:
    """Every text the page puts on screen, from the main area and the sidebar."""

    def walk(node: Any) -> Iterator[Any]:
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    for node in walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        for field, value in proto.ListFields():
            if field.name in SHOWN_FIELDS:
                yield from ([value] if isinstance(value, str) else [v for v in value if isinstance(v, str)])
    for table in [*at.dataframe, *at.table]:
        yield from (str(c) for c in table.value.columns)  # headers shown as the data names them


def jargon(at: AppTest) -> list[str]:
    return sorted({text for text in shown_texts(at) if JARGON.search(text)})


def test_the_sidebar_names_the_engine_and_why_on_a_default_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_configuration(monkeypatch, tmp_path / "data")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    (line,) = [c.value for c in at.sidebar.caption if "Engine:" in c.value]
    plain = line.replace("\\", "")  # the Markdown escapes of the setting's underscores
    assert "Engine: **embedded** (bundled Gemma 3 270M, in this process)" in plain
    assert "auto: no OpenAI-compatible server is set (DOMAINCHAT_OPENAI_BASE_URL), and no Ollama answers at" in plain
    assert "choose the embedded engine" not in plain  # never advice to pick the engine already in use

    at.switch_page("pages/chat.py").run()  # a pick in the Engine box is the sidebar's engine at once, with its reason
    at.sidebar.selectbox(key="engine_choice").set_value("ollama").run()
    assert not at.exception, at.exception
    (line,) = [c.value for c in at.sidebar.caption if "Engine:" in c.value]
    assert "Engine: **ollama**" in line and "chosen in the Engine box" in line
    assert not [c.value for c in at.sidebar.caption if "choose the embedded engine" in c.value]


def test_chat_and_evaluate_show_no_internal_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: SentenceTransformerEmbedder
) -> None:
    data = tmp_path / "data"
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded")
    svc = build_services(settings, embedder=embedder)
    try:
        svc.library.ingest("samples", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
        # one finished run, so the Results tab draws its grid, charts and tables (two short questions, two modes)
        questions = svc.evaluation.load_question_set("sample:aquaflow-dishwasher-manual.questions.jsonl")[:2]
        assert all(isinstance(q, EvalQuestion) for q in questions)
        config = EvalConfig(collection="samples", arms=["base", "rag"], engine="embedded", max_tokens=16)
        assert svc.evaluation.run(config, questions, poll_s=0.5).rows
    finally:
        svc.close()
    default_configuration(monkeypatch, data)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)

    at.switch_page("pages/chat.py").run()
    at.sidebar.toggle(key="compare").set_value(True).run()
    assert not at.exception, at.exception
    assert "keywords + meaning" in at.sidebar.radio(key="retrieval").options  # the value stays `fused` underneath
    assert jargon(at) == []

    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception
    at.radio[0].set_value("Sample questions").run()
    assert any(s.value == "The grid" for s in at.subheader)  # the Results tab drew the run
    texts = set(shown_texts(at))
    # the scan reads what is on screen: a pills label, a help text, a table header set by its column settings
    assert "Modes to score" in texts and any("rag: the model + passages" in t for t in texts)
    assert any('"questions about"' in t for t in texts)
    assert jargon(at) == []
