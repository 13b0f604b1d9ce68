"""The fitted confidence on the real embedded model: a known misread of the sample documents is marked unsure, a
known right answer is not (llama.cpp, the bundled Gemma 3 270M base, the committed calibration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chat.answers import Answer
from core.chat.service import Question
from core.config import Settings
from core.library.service import UploadedFile
from core.services import Services

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [
    ROOT / "sample_docs" / name
    for name in ("aquaflow-dishwasher-manual.pdf", "diabetes-patient-guide.pdf", "software-license-agreement.docx")
]


@pytest.fixture
def samples(services: Services) -> Services:
    services.library.ingest("samples", [UploadedFile(p.name, p.read_bytes()) for p in SAMPLES])
    return services


def ask(svc: Services, settings: Settings, text: str) -> Answer:
    from core.engines.embedded import EmbeddedEngine

    engine = EmbeddedEngine(settings)
    question = Question(
        text, "rag", "samples", engine.default_model, temperature=0.0, top_k=settings.top_k, retrieval="fused"
    )
    stream = svc.chat.ask(question, engine)
    "".join(stream)
    return stream.answer


@pytest.mark.slow
def test_a_misread_phone_number_is_marked_unsure_and_a_right_answer_is_not(
    samples: Services, settings: Settings
) -> None:
    # The guide's advice line is 01632 960 427; the model answers with another number of the same passage.
    misread = ask(samples, settings, "What is the telephone number of the diabetes nurse advice line?")
    assert "01632 960 427" not in misread.text
    assert misread.confidence is not None and misread.confidence < settings.confidence_threshold
    assert "unsure" in misread.flags and misread.confidence_reason
    right = ask(samples, settings, "How often should the filters be checked and cleaned?")
    assert "once a week" in right.text.lower()
    assert right.confidence is not None and right.confidence >= settings.confidence_threshold
    assert "unsure" not in right.flags and right.confidence_reason == ""
