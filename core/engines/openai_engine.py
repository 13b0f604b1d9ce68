"""The openai engine: any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp server, LM Studio) through the
official `openai` client, which only this module imports (lazily: the import alone takes ≈0.7 s).

A chat model gets the prompt's chat form over /v1/chat/completions (the server applies the model's template); a base
model, which has no chat template (like the bundled Gemma 3 270M), gets the completion form over /v1/completions with
the stops and the text shaping of the embedded engine, so both engines show the same answer to the same prompt.
The form is DOMAINCHAT_OPENAI_PROMPT_FORM, or with `auto` read from the model's names (`detect_prompt_form`);
`OpenAIGeneration.mode` and `mode_reason` say which was used and why.

Every failure goes through `OpenAIEngine.translate`, the one place that turns the client's exceptions into
`core.errors` messages saying how to fix the problem. The API key is read from the environment when the client is
made and handed to it: it is kept nowhere else, and cut out of anything a server sends back.
"""

from __future__ import annotations

import email.utils
import math
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Mapping, Sequence, TypeVar, cast
from urllib.parse import urlsplit

from core.config import Settings
from core.engines.base import EngineStatus, GenerationRequest, GenerationStats, ModelInfo

# The embedded engine's stops and repeat guard: the same completion prompt must give the same answer on both engines.
from core.engines.embedded import DEFAULT_COMPLETION_STOPS, _RepeatGuard
from core.engines.variants import Variant, VariantRegistry
from core.errors import (
    AppError,
    ContextLengthError,
    EngineAuthError,
    EngineBusyError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    GenerationInterruptedError,
    ModelNotFoundError,
)

if TYPE_CHECKING:  # the client is imported where it is first used
    import openai

PromptForm = Literal["chat", "completion"]
T = TypeVar("T")

FALLBACK_KEY_ENV = "OPENAI_API_KEY"
# What the client sends when no key is set: the client refuses to start without one, and a server started without a
# key ignores it ("EMPTY" is the value vLLM's documentation uses).
NO_KEY = "EMPTY"
CONNECT_TIMEOUT_S = 3.0
# Listing models answers in milliseconds on a healthy server, however long generation may take.
STATUS_CONNECT_TIMEOUT_S = 2.0
STATUS_READ_TIMEOUT_S = 5.0
MODELS_TTL_S = 10.0  # a model served or removed on the server is noticed within this many seconds
RETRY_STATUSES = frozenset({429, 502, 503})  # busy, or restarting behind a proxy (502)
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0
RETRY_AFTER_MAX_S = 30.0  # a longer Retry-After is cut to this: someone is waiting for the answer
BUSY_WAIT_S = 300.0  # how long a request waits for one of the DOMAINCHAT_OPENAI_MAX_CONCURRENCY slots
EMBED_BATCH = 32
SERVER_TEXT_CHARS = 300  # how much of a server's own error text a message quotes
# Words that mark an instruction (chat) model in a model's name: Llama-3.1-8B-Instruct, gemma-3-270m-it,
# Qwen2.5-7B-Chat, zephyr-7b-sft… A base model's name has none of them.
INSTRUCTION_MARKERS = frozenset({"instruct", "chat", "it", "sft", "dpo", "orpo", "rlhf"})


# -- addresses, the key, prompt forms ----------------------------------------------------------


def normalize_base_url(url: str) -> str:
    """`url` with a scheme and no trailing slash; a bare host gets /v1, the path every such server serves."""
    raw = (url or "").strip() or "http://127.0.0.1:8000/v1"
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    path = parts.path.rstrip("/") or "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def read_api_key(variable: str, env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(key, the variable it came from): `variable`, else OPENAI_API_KEY; (None, None) when neither is set."""
    source = os.environ if env is None else env
    for name in dict.fromkeys((variable, FALLBACK_KEY_ENV)):
        value = (source.get(name) or "").strip()
        if value:
            return value, name
    return None, None


def redact(text: str, secret: str | None) -> str:
    """`text` without `secret` (a server may quote the key it refused)."""
    return text.replace(secret, "***") if secret else text


def detect_prompt_form(names: Sequence[str]) -> tuple[PromptForm, str]:
    """The prompt form for a model known by `names`, with the reason.

    `names` are the served name and, where the server says, the model it was served from (vLLM's `root`). Chat when
    a name carries an instruction marker (-instruct, -chat, -it, -sft…); else completion, which every model can
    continue, while a base model answers a chat prompt badly or not at all.
    """
    for name in names:
        words = set(re.split(r"[^a-z0-9]+", name.lower()))
        marker = next((w for w in sorted(words) if w in INSTRUCTION_MARKERS or w.endswith("instruct")), None)
        if marker is not None:
            return "chat", f"auto: '{name}' is named as an instruction model ('{marker}')"
    shown = " / ".join(f"'{n}'" for n in names if n) or "the model"
    return "completion", (
        f"auto: {shown} carries no instruction marker (-instruct, -chat, -it), so it is taken as a base model; "
        "set DOMAINCHAT_OPENAI_PROMPT_FORM=chat for a chat model"
    )


@dataclass(frozen=True)
class ServedModel:
    """A model the server lists in /v1/models, with what some servers add (vLLM: `root`, `max_model_len`)."""

    id: str
    root: str = ""
    max_model_len: int | None = None


@dataclass
class Attempts:
    """How a request went through the busy-retries: times sent, and seconds waited in between."""

    count: int = 0
    waited_s: float = 0.0


# -- the engine --------------------------------------------------------------------------------


class OpenAIEngine:
    """The Engine protocol on an OpenAI-compatible server (local or remote)."""

    name: Literal["openai"] = "openai"
    bans_openings = False  # a logit bias needs the server's token ids, which the protocol does not expose

    def __init__(self, settings: Settings, *, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.base_url = normalize_base_url(settings.openai_base_url)
        self.read_timeout_s = settings.openai_read_timeout_s
        self._env = env  # where the key is read (None: the process environment)
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None
        self._quick: openai.OpenAI | None = None
        self._models: tuple[float, list[ServedModel]] | None = None
        self._slots = threading.BoundedSemaphore(settings.openai_max_concurrency)

    def __repr__(self) -> str:
        # Spelled out, so that nothing the client holds (the key) can ever show up in a repr.
        return f"OpenAIEngine(base_url={self.base_url!r}, model={self.settings.openai_model!r})"

    # -- clients and the key --

    def _clients(self) -> tuple[openai.OpenAI, openai.OpenAI]:
        """The generation client (long read timeout) and the metadata client (short timeouts), made on first use."""
        with self._lock:
            if self._client is None or self._quick is None:
                import openai

                key = read_api_key(self.settings.openai_api_key_env, self._env)[0]
                # Retries are ours (`with_retries`): only a busy answer is worth another try, and a server that is
                # down is reported at once, not after the client's own backoff.
                self._client = openai.OpenAI(
                    api_key=key or NO_KEY,
                    base_url=self.base_url,
                    timeout=openai.Timeout(self.read_timeout_s, connect=CONNECT_TIMEOUT_S),
                    max_retries=0,
                )
                self._quick = self._client.with_options(
                    timeout=openai.Timeout(STATUS_READ_TIMEOUT_S, connect=STATUS_CONNECT_TIMEOUT_S), max_retries=0
                )
            return self._client, self._quick

    @property
    def client(self) -> openai.OpenAI:
        """The configured `openai.OpenAI` client (long read timeout, no retries of its own)."""
        return self._clients()[0]

    # -- the one error translation point --

    def translate(
        self,
        exc: BaseException,
        model: str | None = None,
        *,
        partial: str | None = None,
        attempts: Attempts | None = None,
        max_tokens: int | None = None,
    ) -> AppError:
        """Turn an exception of the client into an `AppError` whose message says how to fix it.

        `partial` is the text received before a stream broke: it makes the result a `GenerationInterruptedError`.
        The key never appears in the result: it is cut from the message, and an original exception that quotes it
        is not chained.
        """
        if isinstance(exc, AppError) and partial is None:
            return exc  # already worded (and chained) where it was raised
        secret = read_api_key(self.settings.openai_api_key_env, self._env)[0]
        error = self._classify(exc, model, attempts, max_tokens)
        message = redact(str(error), secret)
        if partial is not None and not isinstance(error, GenerationInterruptedError):
            error = GenerationInterruptedError(
                f"The server at {self.base_url} stopped in the middle of the answer ({len(partial)} characters "
                f"received, kept below). {message}",
                partial=partial,
            )
        elif message != str(error):
            error = _same_kind(error, message)
        leaks = secret is not None and secret in _all_text(exc)
        error.__cause__ = None if leaks else exc
        error.__suppress_context__ = True
        return error

    def _classify(
        self, exc: BaseException, model: str | None, attempts: Attempts | None, max_tokens: int | None
    ) -> AppError:
        if isinstance(exc, AppError):
            return exc
        url = self.base_url
        for_model = f" for model '{model}'" if model else ""
        openai = sys.modules.get("openai")  # an exception of the client means the client is imported
        if openai is None or not isinstance(exc, openai.OpenAIError):
            return EngineError(
                f"The openai engine failed{for_model} ({exc.__class__.__name__}: {exc}): retry, or check the server "
                f"at {url}."
            )
        if isinstance(exc, openai.APITimeoutError):
            if _caused_by(exc, "ConnectTimeout"):
                return EngineUnavailableError(
                    f"The server at {url} did not accept a connection within {CONNECT_TIMEOUT_S:g} s: check that it "
                    "runs there and that DOMAINCHAT_OPENAI_BASE_URL points to it."
                )
            return EngineTimeoutError(
                f"The server at {url} did not answer within {self.read_timeout_s:g} s{for_model}: raise "
                f"DOMAINCHAT_OPENAI_READ_TIMEOUT_S (now {self.read_timeout_s:g}) or check the server's load; "
                "its first request after a start may also be loading the model."
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            if _caused_by(exc, "ConnectError"):
                return EngineUnavailableError(
                    f"No server answers at {url} ({cause}): start your OpenAI-compatible server there (vLLM "
                    "`vllm serve MODEL`, llama.cpp `llama-server`, `python -m llama_cpp.server`, LM Studio), "
                    "or set DOMAINCHAT_OPENAI_BASE_URL to where it runs."
                )
            what = f"{cause.__class__.__name__}: {cause}" if cause is not None else str(exc)
            return EngineUnavailableError(
                f"The connection to the server at {url} broke ({what}): check that the server still runs, then retry."
            )
        if isinstance(exc, openai.APIStatusError):
            return self._classify_status(exc, model, attempts, max_tokens)
        if isinstance(exc, openai.APIError):  # an error event inside a stream: no HTTP status
            return EngineError(f"The server at {url} reported an error while answering{for_model}: {_server_text(exc)}")
        return EngineError(
            f"The openai client failed{for_model} ({exc.__class__.__name__}: {exc}): check the server at {url}."
        )

    def _classify_status(
        self, exc: openai.APIStatusError, model: str | None, attempts: Attempts | None, max_tokens: int | None
    ) -> AppError:
        url = self.base_url
        status = exc.status_code
        text = _server_text(exc)
        body: Mapping[str, Any] = exc.body if isinstance(exc.body, dict) else {}
        code = str(body.get("code") or "")
        for_model = f" for model '{model}'" if model else ""
        if status in (401, 403):
            variable = read_api_key(self.settings.openai_api_key_env, self._env)[1]
            if variable is None:
                return EngineAuthError(
                    f"The server at {url} needs an API key (HTTP {status}): put it in the environment variable "
                    f"{self.settings.openai_api_key_env} (read when used, never stored), or set "
                    "DOMAINCHAT_OPENAI_API_KEY_ENV to the name of the variable that holds it."
                )
            refused = "refused the API key" if status == 401 else f"does not let the API key run{for_model or ' this'}"
            return EngineAuthError(
                f"The server at {url} {refused} held in the environment variable {variable} (HTTP {status}): "
                "put the key the server expects in that variable, then retry."
            )
        if status in RETRY_STATUSES:
            tries = attempts.count if attempts is not None else 1
            waited = f" over {attempts.waited_s:.1f} s" if attempts is not None and attempts.waited_s else ""
            busy = "rate-limited the requests" if status == 429 else "was unavailable"
            return EngineBusyError(
                f"The server at {url} {busy} (HTTP {status}) at all {tries} attempt(s){waited}{for_model}: "
                "retry later, send fewer requests at once (DOMAINCHAT_OPENAI_MAX_CONCURRENCY, now "
                f"{self.settings.openai_max_concurrency}) or allow more retries (DOMAINCHAT_OPENAI_RETRIES, now "
                f"{self.settings.openai_retries})."
            )
        overflow = _context_overflow(text, body)
        if overflow is not None:
            return ContextLengthError(
                f"{_overflow_size(overflow, max_tokens)} of '{model or 'the model'}' on the server at {url}: retrieve "
                "fewer or smaller passages (DOMAINCHAT_TOP_K, DOMAINCHAT_CHUNK_SIZE), lower "
                "DOMAINCHAT_MAX_ANSWER_TOKENS, or serve the model with a longer context (vLLM `--max-model-len`, "
                f"llama.cpp `--ctx-size`). The server said: {text}"
            )
        if status == 404 or code == "model_not_found":
            if model and (code == "model_not_found" or re.search(r"\bmodel\b", text, re.I)):
                return self.not_served(model)
            return EngineError(
                f"The server at {url} has no {exc.request.url.path} (HTTP {status}): check that "
                "DOMAINCHAT_OPENAI_BASE_URL is the server's OpenAI-compatible address, ending in /v1."
            )
        if 400 <= status < 500:
            return EngineError(f"The server at {url} refused the request{for_model} (HTTP {status}): {text}")
        return EngineError(
            f"The server at {url} failed{for_model} (HTTP {status}): {text}. Check the server's log; if it ran out "
            "of memory, serve a smaller model or a shorter context."
        )

    def not_served(self, model: str, served: Sequence[str] | None = None) -> ModelNotFoundError:
        """The error for a model the server does not serve, naming those it does (asked now unless given)."""
        if served is None:
            try:
                served = [m.id for m in self.served_models(fresh=True)]
            except AppError:
                served = None
        if served:
            listing = f"it serves {', '.join(served)}"
        else:
            listing = "it serves no model" if served is not None else "its model list could not be read"
        variant = self.variant_serving(model)
        if variant is not None:
            # finetuned/hybrid must never fall back to the base: say how to serve the adapter under this name
            return ModelNotFoundError(
                f"The fine-tuned variant '{variant.name}' runs as model '{model}', which the server at "
                f"{self.base_url} does not serve: {listing}. {serve_hint(model)}"
            )
        return ModelNotFoundError(
            f"Model '{model}' is not served by the server at {self.base_url}: {listing}. Set "
            f"DOMAINCHAT_OPENAI_MODEL to one of them, or serve it under that name (vLLM `--served-model-name "
            f"{model}`, llama.cpp `--alias {model}`)."
        )

    # -- retries and concurrency --

    @property
    def max_concurrency(self) -> int:
        """How many requests long work sends at once: the server batches them (DOMAINCHAT_OPENAI_MAX_CONCURRENCY)."""
        return self.settings.openai_max_concurrency

    def with_retries(self, send: Callable[[], T], model: str | None, *, max_tokens: int | None = None) -> T:
        """`send()`, and again after a busy answer (429/502/503) up to DOMAINCHAT_OPENAI_RETRIES times."""
        attempts = Attempts()
        fresh_connection = False
        while True:
            attempts.count += 1
            try:
                return send()
            except Exception as exc:
                if not fresh_connection and _stale_connection(exc):
                    # A kept-alive connection the server had closed (it does after a stream that failed): the
                    # request never got an answer, and the client does not retry it itself when told not to retry.
                    fresh_connection = True
                    attempts.count -= 1
                    continue
                status = getattr(exc, "status_code", None)
                if status in RETRY_STATUSES and attempts.count <= self.settings.openai_retries:
                    delay = _retry_delay(attempts.count, getattr(exc, "response", None))
                    time.sleep(delay)
                    attempts.waited_s += delay
                    continue
                raise self.translate(exc, model, attempts=attempts, max_tokens=max_tokens)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the DOMAINCHAT_OPENAI_MAX_CONCURRENCY request slots (a server batches, but not without end)."""
        limit = self.settings.openai_max_concurrency
        if not self._slots.acquire(timeout=BUSY_WAIT_S):
            raise EngineBusyError(
                f"{limit} request(s) to the server at {self.base_url} were still running after {BUSY_WAIT_S:g} s: "
                f"retry in a moment, or raise DOMAINCHAT_OPENAI_MAX_CONCURRENCY (now {limit}) if the server takes more."
            )
        try:
            yield
        finally:
            self._slots.release()

    # -- models --

    def served_models(self, fresh: bool = False, patient: bool = False) -> list[ServedModel]:
        """The server's models (GET /v1/models), remembered for a few seconds; `patient` waits as long as a
        generation would (the check before a request), else a few seconds (a status)."""
        with self._lock:
            cached = self._models
        if not fresh and cached is not None and time.monotonic() - cached[0] < MODELS_TTL_S:
            return cached[1]
        # A server that answers one request at a time (llama-cpp-python's) answers /v1/models only after the
        # generations ahead of it: the check before a request must wait for them like the request itself would.
        client = self._clients()[0 if patient else 1]
        try:
            models = sorted((_served_model(m) for m in client.models.list()), key=lambda m: m.id)
        except Exception as exc:  # noqa: BLE001 - the one translation point words it
            raise self.translate(exc)
        with self._lock:
            self._models = (time.monotonic(), models)
        return models

    def served(self, model: str, patient: bool = False) -> ServedModel:
        """The served model called `model`; ModelNotFoundError (naming what is served) when the server lacks it.

        Asked before every request: some servers (llama-cpp-python's) answer an unknown name with their default
        model, which would run the wrong model without a word.
        """
        models: list[ServedModel] = []
        for fresh in (False, True):  # a model served since the last look is found the second time
            models = self.served_models(fresh=fresh, patient=patient)
            for m in models:
                if m.id == model:
                    return m
        raise self.not_served(model, [m.id for m in models])

    def variants(self) -> list[Variant]:
        """The registered variants of this engine (model names the server is expected to serve)."""
        return VariantRegistry(self.settings.data_dir).list("openai")

    def variant_serving(self, model: str) -> Variant | None:
        """The registered variant that runs as served model `model` (or is called `model`), if any."""
        for v in self.variants():
            if model in (v.name, v.served_model or v.name):
                return v
        return None

    def resolve_model(self, name: str) -> str:
        """The served model to run for `name`: a registered variant's served name, or `name` itself."""
        variant = self.variant_serving(name)
        return (variant.served_model or variant.name) if variant is not None and variant.name == name else name

    @property
    def default_model(self) -> str:
        """The model a request without a choice uses: DOMAINCHAT_OPENAI_MODEL, else the first the server lists."""
        if self.settings.openai_model:
            return self.settings.openai_model
        models = self.served_models()
        if not models:
            raise ModelNotFoundError(f"The server at {self.base_url} serves no model: start it with one, then retry.")
        return models[0].id

    def prompt_form(self, model: str) -> tuple[PromptForm, str]:
        """How `model` gets its prompts, and why: DOMAINCHAT_OPENAI_PROMPT_FORM, or (auto) from its names."""
        setting = self.settings.openai_prompt_form
        if setting in ("chat", "completion"):
            return cast(PromptForm, setting), f"set by DOMAINCHAT_OPENAI_PROMPT_FORM={setting}"
        names = [model]
        try:
            root = self.served(model).root
        except AppError:
            root = ""  # the request itself reports a missing model or server
        if root and root != model:
            names.append(root)
        return detect_prompt_form(names)

    # -- Engine protocol --

    def status(self) -> EngineStatus:
        """Ask the server for its model list with a short timeout; never raises."""
        engine = self.name
        try:
            names = [m.id for m in self.served_models(fresh=True)]
        except AppError as err:
            return EngineStatus(engine=engine, ok=False, address=self.base_url, message=str(err))
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        message = f"OpenAI-compatible server at {self.base_url}: {len(names)} model(s)"
        message += f" ({shown})." if names else ". Start it with a model."
        wanted = self.settings.openai_model
        if wanted and wanted not in names:
            message += f" Model '{wanted}' (DOMAINCHAT_OPENAI_MODEL) is not served: choose one of those, or serve it."
        elif names:
            model = wanted or names[0]
            form, reason = self.prompt_form(model)
            chosen = "" if wanted else " (the first listed; set DOMAINCHAT_OPENAI_MODEL to choose)"
            message += f" Model '{model}'{chosen} gets {form} prompts ({reason})."
        return EngineStatus(engine=engine, ok=True, address=self.base_url, message=message)

    def list_models(self) -> list[ModelInfo]:
        """The server's models (GET /v1/models), each with the prompt form it gets."""
        out: list[ModelInfo] = []
        served = self.served_models()
        variants = {v.served_model or v.name: v for v in self.variants()}
        for m in served:
            if m.id in variants:
                continue  # listed once, as the variant it is
            detail = f"served at {self.base_url}; {self.prompt_form(m.id)[0]} prompts"
            if m.root and m.root != m.id:
                detail += f"; from {m.root}"
            if m.max_model_len:
                detail += f"; context {m.max_model_len} tokens"
            out.append(ModelInfo(name=m.id, kind="base", detail=detail))
        ids = {m.id for m in served}
        for target, v in variants.items():
            detail = f"fine-tuned from {v.base_model}; served as {target}"
            if target not in ids:
                detail += f" (not served by {self.base_url} now: {serve_hint(target)})"
            out.append(ModelInfo(name=v.name, kind="variant", detail=detail))
        return out

    def generate(self, request: GenerationRequest, stream: bool = True) -> "OpenAIGeneration":
        """A lazy generation: the request is sent when the result is iterated."""
        return OpenAIGeneration(self, request, stream=stream)

    # -- embeddings --

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text (POST /v1/embeddings, in batches of 32)."""
        self.served(model)
        client = self.client
        out: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])

            def send() -> Any:
                # "float": the client would otherwise ask for base64, which not every server speaks.
                return client.embeddings.create(model=model, input=batch, encoding_format="float")

            with self.slot():
                reply = self.with_retries(send, model)
            vectors = [d.embedding for d in sorted(reply.data, key=lambda d: d.index)]
            if len(vectors) != len(batch) or not all(_is_vector(v) for v in vectors):
                raise EngineError(
                    f"The server at {self.base_url} did not return one vector per text with '{model}' "
                    f"({len(vectors)} answers for {len(batch)} texts, or a vector per token): serve it as an embedding "
                    "model with pooling (vLLM `--task embed`, llama.cpp `--embeddings --pooling mean`, "
                    "llama-cpp-python `embedding: true` with a pooling type)."
                )
            # Servers differ (vLLM and llama.cpp normalise, llama-cpp-python does not): one length for every backend.
            out.extend(_unit(v) for v in vectors)
        return out


class OpenAIGeneration:
    """One answer from the server: iterate (once) for text pieces; `stats`, `text` and `mode` fill in."""

    def __init__(self, engine: OpenAIEngine, request: GenerationRequest, stream: bool = True) -> None:
        self.engine = engine
        self.request = request
        self.stream = stream
        self.stats = GenerationStats()
        self.text = ""
        self.finish_reason: str | None = None
        self.mode: PromptForm | None = None
        self.mode_reason = ""
        self._started = False
        self._pieces = 0  # text chunks received: the token count when the server sends no usage
        self._stops: tuple[str, ...] = ()  # every stop of the request, enforced here too (see MAX_SENT_STOPS)

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("A generation can be iterated only once.")
        self._started = True
        self.stats.started = time.perf_counter()  # count from the request, not from object creation
        try:
            model = self.engine.resolve_model(self.request.model or self.engine.default_model)
            served = self.engine.served(model, patient=True)
            self.mode, self.mode_reason = self.engine.prompt_form(model)
            self.stats.prompt_form = self.mode
            self.stats.context_tokens = served.max_model_len
            send = self._sender(model)
            with self.engine.slot():
                if self.stream:
                    yield from self._streamed(model, send)
                else:
                    yield from self._whole(model, send)
        finally:
            self.stats.finish()

    def _sender(self, model: str) -> Callable[[bool], Any]:
        """A function sending the request, streamed or whole, in the chosen prompt form."""
        req = self.request
        client = self.engine.client
        common: dict[str, Any] = {"model": model, "max_tokens": req.max_tokens, "temperature": req.temperature}
        if req.seed is not None:
            common["seed"] = req.seed
        # The client's overloads type each `stream` value apart; one call sends either.
        create: Callable[..., Any]
        if self.mode == "completion":
            # The embedded engine's stops: a base model answers on one line and then runs on.
            self._stops = tuple(dict.fromkeys([*req.stop, *DEFAULT_COMPLETION_STOPS, *req.prompt.completion_stops]))
            common["prompt"] = req.prompt.completion
            create = cast(Callable[..., Any], client.completions.create)
        else:
            self._stops = tuple(dict.fromkeys(req.stop))
            common["messages"] = [dict(m) for m in req.prompt.messages]
            create = cast(Callable[..., Any], client.chat.completions.create)

        if self._stops:
            common["stop"] = list(self._stops[:MAX_SENT_STOPS])
        # Sampling settings the server takes beyond OpenAI's (DOMAINCHAT_OPENAI_EXTRA_BODY), sent as they are.
        body = self.engine.settings.openai_extra_fields
        # The answer's token probabilities and each step's likeliest other token, for its confidence: the completions
        # API counts the alternatives per token, the chat API takes a switch and a count.
        logprobs: dict[str, Any] = (
            {"logprobs": 2} if self.mode == "completion" else {"logprobs": True, "top_logprobs": 2}
        )

        def send(stream: bool) -> Any:
            # Usage in the stream's last chunk, where the server sends it (llama-cpp-python's does not).
            extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}
            if body:
                extra["extra_body"] = body
            if self.engine.base_url not in _NO_LOGPROBS:
                try:
                    return create(stream=stream, **common, **extra, **logprobs)
                except Exception as exc:
                    if not _refuses_logprobs(exc):
                        raise
                    # a server that does not do logprobs (or not for this model): asked without them from now on
                    _NO_LOGPROBS.add(self.engine.base_url)
            return create(stream=stream, **common, **extra)

        return send

    def _streamed(self, model: str, send: Callable[[bool], Any]) -> Iterator[str]:
        shaper = _Shaper(_RepeatGuard() if self.mode == "completion" else None, self._stops)
        chunks = self.engine.with_retries(lambda: send(True), model, max_tokens=self.request.max_tokens)
        try:
            for chunk in chunks:
                self._note(chunk, model)
                for choice in chunk.choices or ():
                    raw = choice.text if self.mode == "completion" else (choice.delta.content if choice.delta else None)
                    self._note_logprobs(choice, raw or "")
                    self._pieces += 1 if raw else 0
                    self.finish_reason = choice.finish_reason or self.finish_reason
                    piece = shaper.feed(raw or "")
                    if piece:
                        yield self._shown(piece)
                if shaper.stopped:
                    self.finish_reason = "stop" if shaper.cut_at_stop else "repeat"
                    break
            tail = shaper.flush()
            if tail:
                yield self._shown(tail)
        except Exception as exc:
            partial = self.text or None
            raise self.engine.translate(exc, model, partial=partial, max_tokens=self.request.max_tokens)
        finally:
            chunks.close()  # a reader that stops early closes the HTTP stream, which stops the server's generation
        if self.finish_reason is None:
            if self.text:
                raise GenerationInterruptedError(
                    f"The server at {self.engine.base_url} ended the answer without saying why ({len(self.text)} "
                    "characters received, kept below): another request may have interrupted it (llama-cpp-python's "
                    "server does, unless started with interrupt_requests false). Retry.",
                    partial=self.text,
                )
            # An empty stream with no reason: llama-cpp-python reports an error raised inside a stream (a prompt
            # longer than the context) only to a request that is not streamed, so ask once more that way.
            self.stats.warnings.append("The server's stream ended with no answer and no reason; asked again whole.")
            yield from self._whole(model, send)
            return
        self._count_tokens()

    def _whole(self, model: str, send: Callable[[bool], Any]) -> Iterator[str]:
        reply = self.engine.with_retries(lambda: send(False), model, max_tokens=self.request.max_tokens)
        self._note(reply, model)
        choice = reply.choices[0] if reply.choices else None
        raw = None
        if choice is not None:
            raw = choice.text if self.mode == "completion" else choice.message.content
            self._note_logprobs(choice, raw or "")
            self.finish_reason = choice.finish_reason
        self.finish_reason = self.finish_reason or "stop"
        self._pieces += 1 if raw else 0
        shaper = _Shaper(_RepeatGuard() if self.mode == "completion" else None, self._stops)
        text = shaper.feed(raw or "") + shaper.flush()
        if shaper.stopped and not shaper.cut_at_stop:
            self.finish_reason = "repeat"
        if text:
            yield self._shown(text)
        self._count_tokens()

    def _note(self, reply: Any, model: str) -> None:
        """Record what a reply says about the run: the served model and, where sent, the token counts."""
        self.stats.served_model = str(getattr(reply, "model", "") or self.stats.served_model or model)
        usage = getattr(reply, "usage", None)
        if usage is not None:
            self.stats.prompt_tokens = usage.prompt_tokens
            self.stats.completion_tokens = usage.completion_tokens

    def _note_logprobs(self, choice: Any, text: str) -> None:
        """Add the log-probabilities of the tokens of `text`, the piece a reply's choice carries (none when the server
        sends none): a server also reports the token that matched a stop, which is not part of the answer."""
        given = getattr(choice, "logprobs", None)
        if given is None:
            return
        steps: list[tuple[str, Any, Mapping[str, Any]]] = []  # (token, its logprob, the alternatives' logprobs)
        if self.mode == "completion":
            tokens = list(getattr(given, "tokens", None) or [])
            values = list(getattr(given, "token_logprobs", None) or [])
            tops = list(getattr(given, "top_logprobs", None) or [])
            for i, value in enumerate(values):
                top = tops[i] if i < len(tops) and isinstance(tops[i], Mapping) else {}
                steps.append((tokens[i] if i < len(tokens) else "", value, top))
        else:
            for t in getattr(given, "content", None) or []:
                top = {str(getattr(a, "token", "")): getattr(a, "logprob", None) for a in t.top_logprobs or []}
                steps.append((str(getattr(t, "token", "")), getattr(t, "logprob", None), top))
        covered = 0
        for token, value, top in steps:
            covered += len(token)
            if covered > len(text) and token:
                break  # past the text: the stop's token
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            others = [v for k, v in top.items() if k != token and isinstance(v, (int, float)) and math.isfinite(v)]
            self.stats.add_token(value, others)

    def _shown(self, piece: str) -> str:
        self.stats.mark_token()
        self.text += piece
        return piece

    def _count_tokens(self) -> None:
        if not self.stats.completion_tokens:
            # No usage sent (llama-cpp-python ignores stream_options): servers stream one token per chunk.
            self.stats.completion_tokens = self._pieces


class _Shaper:
    """The embedded engine's text shaping: the answer ends at the first stop, no leading or trailing whitespace, a
    base model's repeated lines cut.

    The stops are enforced here as well as by the server, which is sent only the first MAX_SENT_STOPS of them.
    """

    def __init__(self, guard: _RepeatGuard | None, stops: Sequence[str] = ()) -> None:
        self.guard = guard
        self.stops = tuple(s for s in stops if s)
        self.started = False
        self.held = ""  # trailing whitespace is shown only once more text follows it
        self.unchecked = ""  # the end of the text received that may be the start of a stop
        self.cut_at_stop = False

    @property
    def stopped(self) -> bool:
        """Whether the rest of the answer is not wanted: a stop was reached, or the guard cut a repeat."""
        return self.cut_at_stop or (self.guard is not None and self.guard.stopped)

    def feed(self, raw: str) -> str:
        """What of `raw` may be shown now."""
        if self.cut_at_stop:
            return ""
        text = self._before_stop(raw)
        return self._shape(self.guard.feed(text) if self.guard is not None else text)

    def flush(self) -> str:
        """What is still held back at the end of the answer."""
        text, self.unchecked = ("" if self.cut_at_stop else self.unchecked), ""
        if self.guard is not None:
            return self._shape(self.guard.feed(text) + self.guard.flush())
        return self._shape(text)

    def _before_stop(self, raw: str) -> str:
        """The text that is certainly before any stop; a tail that could begin one waits for the next piece."""
        if not self.stops:
            return raw
        text = self.unchecked + raw
        found = [i for i in (text.find(stop) for stop in self.stops) if i >= 0]
        if found:
            self.cut_at_stop, self.unchecked = True, ""
            return text[: min(found)]
        # hold back the longest end of the text that begins a stop ("\n" may be the start of "\n\n")
        keep = max((k for stop in self.stops for k in range(1, len(stop)) if text.endswith(stop[:k])), default=0)
        self.unchecked = text[len(text) - keep :]
        return text[: len(text) - keep]

    def _shape(self, piece: str) -> str:
        if not self.started:
            piece = piece.lstrip()  # completion answers start with the space after "Answer:"
        body = piece.rstrip()
        if not body:
            self.held += piece
            return ""
        out, self.held = self.held + body, piece[len(body) :]
        self.started = True
        return out


# -- helpers -------------------------------------------------------------------------------------

# OpenAI's own API and TGI (its default max_stop_sequences) take at most four stop sequences and refuse a request
# with more; vLLM, SGLang and llama.cpp take any number. The first four go to the server, every one is enforced here.
MAX_SENT_STOPS = 4


# Servers that refused a request for token probabilities (by base URL): later requests there go without them.
_NO_LOGPROBS: set[str] = set()


def _refuses_logprobs(exc: BaseException) -> bool:
    """Whether an error is a server's refusal of the `logprobs` field (HTTP 400/422 naming it)."""
    status = getattr(exc, "status_code", None)
    return status in (400, 422) and "logprob" in _server_text(exc).lower()


def serve_hint(name: str, adapter: str = "PATH") -> str:
    """How to serve a LoRA adapter under model name `name` on the common servers (vLLM/SGLang, llama.cpp)."""
    return (
        f"Serve it under that name: vLLM `vllm serve BASE --enable-lora --lora-modules {name}={adapter}` (the PEFT "
        f"adapter folder), SGLang `--lora-paths {name}={adapter}`, or llama-cpp-python's server with a second model "
        f"entry `model_alias: {name}` and `lora_path` (the LoRA GGUF); then check the server's /v1/models lists it."
    )


def _served_model(entry: Any) -> ServedModel:
    extra = getattr(entry, "model_extra", None) or {}
    root = str(extra.get("root") or "")
    return ServedModel(id=str(entry.id), root=root, max_model_len=_int(extra.get("max_model_len")))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _caused_by(exc: BaseException, name: str) -> bool:
    """Whether an exception in `exc`'s chain is of class `name` (httpx2's classes, without importing httpx2)."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        if any(k.__name__ == name for k in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _stale_connection(exc: BaseException) -> bool:
    """Whether a request failed on a connection that broke before any answer came (not refused, not timed out)."""
    return _caused_by(exc, "RemoteProtocolError") or _caused_by(exc, "ReadError")


def _server_text(exc: Any) -> str:
    """The server's own words about an error: the `message` (or FastAPI's `detail`) of its JSON body."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        text = next((body[k] for k in ("message", "detail", "error") if isinstance(body.get(k), str) and body[k]), "")
    elif isinstance(body, str):
        text = body
    text = " ".join((text or getattr(exc, "message", "") or str(exc)).split())
    return text[:SERVER_TEXT_CHARS] + ("…" if len(text) > SERVER_TEXT_CHARS else "")


# How servers word a prompt that does not fit, with the limit and the prompt's tokens where they give them.
_LIMIT_PATTERNS = (
    r"maximum context length is (\d+)",  # OpenAI, vLLM, llama-cpp-python
    r"maximum model length of (\d+)",  # vLLM, a prompt alone too long
    r"must be <= (\d+)",  # TGI
    r"context (?:size|window|length) (?:of|is) (\d+)",
)
_PROMPT_PATTERNS = (
    r"(\d+) in (?:your prompt|the messages)",  # llama-cpp-python, vLLM
    r"request has (\d+) input tokens",  # vLLM
    r"prompt \(length (\d+)\)",  # vLLM
    r"Given: (\d+) `inputs` tokens",  # TGI
)
_OVERFLOW_WORDS = re.compile(
    r"context length|context size|context window|maximum model length|max_new_tokens` must be", re.I
)


def _context_overflow(text: str, body: Mapping[str, Any]) -> tuple[int | None, int | None] | None:
    """(prompt tokens, context limit) when the error says the prompt does not fit, else None."""
    code = f"{body.get('code', '')} {body.get('type', '')}"
    if "context_length_exceeded" not in code and "exceed_context_size" not in code and not _OVERFLOW_WORDS.search(text):
        return None
    # llama.cpp's own server sends both numbers as fields; the others say them in words.
    limit = _int(body.get("n_ctx")) or _first_number(_LIMIT_PATTERNS, text)
    prompt = _int(body.get("n_prompt_tokens")) or _first_number(_PROMPT_PATTERNS, text)
    return prompt, limit


def _overflow_size(overflow: tuple[int | None, int | None], max_tokens: int | None) -> str:
    prompt, limit = overflow
    budget = f"the answer budget ({max_tokens} tokens)" if max_tokens is not None else "the answer budget"
    if prompt is not None and limit is not None:
        return f"The prompt ({prompt} tokens) and {budget} exceed the {limit}-token context"
    if limit is not None:
        return f"The prompt and {budget} exceed the {limit}-token context"
    return f"The prompt and {budget} exceed the context"


def _first_number(patterns: Sequence[str], text: str) -> int | None:
    for pattern in patterns:
        m = re.search(pattern, text, re.I)
        if m:
            return int(m.group(1))
    return None


def _retry_delay(attempt: int, response: Any) -> float:
    """Seconds before retry number `attempt`: the server's Retry-After (capped), else 0.5 s doubling up to 8 s."""
    headers = getattr(response, "headers", None)
    raw = headers.get("retry-after") if headers is not None else None
    if raw:
        try:
            return min(RETRY_AFTER_MAX_S, max(0.0, float(raw)))
        except ValueError:
            pass
        try:  # the other form of Retry-After: an HTTP date
            return min(RETRY_AFTER_MAX_S, max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time()))
        except (TypeError, ValueError):
            pass
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempt - 1))


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(x, (int, float)) for x in value)


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [float(x) / norm for x in vector]


def _all_text(exc: BaseException) -> str:
    """Everything an exception would show: its message and body, and its causes'."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 20:
        parts += [str(seen), repr(getattr(seen, "body", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def _same_kind(error: AppError, message: str) -> AppError:
    """`error` again with another message (the key cut out), keeping its class and its partial answer."""
    if isinstance(error, GenerationInterruptedError):
        return GenerationInterruptedError(message, partial=error.partial)
    return type(error)(message)
