"""The engine interface every LLM backend implements, and the typed values that cross it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Iterator, Literal, Protocol, Sequence, runtime_checkable

ModelKind = Literal["base", "variant"]
# Every LLM backend by name; the config's ENGINE_CHOICES are these plus "auto".
EngineName = Literal["ollama", "embedded", "openai"]


@dataclass(frozen=True)
class ModelInfo:
    """A model an engine can run: a base model or a registered fine-tuned variant."""

    name: str
    kind: ModelKind = "base"
    size_bytes: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class EngineStatus:
    """Whether an engine can answer now, where it runs, and what to do if it cannot."""

    engine: EngineName
    ok: bool
    address: str
    message: str


@dataclass(frozen=True)
class Prompt:
    """One prompt in both forms; the engine picks the one its model understands.

    `completion` is plain text for base models (no chat template); `messages` is the
    chat form (system/user) for instruction models.
    """

    completion: str
    messages: tuple[dict[str, str], ...]
    completion_stops: tuple[str, ...] = ()  # extra stops for the completion form only (a base model's run-on lines)
    # The start of `completion` that many prompts share (instructions, worked examples): an engine may keep it
    # evaluated between requests instead of reading it again for every question.
    shared_prefix: str = ""


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate and how."""

    model: str
    prompt: Prompt
    stop: tuple[str, ...] = ()
    temperature: float = 0.1
    max_tokens: int = 256
    seed: int | None = 0
    # Openings the answer must not start with (their first token is banned at the first step): the chat's second
    # look after a refusal. Only an engine whose `bans_openings` is True honours it; others ignore it.
    banned_openings: tuple[str, ...] = ()


@dataclass
class GenerationStats:
    """Timings and counts of one generation, filled in while it streams."""

    started: float = field(default_factory=time.perf_counter)
    first_token_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None
    reused_prompt_tokens: int = 0  # of `prompt_tokens`, those already evaluated (a kept shared prefix)
    batch_threads: int | None = None  # threads that processed the prompt (an in-process engine's choice)
    completion_tokens: int = 0
    context_tokens: int | None = None
    warnings: list[str] = field(default_factory=list)
    # what really ran, as the engine saw it: the served model, and the LoRA adapter applied ("" = none)
    served_model: str = ""
    adapter: str = ""
    prompt_form: str = ""  # on a server: "chat" or "completion", the endpoint the answer came from ("" elsewhere)
    # the natural log of each generated token's probability under the model (before sampling's temperature), in
    # order; None when the engine gives none. The answer's confidence reads them (core/chat/confidence.py).
    token_logprobs: list[float] | None = None
    # at each of those steps, the log-probability of the likeliest token that was not chosen (how close the model
    # came to writing something else); NaN at a step the engine named no other token for
    token_alternatives: list[float] | None = None

    def add_token(self, logprob: float, others: Sequence[float] = ()) -> None:
        """Record one answer token's log-probability beside the likeliest of `others` the server named for that step
        (NaN where it named none), as a server reports them."""
        if self.token_logprobs is None or self.token_alternatives is None:
            self.token_logprobs, self.token_alternatives = [], []
        self.token_logprobs.append(float(logprob))
        self.token_alternatives.append(float(max(others)) if others else math.nan)

    def mark_token(self) -> None:
        """Record the arrival of a piece of the answer."""
        if self.first_token_ms is None:
            self.first_token_ms = (time.perf_counter() - self.started) * 1000

    def finish(self) -> None:
        """Record the end of the generation."""
        self.total_ms = (time.perf_counter() - self.started) * 1000

    @property
    def tokens_per_s(self) -> float | None:
        """Generated tokens per second after the first token."""
        if self.total_ms is None or self.first_token_ms is None or self.completion_tokens < 2:
            return None
        span = (self.total_ms - self.first_token_ms) / 1000
        return (self.completion_tokens - 1) / span if span > 0 else None


class Generation(Protocol):
    """A streamed answer: iterate for text pieces; `stats` is complete when iteration ends."""

    stats: GenerationStats

    def __iter__(self) -> Iterator[str]: ...


class Engine(Protocol):
    """An LLM backend."""

    # Read-only members, so an engine may narrow them (OllamaEngine's name is Literal["ollama"]): a plain attribute
    # here would be mutable and so invariant, and no engine would match.
    @property
    def name(self) -> EngineName:
        """Which backend this is."""
        ...

    @property
    def bans_openings(self) -> bool:
        """Whether `GenerationRequest.banned_openings` is honoured."""
        ...

    def status(self) -> EngineStatus:
        """Check (cheaply) whether the engine can answer now."""
        ...

    def list_models(self) -> list[ModelInfo]:
        """The models this engine can run, base models and registered variants."""
        ...

    def generate(self, request: GenerationRequest) -> Generation:
        """Start a generation; errors are `core.errors.EngineError` subclasses."""
        ...


@runtime_checkable
class Batching(Protocol):
    """An engine whose server batches requests, and so answers several at once about as fast as one."""

    @property
    def max_concurrency(self) -> int:
        """How many requests to send the server at once."""
        ...


def concurrency(engine: Engine) -> int:
    """How many requests long work (evaluation, compare, the update test, training sets) sends `engine` at once."""
    if isinstance(engine, Batching):
        return max(1, engine.max_concurrency)
    return 1  # the embedded engine runs one model in this process; Ollama is asked one request at a time
