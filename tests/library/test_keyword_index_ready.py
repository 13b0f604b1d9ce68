"""An ingest ends with the keyword index built and saved whole, so the first question after it neither rebuilds the
index nor replays its journal; a question that still has to wait for it (after a restart) is told so first.

Embeddings and answers come from tests/fakes/openai_server.py (a real HTTP server speaking the OpenAI-compatible API,
hash-derived vectors), so no model is loaded; Chroma, the parser process and the keyword index are the real ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from core.chat.service import Question
from core.library.service import Progress, UploadedFile
from core.library.types import KEYWORD_INDEX
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer, settings_on_fake

FILES = {
    "filter.txt": "Clean the dishwasher filter every 2 weeks under running water.",
    "errors.txt": "Error E42 means the circulation pump is blocked: remove the pump cover.",
    "warranty.txt": "The warranty lasts two years from the date of purchase.",
}


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def test_an_ingest_leaves_the_keyword_index_loaded_and_compacted_so_the_first_search_rebuilds_nothing(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    data = tmp_path / "data"
    svc = build_services(settings_on_fake(data, fake.url))
    try:
        events: list[Progress] = []
        results = svc.library.ingest(
            "manuals", [UploadedFile(n, t.encode()) for n, t in FILES.items()], progress=events.append
        )
        assert [r.status for r in results] == ["indexed"] * 3
        chunks = svc.store.count("manuals")
        # the run's last report is the keyword step, with the chunk count the page shows
        assert events[-1] == Progress(KEYWORD_INDEX, "keywords", detail=f"{chunks:,} chunks")
        index = svc.store.keywords.loaded("manuals")
        assert index is not None and index.live == chunks == 3
        folder = data / "keywords" / "manuals"
        assert (folder / "index.npz").is_file() and not (folder / "journal.jsonl").exists()  # nothing left to replay
        assert svc.store.keywords.next_search("manuals") == "ready"
        assert svc.retriever.keyword_wait("manuals", "fused") == ""
        hits = svc.store.keyword_search("manuals", "E42 pump", 3)
        assert svc.store.keywords.loaded("manuals") is index  # the same index answered: not rebuilt, not replayed
        assert hits[0][0] in svc.store.chunk_ids("manuals", results[1].doc_id)
    finally:
        svc.close()
    # After a restart the first question reads the one snapshot (no journal to replay), and says so.
    again = build_services(settings_on_fake(data, fake.url))
    try:
        assert again.store.keywords.next_search("manuals") == "load"
        assert again.retriever.keyword_wait("manuals", "fused") == (
            "Loading the keyword index of 'manuals' (3 chunks): once after the app starts."
        )
        assert again.retriever.keyword_wait("manuals", "dense") == ""  # dense retrieval never waits for it
    finally:
        again.close()


def test_a_question_that_must_build_the_keyword_index_says_so_before_it_waits(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    data = tmp_path / "data"
    svc = build_services(settings_on_fake(data, fake.url))
    try:
        svc.library.ingest("manuals", [UploadedFile(n, t.encode()) for n, t in FILES.items()])
    finally:
        svc.close()
    # The index's files gone (a data folder from before they were kept, or removed by hand): it is built from the store.
    shutil.rmtree(data / "keywords" / "manuals")
    again = build_services(settings_on_fake(data, fake.url))
    try:
        assert again.store.keywords.next_search("manuals") == "build"
        said: list[str] = []
        chat = again.chat.history.new("manuals")
        question = Question("How long does the warranty last?", "rag", "manuals", "gemma-3-270m", retrieval="fused")
        with again.chat.turn(chat, question, "openai", on_wait=said.append) as turn:
            assert said == [
                "Building the keyword index of 'manuals' (3 chunks) before searching: once, the next questions will "
                "not wait."
            ]
            answer = "".join(turn)
        assert answer and again.store.keywords.next_search("manuals") == "ready"
        # the next question is not held up: nothing is said
        with again.chat.turn(chat, question, "openai", on_wait=said.append) as turn:
            "".join(turn)
        assert len(said) == 1
    finally:
        again.close()
