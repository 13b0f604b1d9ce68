"""The Ollama engine against a real HTTP server speaking Ollama's API, through the real `ollama` client."""

from __future__ import annotations

import hashlib
import math
import socket
import time
from pathlib import Path

import ollama
import pytest

from core.config import Settings
from core.engines.base import GenerationRequest, Prompt
from core.engines.embedded import EmbeddedEngine
from core.engines.ollama_engine import (
    OllamaEngine,
    estimate_num_ctx,
    normalize_host,
    parse_modelfile_from,
    translate_ollama_error,
)
from core.engines.resolver import Engines
from core.engines.variants import Variant, VariantRegistry
from core.errors import (
    ConfigError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    GenerationInterruptedError,
    ModelNotFoundError,
    VariantError,
)
from core.index.embeddings import OllamaEmbedder
from tests.fakes.ollama_server import DEFAULT_REPLY, FakeOllamaServer, StreamError

MESSAGES = (
    {"role": "system", "content": "Answer from the context."},
    {
        "role": "user",
        "content": "Context: The AquaFlow DW-450 filter should be cleaned every 2 weeks.\nQuestion: How often?",
    },
)


def make_settings(tmp_path: Path, host: str, **overrides: object) -> Settings:
    return Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", ollama_host=host, **overrides)


def request(
    model: str = "gemma3:270m", messages: tuple[dict[str, str], ...] = MESSAGES, **kw: object
) -> GenerationRequest:
    return GenerationRequest(model=model, prompt=Prompt(completion="unused by Ollama", messages=messages), **kw)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- status and listing ---------------------------------------------------------------------------


def test_status_ok_reports_models(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    status = OllamaEngine(make_settings(tmp_path, ollama_server.url)).status()
    assert status.ok and status.engine == "ollama"
    assert status.address == ollama_server.url
    assert "2 model(s)" in status.message and "not pulled" not in status.message
    assert [r.method for r in ollama_server.requests_to("/api/tags")] == ["GET"]


def test_status_says_how_to_pull_missing_default_model(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    status = OllamaEngine(make_settings(tmp_path, ollama_server.url, ollama_model="llama3.2")).status()
    assert status.ok
    assert "run `ollama pull llama3.2`" in status.message


def test_list_models_from_tags_plus_registered_variants(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    settings = make_settings(tmp_path, ollama_server.url)
    registry = VariantRegistry(settings.data_dir)
    registry.register(
        Variant(name="manual-ft", engine="ollama", base_model="gemma3:270m", ollama_model="manual-ft:latest")
    )
    registry.register(Variant(name="gone-ft", engine="ollama", base_model="gemma3:270m", ollama_model="gone-ft"))
    registry.register(Variant(name="local-ft", engine="embedded", base_model="gemma-3-270m", adapter_file="a.gguf"))
    ollama_server.add_model("manual-ft:latest")

    models = OllamaEngine(settings).list_models()

    bases = [(m.name, m.size_bytes) for m in models if m.kind == "base"]
    assert bases == [("gemma3:270m", 291_554_930), ("nomic-embed-text:latest", 274_302_450)]
    assert "embedding model" in next(m.detail for m in models if m.name == "nomic-embed-text:latest")
    variants = {m.name: m.detail for m in models if m.kind == "variant"}
    assert set(variants) == {"manual-ft", "gone-ft"}  # the embedded variant belongs to the other engine
    assert "missing on the server" in variants["gone-ft"] and "missing" not in variants["manual-ft"]


# -- chat generation: exact bodies, stats, num_ctx --------------------------------------------------


def test_generate_streams_chat_with_exact_body_and_fills_stats(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    gen = engine.generate(request(stop=("\n\n",), temperature=0.2, max_tokens=64, seed=7))
    assert ollama_server.requests_to("/api/chat") == []  # lazy: nothing is sent before iteration

    pieces = list(gen)

    assert "".join(pieces) == DEFAULT_REPLY == gen.text
    assert len(pieces) == 8  # the fake streams one word per chunk
    (chat,) = ollama_server.bodies("/api/chat")
    assert chat == {
        "model": "gemma3:270m",
        "stream": True,
        "options": {"temperature": 0.2, "num_predict": 64, "num_ctx": 2048, "seed": 7, "stop": ["\n\n"]},
        "messages": [dict(m) for m in MESSAGES],
        "tools": [],
        "logprobs": True,  # the answer's token probabilities and the likeliest other token's, for its confidence
        "top_logprobs": 2,
    }
    assert ollama_server.bodies("/api/show") == [{"model": "gemma3:270m"}]  # context length, once
    chars = sum(len(m["content"]) + 20 for m in MESSAGES)
    assert gen.stats.prompt_tokens == math.ceil(chars / 4)  # prompt_eval_count as the fake computes it
    assert gen.stats.completion_tokens == 8  # eval_count
    assert gen.stats.context_tokens == 2048
    assert gen.stats.first_token_ms is not None and gen.stats.total_ms is not None
    assert gen.stats.total_ms >= gen.stats.first_token_ms
    assert gen.stats.warnings == []
    assert gen.done_reason == "stop"


def test_generate_without_streaming_sends_stream_false(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    gen = engine.generate(request(max_tokens=3, seed=None), stream=False)

    assert list(gen) == ["The filter should "]
    (chat,) = ollama_server.bodies("/api/chat")
    assert chat == {
        "model": "gemma3:270m",
        "stream": False,
        "options": {"temperature": 0.1, "num_predict": 3, "num_ctx": 2048},
        "messages": [dict(m) for m in MESSAGES],
        "tools": [],
        "logprobs": True,
        "top_logprobs": 2,
    }
    assert gen.done_reason == "length"
    assert gen.stats.completion_tokens == 3


def test_num_ctx_covers_long_prompts_and_never_shrinks(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    long_messages = ({"role": "user", "content": "x" * 20_000},)
    # 20000 / 3.5 = 5715 (+8 template) + 256 answer budget = 5979 -> rounded up to 6144
    assert estimate_num_ctx(5723, 256) == 6144

    list(engine.generate(request(messages=long_messages, max_tokens=256)))
    list(engine.generate(request(max_tokens=256)))

    first, second = ollama_server.bodies("/api/chat")
    assert first["options"]["num_ctx"] == 6144
    # Ollama reloads the model whenever num_ctx changes: the short prompt keeps the larger window.
    assert second["options"]["num_ctx"] == 6144
    assert len(ollama_server.bodies("/api/show")) == 1  # the context length is cached


def test_warns_when_prompt_exceeds_the_models_context(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.add_model("tiny:1b", context_length=4096)
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    gen = engine.generate(request(model="tiny:1b", messages=({"role": "user", "content": "y" * 20_000},)))

    list(gen)

    assert ollama_server.bodies("/api/chat")[0]["options"]["num_ctx"] == 4096
    assert any("4096-token context of 'tiny:1b'" in w and "DOMAINCHAT_TOP_K" in w for w in gen.stats.warnings)


def test_warns_when_server_reports_a_full_context(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.chars_per_token = 1.0  # e.g. CJK text: far more tokens than the estimate
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    gen = engine.generate(request(messages=({"role": "user", "content": "字" * 3000},), max_tokens=256))

    list(gen)

    assert gen.stats.context_tokens == 2048
    assert gen.stats.prompt_tokens == 2048  # the fake, like Ollama, never counts more than num_ctx
    assert any("probably cut its start" in w for w in gen.stats.warnings)


def test_variant_name_runs_its_ollama_model(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    settings = make_settings(tmp_path, ollama_server.url)
    VariantRegistry(settings.data_dir).register(
        Variant(name="manual-ft", engine="ollama", base_model="gemma3:270m", ollama_model="manual-ft:latest")
    )
    ollama_server.add_model("manual-ft:latest", reply="Every 2 weeks.")

    gen = OllamaEngine(settings).generate(request(model="manual-ft"))

    assert "".join(gen) == "Every 2 weeks."
    assert ollama_server.bodies("/api/chat")[0]["model"] == "manual-ft:latest"


def test_stopping_early_closes_the_stream(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    gen = OllamaEngine(make_settings(tmp_path, ollama_server.url)).generate(request())
    it = iter(gen)
    assert next(it) == "The "
    it.close()  # type: ignore[attr-defined]
    assert gen.stats.total_ms is not None
    with pytest.raises(RuntimeError):
        list(gen)  # a generation is iterated once


# -- errors -------------------------------------------------------------------------------------------


def test_connection_refused_says_start_ollama(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    engine = OllamaEngine(make_settings(tmp_path, host))
    expected = (
        f"Ollama is not running at {host}: start it with `ollama serve` (or choose the embedded engine in the sidebar)."
    )

    status = engine.status()
    assert not status.ok and status.message == expected
    with pytest.raises(EngineUnavailableError) as listing:
        engine.list_models()
    assert str(listing.value) == expected
    with pytest.raises(EngineUnavailableError) as generating:
        list(engine.generate(request()))
    assert str(generating.value) == expected


def test_unknown_model_says_pull_and_lists_available(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    with pytest.raises(ModelNotFoundError) as err:
        list(engine.generate(request(model="llama3.2")))
    assert str(err.value) == (
        f"Model 'llama3.2' is not pulled on Ollama at {ollama_server.url}: run `ollama pull llama3.2`. "
        "Available: gemma3:270m, nomic-embed-text:latest."
    )
    assert ollama_server.requests_to("/api/chat") == []  # /api/show already said 404


def test_unknown_model_on_chat_is_translated_too(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    ollama_server.forced_errors["/api/chat"] = (404, "model 'gemma3:270m' not found")
    with pytest.raises(ModelNotFoundError, match=r"run `ollama pull gemma3:270m`\. Available: gemma3:270m"):
        list(engine.generate(request()))


def test_error_mid_stream_keeps_the_partial_answer(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.stream_error = StreamError(after_chunks=3, message="llama runner process has terminated")
    gen = OllamaEngine(make_settings(tmp_path, ollama_server.url)).generate(request())
    received: list[str] = []

    with pytest.raises(GenerationInterruptedError) as err:
        for piece in gen:
            received.append(piece)

    assert err.value.partial == "The filter should " == "".join(received)
    assert "llama runner process has terminated" in str(err.value)
    assert "kept" in str(err.value)
    assert gen.stats.total_ms is not None


def test_server_error_before_any_text_is_an_engine_error(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.forced_errors["/api/chat"] = (
        500,
        "model requires more system memory (5.2 GiB) than is available (1.9 GiB)",
    )
    with pytest.raises(EngineError) as err:
        list(OllamaEngine(make_settings(tmp_path, ollama_server.url)).generate(request()))
    assert not isinstance(err.value, GenerationInterruptedError)
    assert "HTTP 500" in str(err.value) and "more system memory" in str(err.value) and "smaller model" in str(err.value)


def test_slow_server_past_read_timeout(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.delay_s = 3.0
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url, ollama_read_timeout_s=0.3))
    started = time.perf_counter()

    with pytest.raises(EngineTimeoutError) as err:
        list(engine.generate(request()))

    assert time.perf_counter() - started < 2.0
    assert "did not answer within 0.3 s for model 'gemma3:270m'" in str(err.value)
    assert "DOMAINCHAT_OLLAMA_READ_TIMEOUT_S" in str(err.value) and "smaller model" in str(err.value)


def test_stall_in_the_middle_of_a_stream_keeps_the_partial(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.chunk_delay_s = 3.0
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url, ollama_read_timeout_s=0.3))
    with pytest.raises(GenerationInterruptedError) as err:
        list(engine.generate(request()))
    assert err.value.partial == "The "
    assert "DOMAINCHAT_OLLAMA_READ_TIMEOUT_S" in str(err.value)


def test_translate_covers_client_errors() -> None:
    host = "http://h:1"
    assert isinstance(translate_ollama_error(ConnectionError("x"), host), EngineUnavailableError)
    nf = translate_ollama_error(ollama.ResponseError('{"error":"model \'m:1\' not found"}', 404), host, available=[])
    assert isinstance(nf, ModelNotFoundError)
    assert (
        str(nf) == "Model 'm:1' is not pulled on Ollama at http://h:1: run `ollama pull m:1`. No model is pulled yet."
    )
    mid = translate_ollama_error(ollama.ResponseError("boom"), host, "m", partial="abc")
    assert isinstance(mid, GenerationInterruptedError) and mid.partial == "abc" and "boom" in str(mid)


# -- embeddings, show, blobs ------------------------------------------------------------------------------


def test_embed_sends_batches_and_returns_vectors(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    embedder = OllamaEmbedder(OllamaEngine(make_settings(tmp_path, ollama_server.url)), "nomic-embed-text")
    texts = [f"chunk {i}" for i in range(70)]

    vectors = embedder.embed(texts)

    assert embedder.name == "ollama/nomic-embed-text" and embedder.model == "nomic-embed-text"
    assert len(vectors) == 70 and all(len(v) == 8 for v in vectors)
    assert vectors[0] != vectors[1]
    assert embedder.embed(["chunk 0"]) == [vectors[0]]  # deterministic
    bodies = ollama_server.bodies("/api/embed")
    assert bodies[0] == {"model": "nomic-embed-text", "input": texts[:32]}
    assert [len(b["input"]) for b in bodies] == [32, 32, 6, 1]
    assert embedder.embed([]) == []


def test_embed_with_unpulled_model_says_pull(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    embedder = OllamaEmbedder(OllamaEngine(make_settings(tmp_path, ollama_server.url)), "mxbai-embed-large")
    with pytest.raises(ModelNotFoundError, match=r"run `ollama pull mxbai-embed-large`"):
        embedder.embed(["a"])


def test_show_and_gguf_blob_path(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    info = engine.show("gemma3:270m")
    assert {"modelfile", "template", "parameters", "model_info", "details"} <= set(info)
    assert info["model_info"]["gemma3.context_length"] == 32768
    assert engine.context_length("gemma3:270m") == 32768
    digest = ollama_server.find("gemma3:270m").digest()  # type: ignore[union-attr]
    assert engine.gguf_blob_path("gemma3:270m") == Path(ollama_server.blob_path(digest))
    with pytest.raises(ModelNotFoundError):
        engine.show("absent")


def test_parse_modelfile_from() -> None:
    assert parse_modelfile_from('# FROM ignored\nFROM "/blobs/sha256-ab"\nPARAMETER x 1') == "/blobs/sha256-ab"
    assert parse_modelfile_from("from llama3.2\n") == "llama3.2"
    assert parse_modelfile_from("TEMPLATE x") is None


def test_gguf_blob_path_refuses_a_from_line_naming_a_model(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.add_model("derived:1", modelfile_from="gemma3:270m")
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    with pytest.raises(VariantError, match=r"names no GGUF file \(FROM gemma3:270m\)"):
        engine.gguf_blob_path("derived:1")


def test_fake_server_accepts_blob_upload_and_create_from_files(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    """The registration flow a merged fine-tune uses: upload the GGUF blob, create a model from it."""
    engine = OllamaEngine(make_settings(tmp_path, ollama_server.url))
    gguf = tmp_path / "merged.gguf"
    gguf.write_bytes(b"GGUF" + b"\x00" * 1000)
    digest = "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()

    assert engine.create_from_gguf("manual-ft", gguf) == digest
    (upload,) = ollama_server.requests_to(f"/api/blobs/{digest}", "POST")
    assert upload.raw == gguf.read_bytes()
    assert ollama_server.bodies("/api/create") == [
        {"model": "manual-ft", "stream": False, "files": {"model.gguf": digest}}
    ]
    path = engine.gguf_blob_path("manual-ft")
    assert path.read_bytes() == gguf.read_bytes()  # the fake stores blobs where the FROM line says
    with pytest.raises(ollama.ResponseError) as refused:
        engine.client.create(model="x", from_="gemma3:270m", adapters={"a.gguf": digest}, stream=False)
    assert refused.value.status_code == 400


def test_normalize_host_follows_ollama_rules() -> None:
    assert normalize_host("") == "http://127.0.0.1:11434"
    assert normalize_host("example.com") == "http://example.com:11434"
    assert normalize_host(":5000") == "http://127.0.0.1:5000"
    assert normalize_host("https://example.com/ollama/") == "https://example.com:443/ollama"


# -- engine choice --------------------------------------------------------------------------------------


def test_auto_chooses_ollama_when_it_answers(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engines = Engines(make_settings(tmp_path, ollama_server.url))
    engine = engines.resolve()
    assert isinstance(engine, OllamaEngine)
    assert engines.default_model(engine) == "gemma3:270m"
    overview = engines.overview("auto")
    assert overview.engine == "ollama" and overview.status.ok and not overview.fell_back
    assert "gemma3:270m" in overview.base_models


def test_the_ollama_probe_is_cached_between_resolutions(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    engines = Engines(make_settings(tmp_path, ollama_server.url), probe_ttl_s=60)
    before = len(ollama_server.requests_to("/api/tags"))
    for _ in range(5):
        assert engines.resolve("auto").name == "ollama"
    assert len(ollama_server.requests_to("/api/tags")) == before + 1  # one probe for five resolutions
    engines.probe_ollama(fresh=True)
    assert len(ollama_server.requests_to("/api/tags")) == before + 2


def test_auto_falls_back_to_embedded_when_ollama_is_down(tmp_path: Path) -> None:
    engines = Engines(make_settings(tmp_path, f"http://127.0.0.1:{closed_port()}"))
    started = time.perf_counter()
    engine, status = engines.resolve_with_probe()
    assert time.perf_counter() - started < 3
    assert isinstance(engine, EmbeddedEngine)
    assert status is not None and not status.ok and "ollama serve" in status.message
    assert engines.default_model(engine) == "gemma-3-270m (bundled)"
    assert engines.overview().fell_back


def test_explicit_engine_choice(tmp_path: Path) -> None:
    engines = Engines(make_settings(tmp_path, f"http://127.0.0.1:{closed_port()}"))
    assert isinstance(engines.resolve("ollama"), OllamaEngine)  # no probing when asked by name
    assert isinstance(engines.resolve("embedded"), EmbeddedEngine)
    assert engines.resolve("embedded") is engines.resolve("embedded")  # one instance per engine
    with pytest.raises(ConfigError):
        engines.resolve("vllm")


def test_variants_fit_only_their_engine_and_ollama_offers_other_models(
    tmp_path: Path, ollama_server: FakeOllamaServer
) -> None:
    settings = make_settings(tmp_path, ollama_server.url)
    registry = VariantRegistry(settings.data_dir)
    registry.register(
        Variant(name="lora-ft", engine="embedded", base_model="gemma-3-270m (bundled)", adapter_file="adapter.gguf")
    )
    registry.register(
        Variant(name="served-ft", engine="ollama", base_model="gemma3:270m", ollama_model="manual-ft:latest")
    )
    engines = Engines(settings)
    assert [v.name for v in engines.variants_for("embedded")] == ["lora-ft"]
    assert [v.name for v in engines.variants_for("ollama")] == ["served-ft"]
    assert engines.variant_model("ollama", "served-ft") == "manual-ft:latest"
    assert engines.variant_model("embedded", "lora-ft") == "lora-ft"
    overview = engines.overview("ollama")
    assert overview.variants == ["served-ft"]
    assert "served-ft" in overview.variant_choices and "gemma3:270m" not in overview.variant_choices
