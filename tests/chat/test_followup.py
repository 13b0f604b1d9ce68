"""Follow-up questions become standalone before retrieval: real Chroma, the real embedding model, the real
Ollama client against the Ollama-protocol test server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.chat.followup import Turn, looks_like_followup, recent_turns, rule_rewrite
from core.chat.history import ChatHistory
from core.chat.prompts import NOT_FOUND
from core.chat.service import Question
from core.config import Settings
from core.engines.ollama_engine import OllamaEngine
from core.library.service import UploadedFile
from core.services import Services
from tests.fakes.ollama_server import FakeOllamaServer

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"

# (earlier question, follow-up, the follow-up as a person would write it standalone): each follow-up alone
# retrieves another passage first (checked below), so only a working rewrite passes.
CASES = [
    (
        "How often should the filters be checked and cleaned?",
        "and how do I put them back?",
        "How do I put the filters back?",
    ),
    ("How do I clean the spray arms?", "How often should I do that?", "How often should I clean the spray arms?"),
]


@pytest.fixture
def indexed(services: Services) -> Services:
    (result,) = services.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
    assert result.status == "indexed"
    return services


def top_passage(svc: Services, text: str, method: str = "dense") -> str:
    return svc.retriever.search("manuals", text, 3, method).chunks[0].chunk_id  # type: ignore[arg-type]


def ask_followup(
    svc: Services,
    earlier: str,
    followup: str,
    *,
    follow_up: bool = True,
    engine: str | OllamaEngine = "embedded",
    method: str = "dense",
):
    question = Question(
        followup,
        "rag",
        "manuals",
        "gemma3:270m",
        temperature=0.0,
        retrieval=method,  # type: ignore[arg-type]
        history=(Turn(earlier, "…"),),
        follow_up=follow_up,
    )
    return svc.chat.ask(question, engine).answer  # sources and the searched question are known before generating


@pytest.mark.parametrize("method", ["dense", "fused"])
@pytest.mark.parametrize("earlier,followup,standalone", CASES)
def test_a_followup_retrieves_the_passage_its_standalone_form_retrieves(
    indexed: Services, earlier: str, followup: str, standalone: str, method: str
) -> None:
    assert top_passage(indexed, followup, method) != top_passage(indexed, standalone, method)  # the case is a real test
    answer = ask_followup(indexed, earlier, followup, method=method)
    assert answer.rewritten_by == "rule"  # the embedded base model is too small to rewrite
    assert answer.sources[0].chunk_id == top_passage(indexed, standalone, method)
    assert answer.standalone and answer.standalone != followup and answer.question == followup


def test_switched_off_the_question_is_searched_as_typed(indexed: Services) -> None:
    earlier, followup, _ = CASES[1]
    off = ask_followup(indexed, earlier, followup, follow_up=False)
    assert off.standalone == "" and off.rewritten_by == ""
    # "How often should I do that?" alone is close to nothing in the manual: no passage, no answer generated
    typed = indexed.retriever.search("manuals", followup, 4, "dense")
    assert (
        off.text.startswith(NOT_FOUND)
        and not off.sources
        and f"best similarity {typed.best_similarity:.2f}" in off.text
    )
    on = ask_followup(indexed, earlier, followup)
    assert on.sources and on.standalone


def test_a_question_that_stands_alone_is_not_rewritten(indexed: Services) -> None:
    answer = ask_followup(indexed, CASES[0][0], "What is the factory setting of the water softener?")
    assert answer.standalone == "" and answer.sources[0].page == 5


def test_the_ollama_model_rewrites_the_followup_from_the_recent_turns(
    indexed: Services, ollama_server: FakeOllamaServer, settings: Settings
) -> None:
    earlier, followup, standalone = CASES[0]
    ollama_server.find("gemma3:270m").reply = f"Standalone question: {standalone}\nExtra line the model should not add."
    engine = OllamaEngine(dataclasses.replace(settings, ollama_host=ollama_server.url, engine="ollama"))
    answer = ask_followup(indexed, earlier, followup, engine=engine)
    assert answer.rewritten_by == "model" and answer.standalone == standalone
    assert answer.sources[0].chunk_id == top_passage(indexed, standalone)
    (rewrite_request,) = ollama_server.bodies("/api/chat")  # the answer itself is not generated until iterated
    assert rewrite_request["model"] == "gemma3:270m"
    system, user = rewrite_request["messages"]
    assert "standalone" in user["content"].lower() and "rewrite" in system["content"]
    assert f"User: {earlier}" in user["content"] and f"Last question: {followup}" in user["content"]


def test_an_unusable_model_reply_falls_back_to_the_rule(
    indexed: Services, ollama_server: FakeOllamaServer, settings: Settings
) -> None:
    earlier, followup, standalone = CASES[0]
    ollama_server.find("gemma3:270m").reply = "\n\n"
    engine = OllamaEngine(dataclasses.replace(settings, ollama_host=ollama_server.url, engine="ollama"))
    answer = ask_followup(indexed, earlier, followup, engine=engine)
    assert answer.rewritten_by == "rule" and answer.standalone == standalone


def test_compare_rewrites_once_and_every_mode_answers_the_standalone_question(indexed: Services) -> None:
    earlier, followup, standalone = CASES[0]
    question = Question(followup, "rag", "manuals", "gemma3:270m", history=(Turn(earlier),))
    comparison = indexed.chat.compare(question, ["base", "rag"], "embedded")
    assert [a.standalone for a in comparison.answers] == [standalone, standalone]
    assert all(a.question == followup for a in comparison.answers)
    assert comparison.answers[1].sources[0].chunk_id == top_passage(indexed, standalone)


@pytest.mark.parametrize(
    "followup,expected",
    [
        ("How do I remove them?", "How do I remove the filters?"),
        ("and how often for the cutlery basket?", "How often should the cutlery basket be checked and cleaned?"),
        ("what about the spray arms?", "How often should the spray arms be checked and cleaned?"),
        ("And how do I clean the spray arms?", "How do I clean the spray arms?"),
        ("Why?", "Why? (How often should the filters be checked and cleaned?)"),
    ],
)
def test_the_rule_puts_the_earlier_subject_into_the_followup(followup: str, expected: str) -> None:
    assert looks_like_followup(followup)
    assert rule_rewrite(followup, "How often should the filters be checked and cleaned?") == expected


def test_the_rule_keeps_the_verb_after_the_subject() -> None:
    assert (
        rule_rewrite("and the Eco 50° programme?", "How long does the Intensive 70° programme take?")
        == "How long does the Eco 50° programme take?"
    )


def test_recent_turns_carry_the_searched_form_of_earlier_questions(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path)
    chat = history.new("manuals")
    chat.messages = [
        {"role": "user", "content": "How often should the filters be checked and cleaned?"},
        {"role": "assistant", "content": "Once a week.", "mode": "rag"},
        {"role": "user", "content": "and how do I put them back?"},
        {"role": "assistant", "content": "Turn it clockwise.", "standalone": "How do I put the filters back?"},
    ]
    turns = recent_turns(chat.messages)
    assert turns == (
        Turn("How often should the filters be checked and cleaned?", "Once a week."),
        Turn("How do I put the filters back?", "Turn it clockwise."),
    )
    assert recent_turns(chat.messages, limit=1) == turns[1:]
