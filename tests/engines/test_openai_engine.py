"""The openai engine through the real `openai` client: against llama-cpp-python's own OpenAI-compatible server serving
the bundled Gemma 3 270M (marked slow: a real server and a real model), and against a small HTTP server speaking the
same protocol for the answers a real local server cannot be made to give (401, 429, 503, a stream that breaks)."""

from __future__ import annotations

import dataclasses
import logging
import math
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Iterator

import pytest

from core.base.chunks import Chunk
from core.chat.prompts import rag_prompt
from core.config import Settings
from core.engines.base import GenerationRequest, Prompt
from core.engines.embedded import DEFAULT_COMPLETION_STOPS, EmbeddedEngine
from core.engines.openai_engine import OpenAIEngine, detect_prompt_form, normalize_base_url
from core.errors import (
    ConfigError,
    ContextLengthError,
    EmbeddingModelMismatchError,
    EngineAuthError,
    EngineBusyError,
    EngineUnavailableError,
    GenerationInterruptedError,
    ModelNotFoundError,
)
from core.index.embeddings import OpenAIEmbedder, embedder_label, make_embedder
from core.index.retrieval import Retriever
from core.index.store import VectorStore
from tests.fakes.openai_server import DEFAULT_REPLY, Failure, FakeOpenAIServer, StreamBreak
from tests.helpers.openai_server import BASE_ALIAS, EMBED_ALIAS, LlamaCppServer, ServedGGUF

SECRET = "sk-test-9f8e7d6c5b4a39281706"
CONTEXT_PROMPT = Prompt(
    completion="Context: The AquaFlow DW-450 filter should be cleaned every 2 weeks.\n"
    "Question: How often should the filter be cleaned?\nAnswer:",
    messages=(
        {"role": "system", "content": "Answer from the context."},
        {
            "role": "user",
            "content": "Context: The AquaFlow DW-450 filter should be cleaned every 2 weeks.\n"
            "Question: How often should the filter be cleaned?",
        },
    ),
)


def make_settings(tmp_path: Path, url: str, **overrides: object) -> Settings:
    return Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", openai_base_url=url, **overrides)


def request(model: str = "gemma-3-270m", prompt: Prompt = CONTEXT_PROMPT, **kw: object) -> GenerationRequest:
    return GenerationRequest(model=model, prompt=prompt, **kw)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "Llama-3.1-8B-Instruct", "embed-small")) as server:
        yield server


# -- settings, addresses, prompt forms --------------------------------------------------------------


def test_base_url_gets_a_scheme_and_v1_and_loses_its_trailing_slash() -> None:
    assert normalize_base_url("gpu-box:8000") == "http://gpu-box:8000/v1"
    assert normalize_base_url("http://127.0.0.1:1234/v1/") == "http://127.0.0.1:1234/v1"
    assert normalize_base_url("https://llm.example.org/openai/v1") == "https://llm.example.org/openai/v1"


def test_prompt_form_is_read_from_the_model_names() -> None:
    for chat in ("Llama-3.1-8B-Instruct", "gemma-3-270m-it", "qwen2.5:7b-instruct-q4_K_M", "Qwen2.5-7B-Chat"):
        assert detect_prompt_form([chat])[0] == "chat", chat
    for base in ("gemma-3-270m", "domainchat-manual-ft", "Mistral-7B-v0.3", "llama-3.1-8b"):
        form, reason = detect_prompt_form([base])
        assert form == "completion", base
        assert "DOMAINCHAT_OPENAI_PROMPT_FORM=chat" in reason
    # vLLM names the model it serves under an alias (`root`): that name counts too.
    assert detect_prompt_form(["team-model", "meta-llama/Llama-3.1-8B-Instruct"])[0] == "chat"


def test_settings_refuse_an_unknown_prompt_form_and_an_openai_embedder_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DOMAINCHAT_OPENAI_PROMPT_FORM"):
        make_settings(tmp_path, "http://127.0.0.1:8000/v1", openai_prompt_form="raw")
    with pytest.raises(ConfigError, match="DOMAINCHAT_EMBEDDING_MODEL"):
        Settings.from_env(env={"DOMAINCHAT_EMBEDDING_BACKEND": "openai"}, dotenv=None)
    with pytest.raises(ConfigError, match="DOMAINCHAT_OPENAI_MAX_CONCURRENCY"):
        make_settings(tmp_path, "http://127.0.0.1:8000/v1", openai_max_concurrency=0)


# -- requests, against the protocol server ----------------------------------------------------------


def test_a_base_model_gets_the_completion_prompt_and_stops(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    engine = OpenAIEngine(make_settings(tmp_path, fake.url), env={})
    prompt = dataclasses.replace(CONTEXT_PROMPT, completion_stops=("\n", "(manual.pdf"))
    generation = engine.generate(request(prompt=prompt, stop=("\n\n",), temperature=0.0, max_tokens=40, seed=7))
    pieces = list(generation)
    assert "".join(pieces) == generation.text == DEFAULT_REPLY
    assert generation.mode == "completion" and "no instruction marker" in generation.mode_reason
    (sent,) = [r.body for r in fake.requests_to("/v1/completions")]
    assert sent["prompt"] == prompt.completion and sent["model"] == "gemma-3-270m"
    assert sent["stop"] == list(dict.fromkeys(["\n\n", *DEFAULT_COMPLETION_STOPS, "\n", "(manual.pdf"]))
    assert (sent["max_tokens"], sent["temperature"], sent["seed"], sent["stream"]) == (40, 0.0, 7, True)
    assert sent["stream_options"] == {"include_usage": True}
    assert fake.requests_to("/v1/chat/completions") == []


def test_an_instruction_model_gets_the_chat_messages(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    engine = OpenAIEngine(make_settings(tmp_path, fake.url), env={})
    generation = engine.generate(request(model="Llama-3.1-8B-Instruct"))
    assert "".join(generation) == DEFAULT_REPLY
    assert generation.mode == "chat" and "'instruct'" in generation.mode_reason
    (sent,) = [r.body for r in fake.requests_to("/v1/chat/completions")]
    assert sent["messages"] == [dict(m) for m in CONTEXT_PROMPT.messages]
    assert "stop" not in sent  # no stop asked for: the chat template ends the answer


def test_the_prompt_form_setting_overrides_the_names(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    engine = OpenAIEngine(make_settings(tmp_path, fake.url, openai_prompt_form="chat"), env={})
    generation = engine.generate(request(model="gemma-3-270m"))
    list(generation)
    assert generation.mode == "chat" and generation.mode_reason == "set by DOMAINCHAT_OPENAI_PROMPT_FORM=chat"
    assert len(fake.requests_to("/v1/chat/completions")) == 1 and fake.requests_to("/v1/completions") == []


def test_streamed_timings_and_token_counts_come_from_the_servers_usage(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    generation = OpenAIEngine(make_settings(tmp_path, fake.url), env={}).generate(request())
    list(generation)
    stats = generation.stats
    words = len(DEFAULT_REPLY.split())
    assert stats.completion_tokens == words  # the fake's usage: one token per word
    assert stats.prompt_tokens == math.ceil(len(CONTEXT_PROMPT.completion) / 4)
    assert stats.first_token_ms is not None and stats.total_ms is not None
    assert 0 < stats.first_token_ms <= stats.total_ms
    assert stats.served_model == "gemma-3-270m"
    assert generation.finish_reason == "stop"


def test_a_whole_answer_is_one_piece(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    generation = OpenAIEngine(make_settings(tmp_path, fake.url), env={}).generate(request(), stream=False)
    assert list(generation) == [DEFAULT_REPLY]
    assert fake.requests_to("/v1/completions")[0].body["stream"] is False


def test_the_default_model_is_the_first_served_unless_set(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    assert OpenAIEngine(make_settings(tmp_path, fake.url), env={}).default_model == "Llama-3.1-8B-Instruct"
    engine = OpenAIEngine(make_settings(tmp_path, fake.url, openai_model="gemma-3-270m"), env={})
    assert engine.default_model == "gemma-3-270m"
    list(engine.generate(request(model="")))
    assert fake.requests_to("/v1/completions")[0].body["model"] == "gemma-3-270m"


# -- errors that say the fix --------------------------------------------------------------------------


def test_a_model_the_server_does_not_serve_is_refused_first(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    engine = OpenAIEngine(make_settings(tmp_path, fake.url), env={})
    with pytest.raises(ModelNotFoundError) as err:
        list(engine.generate(request(model="gemma-3-270m-ft")))
    message = str(err.value)
    assert "'gemma-3-270m-ft' is not served" in message and fake.url in message
    assert "it serves Llama-3.1-8B-Instruct, embed-small, gemma-3-270m" in message
    assert "--served-model-name gemma-3-270m-ft" in message
    assert fake.requests_to("/v1/completions") == [] and fake.requests_to("/v1/chat/completions") == []


def test_no_server_at_the_address_says_which_address(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    engine = OpenAIEngine(make_settings(tmp_path, url), env={})
    status = engine.status()
    assert not status.ok and status.address == url
    assert f"No server answers at {url}" in status.message and "DOMAINCHAT_OPENAI_BASE_URL" in status.message
    started = time.monotonic()
    with pytest.raises(EngineUnavailableError, match=f"No server answers at {url}"):
        list(engine.generate(request()))
    assert time.monotonic() - started < 2.0  # refused at once: no backoff for a server that is not there


def test_a_refused_key_names_its_variable_and_never_shows_the_key(
    tmp_path: Path, fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # the client's and httpx2's own debug logs too
    fake.state.api_key = "the-right-key"
    settings = make_settings(tmp_path, fake.url)
    engine = OpenAIEngine(settings, env={"DOMAINCHAT_OPENAI_API_KEY": SECRET})
    status = engine.status()
    with pytest.raises(EngineAuthError) as err:
        list(engine.generate(request()))
    # The key was sent, and the server quoted it back in its error (the client's exception holds it): it got that
    # far, and no further.
    assert fake.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET in str(err.value.__context__) and err.value.__cause__ is None
    message = str(err.value)
    assert "refused the API key held in the environment variable DOMAINCHAT_OPENAI_API_KEY (HTTP 401)" in message
    shown = "\n".join(
        [
            message,
            repr(err.value),
            "".join(traceback.format_exception(err.value)),
            status.message,
            repr(engine),
            repr(settings),
            str(settings.describe()),
            caplog.text,
            *capsys.readouterr(),
        ]
    )
    assert SECRET not in shown
    assert not status.ok and "DOMAINCHAT_OPENAI_API_KEY" in status.message


def test_a_missing_key_says_where_to_put_it(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    fake.state.api_key = "the-right-key"
    settings = make_settings(tmp_path, fake.url, openai_api_key_env="TEAM_LLM_KEY")
    with pytest.raises(EngineAuthError, match="needs an API key .*environment variable TEAM_LLM_KEY"):
        list(OpenAIEngine(settings, env={}).generate(request()))
    # The named variable holds it: the server accepts it; OPENAI_API_KEY is the fallback when the named one is unset.
    assert "".join(OpenAIEngine(settings, env={"TEAM_LLM_KEY": "the-right-key"}).generate(request())) == DEFAULT_REPLY
    assert "".join(OpenAIEngine(settings, env={"OPENAI_API_KEY": "the-right-key"}).generate(request())) == DEFAULT_REPLY
    with pytest.raises(EngineAuthError, match="environment variable OPENAI_API_KEY"):
        list(OpenAIEngine(settings, env={"OPENAI_API_KEY": SECRET}).generate(request()))


def test_a_busy_answer_is_retried_after_the_servers_retry_after(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    fake.state.failures["/v1/completions"] = [Failure(429, "Rate limit reached", "0.3"), Failure(429, "Wait", "0.3")]
    engine = OpenAIEngine(make_settings(tmp_path, fake.url, openai_retries=2), env={})
    started = time.monotonic()
    assert "".join(engine.generate(request())) == DEFAULT_REPLY
    assert time.monotonic() - started >= 0.6
    assert len(fake.requests_to("/v1/completions")) == 3


def test_an_unavailable_server_gets_bounded_retries_then_a_clear_error(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    fake.state.always["/v1/completions"] = Failure(503, "Service Unavailable")
    engine = OpenAIEngine(make_settings(tmp_path, fake.url, openai_retries=2), env={})
    started = time.monotonic()
    with pytest.raises(EngineBusyError) as err:
        list(engine.generate(request()))
    elapsed = time.monotonic() - started
    assert len(fake.requests_to("/v1/completions")) == 3  # the request and two retries, no more
    assert 1.5 <= elapsed < 5.0  # waited 0.5 s, then 1 s
    message = str(err.value)
    assert "was unavailable (HTTP 503) at all 3 attempt(s) over 1.5 s" in message
    assert "DOMAINCHAT_OPENAI_RETRIES, now 2" in message and "DOMAINCHAT_OPENAI_MAX_CONCURRENCY" in message


def test_a_stream_that_breaks_keeps_the_partial_answer(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    fake.state.stream_break = StreamBreak(after=3)
    generation = OpenAIEngine(make_settings(tmp_path, fake.url), env={}).generate(request())
    received: list[str] = []
    with pytest.raises(GenerationInterruptedError) as err:
        for piece in generation:
            received.append(piece)
    assert err.value.partial == "".join(received) == "The filter should"
    assert "stopped in the middle of the answer (17 characters received, kept below)" in str(err.value)
    assert "connection to the server" in str(err.value)


def test_an_error_event_in_the_stream_keeps_the_partial_answer(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    fake.state.stream_break = StreamBreak(after=2, event="CUDA error: out of memory")
    engine = OpenAIEngine(make_settings(tmp_path, fake.url), env={})
    generation = engine.generate(request(model="Llama-3.1-8B-Instruct"))
    with pytest.raises(GenerationInterruptedError) as err:
        list(generation)
    assert err.value.partial == "The filter"
    assert "error while answering for model 'Llama-3.1-8B-Instruct': CUDA error: out of memory" in str(err.value)


def test_no_more_requests_at_once_than_the_setting(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    fake.state.delay_s = 0.5  # long enough that the first requests overlap even on a busy machine
    engine = OpenAIEngine(make_settings(tmp_path, fake.url, openai_max_concurrency=2), env={})
    answers: list[str] = []
    lock = threading.Lock()

    def ask() -> None:
        text = "".join(engine.generate(request()))
        with lock:
            answers.append(text)

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [DEFAULT_REPLY] * 5
    assert fake.max_in_flight == 2


def test_embeddings_come_in_order_unit_length_and_in_batches(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    settings = make_settings(tmp_path, fake.url, embedding_backend="openai", embedding_model="embed-small")
    embedder = make_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.name == embedder_label(settings) == "openai/embed-small"
    texts = [f"passage {i}" for i in range(40)]
    vectors = embedder.embed(texts)
    assert len(vectors) == 40 and all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-9 for v in vectors)
    assert [len(r.body["input"]) for r in fake.requests_to("/v1/embeddings")] == [32, 8]
    assert fake.requests_to("/v1/embeddings")[0].body["encoding_format"] == "float"
    assert embedder.embed_query("passage 39") == vectors[39]
    with pytest.raises(ModelNotFoundError, match="'nomic-embed-text' is not served"):
        OpenAIEmbedder(OpenAIEngine(settings, env={}), "nomic-embed-text").embed(["x"])


def test_status_names_the_model_and_its_prompt_form(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    status = OpenAIEngine(make_settings(tmp_path, fake.url, openai_model="gemma-3-270m"), env={}).status()
    assert status.ok and status.engine == "openai" and status.address == fake.url
    assert "3 model(s) (Llama-3.1-8B-Instruct, embed-small, gemma-3-270m)" in status.message
    assert "Model 'gemma-3-270m' gets completion prompts" in status.message
    missing = OpenAIEngine(make_settings(tmp_path, fake.url, openai_model="qwen"), env={}).status()
    assert missing.ok and "Model 'qwen' (DOMAINCHAT_OPENAI_MODEL) is not served" in missing.message


# -- against a real OpenAI-compatible server: llama-cpp-python's, serving the bundled model ------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    with LlamaCppServer(tmp_path_factory.mktemp("llama-server")) as server:
        yield server


@pytest.mark.slow
def test_status_and_models_of_a_real_server(tmp_path: Path, llama_server: LlamaCppServer) -> None:
    engine = OpenAIEngine(make_settings(tmp_path, llama_server.url), env={})
    status = engine.status()
    assert status.ok, status.message
    assert f"2 model(s) ({BASE_ALIAS}, {EMBED_ALIAS})" in status.message
    assert f"Model '{BASE_ALIAS}' (the first listed" in status.message and "gets completion prompts" in status.message
    assert [(m.name, m.kind) for m in engine.list_models()] == [(BASE_ALIAS, "base"), (EMBED_ALIAS, "base")]


@pytest.mark.slow
def test_a_completion_answer_matches_the_embedded_engine(tmp_path: Path, llama_server: LlamaCppServer) -> None:
    """Same GGUF, same completion prompt and stops, temperature 0: the server's llama.cpp and ours give the same text.

    The RAG prompt has a shared prefix, which the embedded engine evaluates once and keeps; its answer is still the
    same, since the prefix is always evaluated from the same start (see `_LoadedModel.reuse_prefix`).
    """
    settings = make_settings(tmp_path, llama_server.url)
    server = OpenAIEngine(settings, env={})
    embedded = EmbeddedEngine(settings)
    chunk = Chunk(
        chunk_id="c1",
        doc_id="d1",
        source="manual.pdf",
        page=4,
        text="Clean the AquaFlow DW-450 filter every 2 weeks under running water. Replace it once a year.",
    )
    for prompt in (CONTEXT_PROMPT, rag_prompt("How often should the filter be cleaned?", [chunk])):
        asked = request(model=BASE_ALIAS, prompt=prompt, temperature=0.0, max_tokens=32)
        over_http = server.generate(asked)
        text = "".join(over_http)
        in_process = embedded.generate(dataclasses.replace(asked, model=""))
        assert text == "".join(in_process) and text, (text, in_process.text)
        assert "2 weeks" in text
        assert over_http.mode == "completion" and over_http.finish_reason == "stop"


@pytest.mark.slow
def test_streamed_timings_from_a_real_server(tmp_path: Path, llama_server: LlamaCppServer) -> None:
    engine = OpenAIEngine(make_settings(tmp_path, llama_server.url), env={})
    streamed = engine.generate(request(model=BASE_ALIAS, temperature=0.0, max_tokens=32))
    pieces = list(streamed)
    stats = streamed.stats
    assert len(pieces) > 3  # token by token, not one block
    assert stats.first_token_ms is not None and stats.total_ms is not None and stats.first_token_ms < stats.total_ms
    assert stats.completion_tokens >= len(pieces)  # counted per streamed chunk: this server sends no usage in a stream
    assert stats.tokens_per_s is not None and stats.tokens_per_s > 0
    assert stats.served_model == BASE_ALIAS
    whole = engine.generate(request(model=BASE_ALIAS, temperature=0.0, max_tokens=32), stream=False)
    assert "".join(whole) == streamed.text
    assert whole.stats.prompt_tokens is not None and whole.stats.prompt_tokens > 20  # the whole reply has `usage`


@pytest.mark.slow
def test_embeddings_from_a_real_server_index_and_retrieve(tmp_path: Path, llama_server: LlamaCppServer) -> None:
    settings = make_settings(tmp_path, llama_server.url, embedding_backend="openai", embedding_model=EMBED_ALIAS)
    embedder = make_embedder(settings)
    store = VectorStore.open(settings)
    try:
        store.create_collection("manuals", embedder_label(settings), settings.chunk_size, settings.chunk_overlap)
        chunks = [
            Chunk(
                chunk_id="a",
                doc_id="d1",
                source="dishwasher.pdf",
                page=1,
                text="The filter should be cleaned every 2 weeks.",
            ),
            Chunk(chunk_id="b", doc_id="d2", source="ruling.pdf", page=3, text="The judge granted the motion in part."),
        ]
        vectors = embedder.embed([c.text for c in chunks])
        assert [len(v) for v in vectors] == [640, 640]  # Gemma 3 270M's hidden size, mean-pooled
        store.add_chunks("manuals", chunks, vectors)
        retriever = Retriever(store, embedder)
        assert retriever.search("manuals", "How often should the filter be cleaned?", 1).chunks[0].chunk_id == "a"
        assert retriever.search("manuals", "Which judge heard the motion?", 1).chunks[0].chunk_id == "b"
        # The collection records the embedder: another one is refused, as for every backend.
        store.check_embedding_model("manuals", "openai/" + EMBED_ALIAS)
        with pytest.raises(EmbeddingModelMismatchError, match=f"with the embedding model 'openai/{EMBED_ALIAS}'"):
            store.check_embedding_model("manuals", "sentence-transformers/all-MiniLM-L6-v2")
    finally:
        store.close()


@pytest.mark.slow
def test_wrong_model_name_on_a_real_server_lists_what_it_serves(tmp_path: Path, llama_server: LlamaCppServer) -> None:
    """llama-cpp-python's server answers an unknown name with its default model: the engine must refuse first."""
    engine = OpenAIEngine(make_settings(tmp_path, llama_server.url), env={})
    with pytest.raises(ModelNotFoundError, match=f"it serves {BASE_ALIAS}, {EMBED_ALIAS}"):
        list(engine.generate(request(model="gemma-3-270m-ft")))


@pytest.mark.slow
def test_a_too_long_prompt_on_a_real_server_says_what_to_do(tmp_path: Path, llama_server: LlamaCppServer) -> None:
    engine = OpenAIEngine(make_settings(tmp_path, llama_server.url), env={})
    long_prompt = Prompt(completion="The filter is cleaned. " * 1200 + "\nQuestion: How often?\nAnswer:", messages=())
    generation = engine.generate(request(model=BASE_ALIAS, prompt=long_prompt, max_tokens=20))
    with pytest.raises(ContextLengthError) as err:
        list(generation)
    message = str(err.value)
    assert "and the answer budget (20 tokens) exceed the 4096-token context of 'gemma-3-270m'" in message
    assert "DOMAINCHAT_TOP_K, DOMAINCHAT_CHUNK_SIZE" in message and llama_server.url in message
    # This server fails a stream with an empty body; the engine asked again without streaming to get the reason.
    assert generation.stats.warnings == ["The server's stream ended with no answer and no reason; asked again whole."]


@pytest.mark.slow
def test_a_stopped_server_says_which_address_it_tried(tmp_path: Path) -> None:
    server = LlamaCppServer(tmp_path / "server", models=[ServedGGUF(BASE_ALIAS, n_ctx=512)]).start()
    try:
        engine = OpenAIEngine(make_settings(tmp_path, server.url), env={})
        assert engine.status().ok
    finally:
        server.stop()
    status = engine.status()
    assert not status.ok and f"No server answers at {server.url}" in status.message
    with pytest.raises(EngineUnavailableError, match=f"No server answers at {server.url}"):
        list(engine.generate(request(model=BASE_ALIAS)))
