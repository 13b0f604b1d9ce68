"""Shared fixtures: settings on a temp data dir, one embedding model per session, services."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.config import Settings  # noqa: E402
from core.index.embeddings import SentenceTransformerEmbedder  # noqa: E402
from core.services import Services, build_services  # noqa: E402
from tests.fakes.ollama_fixtures import ollama_server  # noqa: E402,F401

# The session's one real training run, shared by the fine-tuning and the evaluation tests.
from tests.helpers.trained_variant import base_gguf, hf_cache, trained  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_docs"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real bundled all-MiniLM-L6-v2, loaded once for the whole run."""
    return SentenceTransformerEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data directory, with no .env and no environment leaking in."""
    return Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded")


@pytest.fixture
def services(settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[Services]:
    """Services on a real on-disk Chroma under the temp data dir."""
    svc = build_services(settings, embedder=embedder)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests leave artefacts worth looking at (screenshots)."""
    path = ROOT / "test-output"
    path.mkdir(exist_ok=True)
    return path


# Fixtures that load the real embedding model, the real engine or the session's training run: a test that uses one
# is `slow` whatever its file says, so `make check` (`-m "not slow"`) never pays for a model.
REAL_MODEL_FIXTURES = frozenset({"embedder", "services", "trained", "base_gguf", "hf_cache", "both"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark as slow every test that uses a real-model fixture."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def release_app_services() -> Iterator[None]:
    """After a test that ran the app in-process (AppTest), close and drop the services bundles it cached.

    Streamlit's resource cache is process-wide: left alone, every AppTest's bundle (models, index, parser
    process) stays for the rest of the run, and the suite's memory grows past what a CI machine has.
    """
    yield
    import sys

    if "ui.common" in sys.modules:  # only once some test has run the app
        import streamlit as st

        st.cache_resource.clear()
