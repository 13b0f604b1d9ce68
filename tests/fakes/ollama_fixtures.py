"""Pytest fixtures for the fake Ollama server; import them explicitly where they are used."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.fakes.ollama_server import FakeOllamaServer


@pytest.fixture
def ollama_server(tmp_path: Path) -> Iterator[FakeOllamaServer]:
    """A running fake Ollama holding `gemma3:270m` and `nomic-embed-text`; blobs land in tmp_path."""
    server = FakeOllamaServer(models=("gemma3:270m",), blob_dir=tmp_path / "ollama-blobs")
    server.add_model(
        "nomic-embed-text", family="nomic-bert", size=274_302_450, context_length=2048, capabilities=("embedding",)
    )
    with server:
        yield server
