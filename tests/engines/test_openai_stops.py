"""Stop sequences on servers that take only four: the first four are sent, every one is enforced by the engine.

OpenAI's API and TGI refuse more than four stop sequences; the app's completion prompts carry more (a RAG prompt:
the engine's two and its own six). The fake OpenAI-protocol server ignores stops and sends its whole canned reply in
word-sized pieces, so what it replies past a stop shows whether the engine cut it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from core.chat.prompts import COMPLETION_STOPS
from core.config import Settings
from core.engines.base import GenerationRequest, Prompt
from core.engines.openai_engine import MAX_SENT_STOPS, OpenAIEngine
from tests.fakes.openai_server import FakeOpenAIServer

RAG_LIKE = Prompt(
    completion="Context: [1] Check and clean the filters once a week.\nQuestion: How often?\nAnswer:",
    messages=({"role": "user", "content": "How often?"},),
    completion_stops=COMPLETION_STOPS,
)


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "Llama-3.1-8B-Instruct")) as server:
        yield server


def engine(tmp_path: Path, url: str) -> OpenAIEngine:
    return OpenAIEngine(Settings.from_env(env={}, dotenv=None, data_dir=tmp_path, openai_base_url=url), env={})


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_a_completion_prompt_sends_four_stops_and_the_answer_still_ends_at_a_later_one(
    tmp_path: Path, fake: FakeOpenAIServer, stream: bool
) -> None:
    # "\nAnswer:" is the prompt's sixth stop, never sent to the server: the engine must cut there itself
    fake.state.models["gemma-3-270m"] = "Once a week [1]\nAnswer: Every day, and the manual says so."
    request = GenerationRequest(model="gemma-3-270m", prompt=RAG_LIKE, max_tokens=40)
    generation = engine(tmp_path, fake.url).generate(request, stream=stream)
    assert "".join(generation) == "Once a week [1]"
    assert generation.finish_reason == "stop"
    (sent,) = [r.body for r in fake.requests_to("/v1/completions")]
    assert len(sent["stop"]) == MAX_SENT_STOPS == 4
    assert sent["stop"] == ["\n\n", "Question:", "\nContext", "<documents>"]


def test_a_stop_split_across_two_streamed_pieces_is_still_found(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    # the fake streams word by word, so a stop of three words arrives in three pieces
    fake.state.models["gemma-3-270m"] = "Setting 2 Question: what else is there?"
    request = GenerationRequest(model="gemma-3-270m", prompt=RAG_LIKE, max_tokens=40, stop=("Setting 2 Question",))
    pieces = list(engine(tmp_path, fake.url).generate(request))
    assert pieces == []  # the stop begins the reply: nothing of it is shown, although it came in three pieces


def test_a_chat_request_with_five_stops_sends_four_and_cuts_at_the_fifth(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    fake.state.models["Llama-3.1-8B-Instruct"] = "Teal with orange stripes. END Anything after it."
    stops = ("<a>", "<b>", "<c>", "<d>", " END")
    request = GenerationRequest(model="Llama-3.1-8B-Instruct", prompt=RAG_LIKE, max_tokens=40, stop=stops)
    generation = engine(tmp_path, fake.url).generate(request)
    assert "".join(generation) == "Teal with orange stripes."
    (sent,) = [r.body for r in fake.requests_to("/v1/chat/completions")]
    assert sent["stop"] == ["<a>", "<b>", "<c>", "<d>"]


def test_text_that_only_looks_like_the_start_of_a_stop_is_shown_in_full(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    # "Question" without its colon, and a single newline, each begin a stop but are not one
    fake.state.models["gemma-3-270m"] = "The Question is answered on page 6\nof the manual"
    request = GenerationRequest(model="gemma-3-270m", prompt=RAG_LIKE, max_tokens=40)
    assert "".join(engine(tmp_path, fake.url).generate(request)) == "The Question is answered on page 6\nof the manual"
