"""Loading the sample documents says which document is being indexed and how many are finished, one report per step,
from the real ingestion of sample_docs/ (the parser process, Chroma and the keyword index are the real ones).

Embeddings come from tests/fakes/openai_server.py (a real HTTP server speaking the OpenAI-compatible API,
hash-derived vectors), so no model is loaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from core.config import Settings
from core.library.samples import SAMPLE_COLLECTION, SamplesStep, sample_uploads
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def test_loading_the_samples_reports_each_document_by_number_and_the_keyword_index_last(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    settings = Settings.from_env(
        env={},
        dotenv=None,
        data_dir=tmp_path / "data",
        embedding_backend="openai",
        embedding_model="gemma-3-270m",
        openai_base_url=fake.url,
    )
    names = [u.name for u in sample_uploads()]
    assert len(names) >= 3
    svc = build_services(settings)
    steps: list[SamplesStep] = []
    try:
        results = svc.library.load_samples(progress=steps.append)
        assert [r.name for r in results] == names and {r.status for r in results} == {"indexed"}
        assert svc.store.count(SAMPLE_COLLECTION) == sum(r.chunks for r in results)
    finally:
        svc.close()
    total = len(names)
    assert all(s.total == total for s in steps)
    # every document is named with its number while it is worked on, then counted as indexed
    for number, name in enumerate(names, 1):
        assert any(s.message.startswith(f"Indexing {number} of {total}: {name} (") for s in steps), name
    finished = [s for s in steps if s.message.startswith("Indexed ")]
    assert [s.done for s in finished] == list(range(1, total + 1))
    assert all(re.fullmatch(rf"Indexed {s.done} of {total}: .+", s.message) for s in finished)
    assert {s.message.split(": ", 1)[1] for s in finished} == set(names)
    # the bar only moves forward, and the last step is the keyword index with the collection's chunk count
    assert [s.done for s in steps] == sorted(s.done for s in steps)
    chunks = sum(r.chunks for r in results)
    assert steps[-1] == SamplesStep(f"Building the keyword index ({chunks:,} chunks)", total, total)
    assert steps[-1].share == 1.0 and steps[0].share < 1.0
