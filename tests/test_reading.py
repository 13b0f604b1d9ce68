"""The embedded model reading retrieved passages for real (llama.cpp, the bundled Gemma 3 270M base)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chat import Question
from core.config import Settings
from core.library import UploadedFile
from core.prompts import NOT_FOUND
from core.services import Services

ROOT = Path(__file__).resolve().parents[1]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"


@pytest.fixture
def manual(services: Services) -> Services:
    (result,) = services.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
    assert result.status == "indexed"
    return services


def ask(svc: Services, settings: Settings, text: str):
    from core.engines.embedded import EmbeddedEngine

    engine = EmbeddedEngine(settings)
    stream = svc.chat.ask(Question(text, "rag", "manuals", engine.default_model, temperature=0.0, top_k=3), engine)
    "".join(stream)
    return stream.answer


@pytest.mark.slow
def test_the_answer_is_one_short_line_cited_to_the_passage_that_holds_it(manual: Services, settings: Settings) -> None:
    answer = ask(manual, settings, "What is the maximum weight that may be placed on the open door of the dishwasher?")
    assert "15 kg" in answer.text
    assert "\n" not in answer.text and "Answer:" not in answer.text and len(answer.text.split()) <= 12
    assert answer.cited and "15 kg" in answer.sources[answer.cited[0] - 1].text
    assert answer.flags == []


@pytest.mark.slow
def test_a_question_the_manual_never_addresses_is_refused_not_answered(manual: Services, settings: Settings) -> None:
    answer = ask(manual, settings, "What is the capital city of Australia?")
    assert answer.text.startswith(NOT_FOUND) or "not in the documents" in answer.text.lower()
    assert answer.cited == []


@pytest.mark.slow
def test_every_citation_points_at_a_passage_holding_the_answer(manual: Services, settings: Settings) -> None:
    for question in ("How often should the filters be checked and cleaned?", "Which error code means the water supply is faulty?"):
        answer = ask(manual, settings, question)
        body = answer.text.rsplit(" [", 1)[0].lower()
        for n in answer.cited:
            assert body in answer.sources[n - 1].text.lower() or all(w in answer.sources[n - 1].text.lower() for w in body.split()[:3])
        assert answer.cited or answer.flags == ["unsupported"] or "not in the documents" in body
