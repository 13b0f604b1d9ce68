"""Retrieval recorded where the index is open gives the background job exactly what the real retriever gives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.base.chunks import Chunk
from core.errors import EvaluationError
from core.evaluation.recorded import RecordedRetriever, record_retrievals
from core.library.service import UploadedFile
from core.services import Services

MANUAL = Path(__file__).resolve().parents[2] / "sample_docs" / "aquaflow-dishwasher-manual.pdf"


def _same_passages(a: list[Chunk], b: list[Chunk]) -> bool:
    """Same passages in the same order, scores equal to float rounding.

    A question is embedded on one or two threads, picked by how busy the machine is (core/cpu.py), and
    on PyTorch or onnxruntime; the vectors agree to ~1e-7, not bit for bit (CI saw 0.1849233 against 0.1849234).
    """
    return [replace(c, similarity=0.0) for c in a] == [replace(c, similarity=0.0) for c in b] and [
        c.similarity for c in a
    ] == pytest.approx([c.similarity for c in b], abs=1e-5)


def test_recorded_retrieval_replays_the_real_one(services: Services) -> None:
    services.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
    questions = [
        "How often should the filters be cleaned?",
        "What is the maximum weight on the open door?",
        "How often should the filters be cleaned?",
    ]
    records = record_retrievals(services.retriever, "manuals", questions, 3, "fused")
    assert len(records) == 2  # one per distinct question
    replay = RecordedRetriever(json.loads(json.dumps(records)))  # as it travels in the job's config.json
    for q in questions[:2]:
        real = services.retriever.search("manuals", q, 3, "fused")
        again = replay.search("manuals", q, 3, "fused")
        assert _same_passages(again.chunks, real.chunks)
        assert again.best_similarity == pytest.approx(real.best_similarity, abs=1e-5)
        assert again.method == real.method
    with pytest.raises(EvaluationError, match="No recorded retrieval"):
        replay.search("manuals", questions[0], 5, "fused")


def test_the_job_builds_the_apps_chat_service_on_the_recorded_retrieval(tmp_path: Path) -> None:
    from core.chat.service import ChatService
    from core.config import Settings
    from core.evaluation.job import job_chat_service

    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path, engine="embedded")
    chat = job_chat_service(settings, [], None)
    assert isinstance(chat, ChatService) and isinstance(chat.retriever, RecordedRetriever)
    assert chat.engines.resolve("embedded").name == "embedded"
