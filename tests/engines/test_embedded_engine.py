"""The embedded engine on real llama.cpp with the bundled Gemma 3 270M (and LoRA adapters written here)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.engines.base import GenerationRequest, Prompt
from core.engines.bundled import BUNDLED_NAME, bundled_gguf_path
from core.engines.embedded import EmbeddedEngine, _cut_middle, _RepeatGuard, load_model
from core.engines.gguf_files import read_gguf_header, validate_lora_gguf
from core.engines.variants import Variant, VariantRegistry
from core.errors import EngineUnavailableError, ModelNotFoundError, VariantError

QUESTION = (
    "Context: The AquaFlow DW-450 filter should be cleaned every 2 weeks.\n"
    "Question: How often should the filter be cleaned?\n"
    "Answer:"
)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded", **overrides)


def ask(model: str = BUNDLED_NAME, completion: str = QUESTION, **kw: Any) -> GenerationRequest:
    messages = ({"role": "user", "content": completion},)
    kw.setdefault("temperature", 0.0)
    kw.setdefault("max_tokens", 48)
    return GenerationRequest(model=model, prompt=Prompt(completion=completion, messages=messages), **kw)


def write_adapter(
    path: Path,
    targets: dict[str, tuple[int, ...]],
    *,
    rank: int = 4,
    b_scale: float = 0.0,
    arch: str = "gemma3",
    general_type: str = "adapter",
    halves: tuple[str, ...] = ("lora_a", "lora_b"),
    shape_error: bool = False,
) -> Path:
    """A LoRA adapter GGUF as llama.cpp expects it; b_scale=0 makes it a no-op on the base."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(general_type)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    for name, shape in targets.items():
        n_in, n_out = shape[0], shape[1]
        if shape_error:
            n_in += 1
        a = (rng.standard_normal((rank, n_in)) * 0.1).astype(np.float32)  # ggml ne = (n_in, rank)
        b = (rng.standard_normal((n_out, rank)) * b_scale).astype(np.float32)  # ggml ne = (rank, n_out)
        if "lora_a" in halves:
            writer.add_tensor(f"{name}.lora_a", a)
        if "lora_b" in halves:
            writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def register(settings: Settings, name: str, write: Any) -> Path:
    """Write an adapter with `write(path)` into a variant folder and register the variant."""
    registry = VariantRegistry(settings.data_dir)
    folder = registry.folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "adapter.gguf"
    write(path)
    registry.register(Variant(name=name, engine="embedded", base_model="gemma-3-270m", adapter_file="adapter.gguf"))
    return path


def q_targets(blocks: range = range(2)) -> dict[str, tuple[int, ...]]:
    tensors = read_gguf_header(bundled_gguf_path()).tensors
    return {f"blk.{i}.attn_q.weight": tensors[f"blk.{i}.attn_q.weight"] for i in blocks}


# -- without loading the model ---------------------------------------------------------------------


def test_bundled_gguf_is_assembled_and_readable() -> None:
    path = bundled_gguf_path()
    assert path.is_file() and path.name == "gemma-3-270m-q4_k_m.gguf"
    assert bundled_gguf_path() == path  # cached
    header = read_gguf_header(path)
    assert header.metadata["general.architecture"] == "gemma3"
    assert "tokenizer.chat_template" not in header.metadata  # a base model: completion prompts
    assert header.tensors["blk.0.attn_q.weight"] == (640, 1024)


def test_status_and_models_without_loading(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    register(settings, "manual-ft", lambda p: write_adapter(p, q_targets()))
    VariantRegistry(settings.data_dir).register(
        Variant(name="lost-ft", engine="embedded", base_model="gemma-3-270m", adapter_file="gone.gguf")
    )
    engine = EmbeddedEngine(settings)

    status = engine.status()
    assert status.ok and status.engine == "embedded" and BUNDLED_NAME in status.message

    models = engine.list_models()
    assert (
        models[0].name == BUNDLED_NAME
        and models[0].kind == "base"
        and models[0].size_bytes == bundled_gguf_path().stat().st_size
    )
    variants = {m.name: m for m in models[1:]}
    assert set(variants) == {"manual-ft", "lost-ft"} and all(m.kind == "variant" for m in variants.values())
    assert "missing" in variants["lost-ft"].detail and "missing" not in variants["manual-ft"].detail


def test_missing_custom_gguf_is_reported(tmp_path: Path) -> None:
    engine = EmbeddedEngine(make_settings(tmp_path, embedded_gguf=str(tmp_path / "nope.gguf")))
    status = engine.status()
    assert not status.ok and "DOMAINCHAT_GGUF" in status.message
    with pytest.raises(EngineUnavailableError, match="does not exist"):
        list(engine.generate(ask(model="nope")))


def test_unknown_model_names_the_choices(tmp_path: Path) -> None:
    engine = EmbeddedEngine(make_settings(tmp_path))
    with pytest.raises(
        ModelNotFoundError,
        match=r"'gemma3:270m' is not available on the embedded engine: choose one of gemma-3-270m \(bundled\)",
    ):
        list(engine.generate(ask(model="gemma3:270m")))


BAD_ADAPTERS = {
    "missing": (None, "is missing"),
    "garbage": (lambda p: p.write_bytes(b"this is not a gguf file" * 10), "not a readable GGUF"),
    "model-not-adapter": (lambda p: write_adapter(p, q_targets(), general_type="model"), "not a LoRA adapter GGUF"),
    "other-arch": (lambda p: write_adapter(p, q_targets(), arch="llama"), "made for a 'llama' model"),
    "unknown-tensor": (lambda p: write_adapter(p, {"blk.99.attn_q.weight": (640, 1024)}), "does not have"),
    "wrong-shape": (lambda p: write_adapter(p, q_targets(), shape_error=True), "has shapes"),
    "half-missing": (lambda p: write_adapter(p, q_targets(), halves=("lora_a",)), "has only lora_a"),
}


@pytest.mark.parametrize("case", sorted(BAD_ADAPTERS))
def test_invalid_adapter_is_a_variant_error_not_a_crash(tmp_path: Path, case: str) -> None:
    settings = make_settings(tmp_path)
    writer, expected = BAD_ADAPTERS[case]
    register(settings, "bad-ft", writer or (lambda p: None))
    engine = EmbeddedEngine(settings)

    with pytest.raises(VariantError, match=expected) as err:
        list(engine.generate(ask(model="bad-ft")))
    assert "variant 'bad-ft'" in str(err.value) and "Fine-tune page" in str(err.value)


def test_validate_accepts_a_well_formed_adapter(tmp_path: Path) -> None:
    path = write_adapter(tmp_path / "ok.gguf", q_targets(range(18)))
    info = validate_lora_gguf(path, bundled_gguf_path())
    assert info["architecture"] == "gemma3" and info["rank"] == [4]


def test_repeat_guard_stops_a_looping_base_model() -> None:
    guard = _RepeatGuard()
    shown = "".join(
        guard.feed(p) for p in ["The filter", " is cleaned.\n", "Rinse it", ".\nThe fil", "ter is cleaned.\n", "More"]
    )
    assert guard.stopped
    assert shown == "The filter is cleaned.\nRinse it.\n"  # the repeated line never reached the reader
    assert guard.flush() == ""

    fresh = _RepeatGuard()
    assert fresh.feed("One line") == "One line" and fresh.flush() == ""


def test_cut_middle_keeps_both_ends() -> None:
    kept = _cut_middle(list(range(100)), 20, [-1])
    assert len(kept) == 20 and kept[:9] == list(range(9)) and kept[9] == -1 and kept[-10:] == list(range(90, 100))


# -- real llama.cpp -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_answers_an_extractive_question_with_stats(tmp_path: Path) -> None:
    engine = EmbeddedEngine(make_settings(tmp_path))
    gen = engine.generate(ask())

    text = "".join(gen)

    assert "2 weeks" in text or "two weeks" in text.lower(), text
    assert text == gen.text == text.strip()  # no space after "Answer:", no trailing newline
    assert gen.mode == "completion"
    stats = gen.stats
    assert stats.prompt_tokens is not None and 20 < stats.prompt_tokens < 60
    assert stats.completion_tokens >= 3
    assert stats.first_token_ms is not None and stats.total_ms is not None and stats.total_ms >= stats.first_token_ms
    assert stats.context_tokens == 4096
    assert stats.warnings == []
    assert engine.status().message.count("loaded") == 1


@pytest.mark.slow
def test_non_streaming_gives_one_piece(tmp_path: Path) -> None:
    gen = EmbeddedEngine(make_settings(tmp_path)).generate(ask(), stream=False)
    pieces = list(gen)
    assert len(pieces) == 1 and "2 weeks" in pieces[0]


@pytest.mark.slow
def test_chat_path_streams_message_deltas(tmp_path: Path) -> None:
    """An instruction GGUF (with a chat template) is asked through create_chat_completion with the messages."""
    engine = EmbeddedEngine(make_settings(tmp_path))
    model = load_model(engine.gguf_path(), engine.n_ctx)
    model.has_chat_template = True  # the bundled base has no template: llama.cpp falls back to its default format
    try:
        gen = engine.generate(ask(max_tokens=12))
        text = "".join(gen)
    finally:
        model.has_chat_template = False
    assert gen.mode == "chat"
    assert text == gen.text and text.strip() == text and text
    assert gen.stats.completion_tokens > 0 and gen.stats.prompt_tokens is not None and gen.stats.prompt_tokens > 20


@pytest.mark.slow
def test_lora_variant_switches_on_and_off_per_request(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    register(settings, "zero-ft", lambda p: write_adapter(p, q_targets(range(18)), b_scale=0.0))
    register(settings, "noisy-ft", lambda p: write_adapter(p, q_targets(range(18)), b_scale=2.0))
    engine = EmbeddedEngine(settings)

    base = "".join(engine.generate(ask()))
    zero = "".join(engine.generate(ask(model="zero-ft")))  # B = 0: the adapter adds nothing
    noisy = "".join(engine.generate(ask(model="noisy-ft")))
    base_again = "".join(engine.generate(ask()))

    assert zero == base
    assert noisy != base  # the adapter really is applied
    assert base_again == base  # and really switched off again (no stale KV cache either)


def rag_request(question: str, passage: str, model: str = BUNDLED_NAME) -> GenerationRequest:
    """A RAG prompt built by the chat's own function (its worked examples are the shared prefix)."""
    from core.base.chunks import Chunk
    from core.chat.prompts import rag_prompt

    chunk = Chunk(chunk_id="c1", doc_id="d1", source="manual.pdf", page=3, text=passage)
    return GenerationRequest(model=model, prompt=rag_prompt(question, [chunk]), temperature=0.0, max_tokens=16)


@pytest.mark.slow
def test_the_shared_rag_prefix_is_kept_across_other_prompts_and_gives_the_same_answers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    register(settings, "noisy-ft", lambda p: write_adapter(p, q_targets(range(18)), b_scale=2.0))
    engine = EmbeddedEngine(settings)
    model = load_model(engine.gguf_path(), engine.n_ctx)
    model.prefixes.clear()
    first = rag_request(
        "How often should the filter be cleaned?", "The AquaFlow DW-450 filter should be cleaned every 2 weeks."
    )
    second = rag_request(
        "How long is the warranty?", "The warranty on the AquaFlow DW-450 runs for 5 years from purchase."
    )

    cold = engine.generate(first)
    cold_text = "".join(cold)
    "".join(engine.generate(ask()))  # a base-mode prompt replaces the context
    warm = engine.generate(second)
    warm_text = "".join(warm)
    noisy = engine.generate(
        rag_request(
            "How long is the warranty?",
            "The warranty on the AquaFlow DW-450 runs for 5 years from purchase.",
            "noisy-ft",
        )
    )
    "".join(noisy)
    model.prefixes.clear()
    fresh = engine.generate(second)
    fresh_text = "".join(fresh)

    assert cold.stats.reused_prompt_tokens == 0  # nothing kept yet: the prefix is evaluated and kept
    assert warm.stats.reused_prompt_tokens > 250  # the instructions and worked examples were not read again
    assert warm.stats.prompt_tokens is not None and warm.stats.reused_prompt_tokens < warm.stats.prompt_tokens
    assert noisy.stats.reused_prompt_tokens == 0  # another adapter: the base model's prefix state is never used
    assert fresh.stats.reused_prompt_tokens == 0
    assert "2 weeks" in cold_text and "5 years" in warm_text
    assert warm_text == fresh_text  # a restored prefix answers exactly as one evaluated afresh


@pytest.mark.slow
def test_prompt_longer_than_the_context_is_cut_in_the_middle(tmp_path: Path) -> None:
    engine = EmbeddedEngine(make_settings(tmp_path, embedded_n_ctx=512))
    filler = "".join(f"Section {i}: the device has a sturdy steel casing and a blue front panel. " for i in range(120))
    prompt = (
        "Context: "
        + filler
        + "\nThe AquaFlow DW-450 filter should be cleaned every 2 weeks.\n"
        + "Question: How often should the filter be cleaned?\nAnswer:"
    )
    gen = engine.generate(ask(completion=prompt, max_tokens=24))

    text = "".join(gen)

    assert gen.stats.context_tokens == 512
    assert gen.stats.prompt_tokens is not None and gen.stats.prompt_tokens <= 512 - 24
    assert len(gen.stats.warnings) == 1 and "middle was left out" in gen.stats.warnings[0]
    assert "DOMAINCHAT_N_CTX" in gen.stats.warnings[0]
    assert "2 weeks" in text, text  # the end of the prompt, with the question, survived


@pytest.mark.slow
def test_a_running_generation_blocks_neither_status_nor_other_sessions(tmp_path: Path) -> None:
    engine = EmbeddedEngine(make_settings(tmp_path))
    list(engine.generate(ask(max_tokens=4)))  # loaded before timing anything
    first_piece = threading.Event()
    results: dict[str, str] = {}

    def slow_reader() -> None:
        out = ""
        for piece in engine.generate(ask()):
            out += piece
            first_piece.set()
            time.sleep(0.05)  # a slow consumer keeps the model busy
        results["a"] = out

    def second_session() -> None:
        results["b"] = "".join(engine.generate(ask()))

    a = threading.Thread(target=slow_reader)
    a.start()
    assert first_piece.wait(30)
    b = threading.Thread(target=second_session)
    b.start()
    started = time.perf_counter()
    assert engine.status().ok
    assert engine.list_models()[0].name == BUNDLED_NAME
    assert time.perf_counter() - started < 0.5  # no model lock taken for these
    a.join(60)
    b.join(60)
    assert results["a"] == results["b"] and "2 weeks" in results["a"]
