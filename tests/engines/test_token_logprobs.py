"""Every engine hands on its answer's token log-probabilities (`GenerationStats.token_logprobs`), which the answer's
confidence reads: the embedded engine records them from its own sampler (checked against llama.cpp's own logprobs
for the same tokens), the openai engine and the Ollama engine ask the server for them and go on without them where
a server has none."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from core.config import Settings
from core.engines.base import GenerationRequest, Prompt
from core.engines.embedded import EmbeddedEngine
from core.engines.ollama_engine import OllamaEngine
from core.engines.openai_engine import OpenAIEngine
from tests.fakes.ollama_server import FakeOllamaServer
from tests.fakes.openai_server import FakeOpenAIServer

CONTEXT = (
    "Context: The AquaFlow DW-450 filter should be cleaned every 2 weeks.\n"
    "Question: How often should the filter be cleaned?\n"
    "Answer:"
)


def ask(model: str, completion: str = CONTEXT, **kw: object) -> GenerationRequest:
    messages = ({"role": "user", "content": completion},)
    return GenerationRequest(model=model, prompt=Prompt(completion=completion, messages=messages), **kw)  # type: ignore[arg-type]


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m",), reply="Every 2 weeks [1]") as server:
        yield server


def openai_engine(tmp_path: Path, url: str) -> OpenAIEngine:
    return OpenAIEngine(Settings.from_env(env={}, dotenv=None, data_dir=tmp_path, openai_base_url=url), env={})


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_the_openai_engine_asks_for_logprobs_and_keeps_one_per_token(
    tmp_path: Path, openai_fake: FakeOpenAIServer, stream: bool
) -> None:
    openai_fake.state.piece_logprob = -0.5
    generation = openai_engine(tmp_path, openai_fake.url).generate(ask("gemma-3-270m", max_tokens=20), stream=stream)
    assert "".join(generation) == "Every 2 weeks [1]"
    (sent,) = [r.body for r in openai_fake.requests_to("/v1/completions")]
    assert sent["logprobs"] == 2  # the completions API's count of alternatives per token: the chosen and one other
    # the fake sends one logprob per word-sized piece: 4 pieces whole or streamed, each with its likeliest other
    assert generation.stats.token_logprobs == [-0.5] * 4
    assert generation.stats.token_alternatives == [-2.0] * 4


def test_a_chat_request_asks_for_the_likeliest_other_token_and_keeps_it_beside_each_logprob(
    tmp_path: Path, openai_fake: FakeOpenAIServer
) -> None:
    # a model name that reads as an instruction model is asked through the chat API
    openai_fake.state.models = {"Llama-3.1-8B-Instruct": "Every 2 weeks [1]"}
    generation = openai_engine(tmp_path, openai_fake.url).generate(ask("Llama-3.1-8B-Instruct", max_tokens=20))
    assert "".join(generation) == "Every 2 weeks [1]"
    (sent,) = [r.body for r in openai_fake.requests_to("/v1/chat/completions")]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    assert generation.stats.token_logprobs == [-0.25] * 4
    assert generation.stats.token_alternatives == [-2.0] * 4


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_the_stop_token_a_server_reports_after_the_text_is_not_counted_as_the_answers(
    tmp_path: Path, openai_fake: FakeOpenAIServer, stream: bool
) -> None:
    # llama.cpp's server reports the logprob of the "\n" that matched a stop, a token the answer does not hold
    openai_fake.state.stop_token, openai_fake.state.piece_logprob = "\n", -0.5
    generation = openai_engine(tmp_path, openai_fake.url).generate(ask("gemma-3-270m", max_tokens=20), stream=stream)
    assert "".join(generation) == "Every 2 weeks [1]"
    assert generation.stats.token_logprobs == [-0.5] * 4  # the four pieces of the text, not the stop


def test_a_server_that_refuses_logprobs_still_answers_and_is_not_asked_for_them_again(
    tmp_path: Path, openai_fake: FakeOpenAIServer
) -> None:
    openai_fake.state.piece_logprob = None  # a 400 "logprobs is not supported…" to any request that asks
    engine = openai_engine(tmp_path, openai_fake.url)
    first = engine.generate(ask("gemma-3-270m", max_tokens=20))
    assert "".join(first) == "Every 2 weeks [1]"
    assert first.stats.token_logprobs is None
    second = engine.generate(ask("gemma-3-270m", max_tokens=20))
    assert "".join(second) == "Every 2 weeks [1]"
    asked = [bool(r.body.get("logprobs")) for r in openai_fake.requests_to("/v1/completions")]
    assert asked == [True, False, False]  # refused once, then the same request without; the next never asks


def test_ollama_logprobs_are_asked_for_and_kept_and_an_older_ollama_without_them_still_answers(
    tmp_path: Path, ollama_server: FakeOllamaServer
) -> None:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", ollama_host=ollama_server.url)
    gen = OllamaEngine(settings).generate(ask("gemma3:270m", max_tokens=64))
    text = "".join(gen)
    assert text and ollama_server.bodies("/api/chat")[0]["logprobs"] is True
    assert gen.stats.token_logprobs == [-0.25] * gen.stats.completion_tokens  # one per streamed piece
    assert gen.stats.token_alternatives == [-2.0] * gen.stats.completion_tokens
    ollama_server.find("gemma3:270m").logprob = None  # type: ignore[union-attr]  # an Ollama before 0.12.11
    older = OllamaEngine(settings).generate(ask("gemma3:270m", max_tokens=64))
    assert "".join(older) == text
    assert older.stats.token_logprobs is None


@pytest.mark.slow
def test_the_embedded_engine_records_the_same_logprobs_llama_cpp_gives_for_the_same_tokens(tmp_path: Path) -> None:
    engine = EmbeddedEngine(Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded"))
    gen = engine.generate(ask(engine.default_model, temperature=0.0, max_tokens=12))
    text = "".join(gen)
    recorded = gen.stats.token_logprobs
    assert text and recorded is not None
    # every sampled token but the last (the one that ends the answer is never seen by a later step)
    assert len(recorded) == gen.stats.completion_tokens - 1 and all(lp <= 0 for lp in recorded)
    # llama.cpp's own figures for the same greedy tokens, from a second copy of the model loaded the only way it
    # gives them (a logit row kept per position: 262k × 256 floats here)
    from llama_cpp import Llama

    reference = Llama(model_path=str(engine.gguf_path()), n_ctx=256, logits_all=True, verbose=False)
    reply = reference.create_completion(CONTEXT, max_tokens=12, temperature=0.0, logprobs=2)
    own = reply["choices"][0]["logprobs"]["token_logprobs"]  # type: ignore[index]
    assert own is not None and len(own) >= len(recorded)
    assert recorded == pytest.approx(own[: len(recorded)], abs=2e-3)
    # the likeliest other token at each step: the best of llama.cpp's two alternatives that is not the one written
    tops = reply["choices"][0]["logprobs"]["top_logprobs"]  # type: ignore[index]
    tokens = reply["choices"][0]["logprobs"]["tokens"]  # type: ignore[index]
    others = [max(v for k, v in top.items() if k != token) for top, token in zip(tops, tokens)]
    assert gen.stats.token_alternatives == pytest.approx(others[: len(recorded)], abs=2e-3)
