"""The embedded model reading retrieved passages for real (llama.cpp, the bundled Gemma 3 270M base)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.base.chunks import Chunk
from core.chat.answers import Answer
from core.chat.prompts import COMPLETION_STOPS, NOT_FOUND, REFUSAL_OPENINGS, rag_prompt
from core.chat.service import SECOND_LOOK_NOTE, AnswerStream, Question
from core.config import Settings
from core.engines.base import GenerationRequest, GenerationStats
from core.engines.embedded import EmbeddedEngine
from core.library.service import UploadedFile
from core.services import Services

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
LICENCE = ROOT / "sample_docs" / "software-license-agreement.docx"


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
    for question in (
        "How often should the filters be checked and cleaned?",
        "Which error code means the water supply is faulty?",
    ):
        answer = ask(manual, settings, question)
        body = answer.text.rsplit(" [", 1)[0].lower()
        for n in answer.cited:
            assert body in answer.sources[n - 1].text.lower() or all(
                w in answer.sources[n - 1].text.lower() for w in body.split()[:3]
            )
        assert answer.cited or answer.flags == ["unsupported"] or "not in the documents" in body


@pytest.mark.slow
def test_a_refusal_of_a_passage_that_holds_the_answer_gets_a_second_look_that_cites_it(
    services: Services, settings: Settings
) -> None:
    # The bundled model answers "not in the documents" to this one although the Affiliate definition is what it reads.
    (result,) = services.library.ingest("manuals", [UploadedFile(LICENCE.name, LICENCE.read_bytes())])
    assert result.status == "indexed"
    engine = EmbeddedEngine(settings)
    stream = services.chat.ask(
        Question(
            "What share of the voting shares defines control in the definition of Affiliate?",
            "rag",
            "manuals",
            engine.default_model,
            temperature=0.0,
            top_k=3,
        ),
        engine,
    )
    shown = "".join(stream)
    answer = stream.answer
    assert "50%" in answer.text and "not in the documents" not in shown.lower()  # the held-back refusal never showed
    assert answer.cited and "50%" in answer.sources[answer.cited[0] - 1].text
    assert SECOND_LOOK_NOTE in answer.warnings and answer.timings["second_look_ms"] > 0


@pytest.mark.slow
def test_a_banned_opening_is_never_the_first_token_of_the_answer(settings: Settings) -> None:
    # The worked examples' own refusal case: unbanned, the model answers with the refusal.
    passage = Chunk(
        "c1",
        "d",
        "terms.pdf",
        5,
        "This agreement is governed by the laws of Ontario. Notices must be sent by registered mail.",
        0.5,
    )
    prompt = rag_prompt("Who signed the agreement for the buyer?", [passage])
    engine = EmbeddedEngine(settings)
    model = engine.default_model
    free = "".join(engine.generate(GenerationRequest(model, prompt, COMPLETION_STOPS, 0.0, 16)))
    assert free.lower().startswith("not in the documents")
    banned = "".join(
        engine.generate(GenerationRequest(model, prompt, COMPLETION_STOPS, 0.0, 16, banned_openings=REFUSAL_OPENINGS))
    )
    assert banned.strip() and not banned.lower().startswith("not") and not banned.startswith("I could")


class _Scripted:
    """A generation that yields given pieces (what an engine streams), for the stream's own logic."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.stats = GenerationStats()

    def __iter__(self):
        for piece in self.pieces:
            self.stats.mark_token()
            yield piece
        self.stats.finish()


def _stream(first: list[str], again: list[str], asked: list[int], look_s: float = 0.0) -> AnswerStream:
    passage = Chunk(
        "c1", "d", "manual.pdf", 3, "Do not place more than 15 kg on the open door. The warranty lasts 24 months.", 0.5
    )
    answer = Answer("How long does the warranty last?", "", "rag", "embedded", "m", sources=[passage])

    def second_look() -> _Scripted:
        asked.append(1)
        time.sleep(look_s)  # an engine's time to read the prompt again
        return _Scripted(again)

    return AnswerStream(answer, _Scripted(first), 0.0, read=[passage.text], second_look=second_look)


def test_a_second_look_without_a_supported_short_answer_leaves_the_refusal_shown_once() -> None:
    asked: list[int] = []
    stream = _stream(["not", " in the", " documents"], ["Ontario law"], asked)
    assert "".join(stream) == "not in the documents" and asked == [1]
    assert stream.answer.text == "not in the documents" and stream.answer.warnings == [] and stream.answer.flags == []


def test_an_answer_that_starts_like_the_refusal_streams_whole_without_a_second_look() -> None:
    asked: list[int] = []
    stream = _stream(["not", " more than", " 15 kg"], ["24 months"], asked)
    assert "".join(stream).startswith("not more than 15 kg") and asked == []
    stream = _stream(["24", " months"], ["15 kg"], asked)
    assert "".join(stream) == "24 months [1]" and asked == []


def test_a_second_look_answer_replaces_the_held_back_refusal_and_is_cited() -> None:
    asked: list[int] = []
    stream = _stream(["not", " in the documents"], ["24 months"], asked)
    assert "".join(stream) == "24 months [1]" and asked == [1]
    assert stream.answer.cited == [1] and SECOND_LOOK_NOTE in stream.answer.warnings


def test_the_first_token_reported_for_a_second_look_answer_is_when_the_reader_saw_text() -> None:
    stream = _stream(["not", " in the documents"], ["24 months"], [], look_s=0.3)
    "".join(stream)
    timings = stream.answer.timings
    assert timings["held_back_ms"] >= 300  # the refusal was held while the prompt was answered again
    assert timings["first_token_ms"] >= timings["held_back_ms"] and timings["first_token_ms"] <= timings["total_ms"] + 1
    plain = _stream(["24", " months"], ["15 kg"], [], look_s=0.3)
    "".join(plain)
    assert plain.answer.timings["held_back_ms"] < 300  # nothing was held back for a second look
