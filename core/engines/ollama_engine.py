"""The Ollama engine: chat generation, embeddings and model metadata through the official `ollama` client.

Every failure of the client or of httpx goes through `translate_ollama_error`, the one place that
turns them into `core.errors` messages saying how to fix the problem.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence
from urllib.parse import urlsplit

import httpx
import ollama
import pydantic

from core.config import Settings
from core.engines.base import EngineStatus, GenerationRequest, GenerationStats, ModelInfo
from core.engines.variants import VariantRegistry
from core.errors import (
    AppError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    GenerationInterruptedError,
    ModelNotFoundError,
    VariantError,
)

DEFAULT_PORT = 11434
CHARS_PER_TOKEN = 3.5  # conservative for English prose; the real ratio is 3.5–4.5
MIN_NUM_CTX = 2048
NUM_CTX_STEP = 1024
# Metadata calls (tags, show, version) answer in milliseconds on a healthy server.
STATUS_CONNECT_TIMEOUT_S = 2.0
STATUS_READ_TIMEOUT_S = 5.0
METADATA_READ_TIMEOUT_S = 15.0
EMBED_BATCH = 32


# -- addresses, clients, token estimates ------------------------------------------------------


def normalize_host(host: str) -> str:
    """`host` as a base URL with scheme and port, by Ollama's rules (no scheme: http and port 11434)."""
    raw = (host or "").strip() or f"127.0.0.1:{DEFAULT_PORT}"
    had_scheme = "://" in raw
    parts = urlsplit(raw if had_scheme else "http://" + raw)
    hostname = parts.hostname or "127.0.0.1"
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    port = parts.port
    if port is None:
        port = (443 if parts.scheme == "https" else 80) if had_scheme else DEFAULT_PORT
    return f"{parts.scheme}://{hostname}:{port}{parts.path.rstrip('/')}"


def make_client(host: str, connect_timeout_s: float, read_timeout_s: float) -> ollama.Client:
    """An `ollama.Client` with explicit timeouts (the client's default waits forever)."""
    return ollama.Client(host=host, timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s))


def estimate_prompt_tokens(messages: Sequence[dict[str, str]]) -> int:
    """A deliberately generous token estimate for chat messages (≈ chars / 3.5, plus template tokens)."""
    chars = sum(len(m.get("content", "")) for m in messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + 8 * len(messages)


def estimate_num_ctx(prompt_tokens: int, answer_tokens: int) -> int:
    """The context window to ask for: prompt + answer budget, rounded up to 1024, at least 2048."""
    need = prompt_tokens + answer_tokens
    return max(MIN_NUM_CTX, math.ceil(need / NUM_CTX_STEP) * NUM_CTX_STEP)


def parse_modelfile_from(modelfile: str) -> str | None:
    """The argument of the modelfile's `FROM` line (a blob path or a model name), if any."""
    for line in modelfile.splitlines():
        stripped = line.strip()
        if stripped[:5].upper() == "FROM ":
            value = stripped[5:].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            return value or None
    return None


# -- the one error translation point ----------------------------------------------------------


def parse_parameters(text: str) -> dict[str, Any]:
    """/api/show's `parameters` text ("stop \"<end_of_turn>\"\\ntemperature 1") as a create() mapping."""
    out: dict[str, Any] = {}
    for line in (text or "").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            continue
        key, raw = parts
        raw = raw.strip()
        value: Any
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            value = raw[1:-1]
        elif raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        if key == "stop":  # the one parameter Ollama takes as a list (one PARAMETER line each)
            out.setdefault("stop", []).append(str(value))
        else:
            out[key] = value
    return out


def translate_ollama_error(
    exc: BaseException,
    host: str,
    model: str | None = None,
    available: Sequence[str] | None = None,
    *,
    read_timeout_s: float | None = None,
    connect_timeout_s: float | None = None,
    partial: str | None = None,
) -> AppError:
    """Turn an `ollama`/`httpx` exception into an `AppError` whose message says how to fix it.

    `available` lists the server's models (for "not pulled" messages); `partial` is the text
    received before a stream broke, which makes the result a `GenerationInterruptedError`.
    """
    error = _classify(exc, host, model, available, read_timeout_s, connect_timeout_s)
    if partial is None or isinstance(error, GenerationInterruptedError):
        return error
    return GenerationInterruptedError(
        f"Ollama stopped in the middle of the answer ({len(partial)} characters received, kept below). {error}",
        partial=partial,
    )


def _classify(
    exc: BaseException,
    host: str,
    model: str | None,
    available: Sequence[str] | None,
    read_timeout_s: float | None,
    connect_timeout_s: float | None,
) -> AppError:
    if isinstance(exc, AppError):
        return exc
    for_model = f" for model '{model}'" if model else ""
    # The client turns httpx.ConnectError into the builtin ConnectionError, but only outside streams.
    if isinstance(exc, (ConnectionError, httpx.ConnectError)):
        return EngineUnavailableError(
            f"Ollama is not running at {host}: start it with `ollama serve` (or choose the embedded engine in the "
            "sidebar)."
        )
    if isinstance(exc, httpx.ConnectTimeout):
        within = f" within {connect_timeout_s:g} s" if connect_timeout_s else ""
        return EngineUnavailableError(
            f"Ollama at {host} did not accept a connection{within}: check OLLAMA_HOST and that `ollama serve` runs "
            "there "
            "(or choose the embedded engine in the sidebar)."
        )
    if isinstance(exc, httpx.TimeoutException):
        within = f" within {read_timeout_s:g} s" if read_timeout_s else " in time"
        now = f" (now {read_timeout_s:g})" if read_timeout_s else ""
        return EngineTimeoutError(
            f"Ollama at {host} did not answer{within}{for_model}: raise DOMAINCHAT_OLLAMA_READ_TIMEOUT_S{now} or "
            "choose a smaller model. "
            "The first request after a start also loads the model, so a retry can succeed."
        )
    if isinstance(exc, ollama.ResponseError):
        text = str(exc.error)
        if exc.status_code == 404 or re.search(r"model .* not found", text):
            name = model or _model_in_error(text) or "the model"
            if available is None:
                listing = ""
            elif available:
                listing = f" Available: {', '.join(available)}."
            else:
                listing = " No model is pulled yet."
            return ModelNotFoundError(
                f"Model '{name}' is not pulled on Ollama at {host}: run `ollama pull {name}`.{listing}"
            )
        status = f" (HTTP {exc.status_code})" if exc.status_code > 0 else ""
        return EngineError(
            f"Ollama at {host} could not answer{for_model}{status}: {text}. "
            "Check the log of `ollama serve`; if it ran out of memory, choose a smaller model."
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.NetworkError)):
        return EngineUnavailableError(
            f"The connection to Ollama at {host} broke ({exc.__class__.__name__}: {exc}): check that `ollama serve` "
            "still runs, then retry."
        )
    if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError)):
        return EngineError(
            f"The server at {host} sent a reply that is not Ollama's API ({exc.__class__.__name__}): "
            "check that OLLAMA_HOST points to an Ollama server, and update Ollama if it is old."
        )
    return EngineError(
        f"Ollama at {host} failed{for_model} ({exc.__class__.__name__}: {exc}): retry, or check the log of `ollama "
        "serve`."
    )


def _model_in_error(text: str) -> str | None:
    m = re.search(r"model ['\"]([^'\"]+)['\"]", text)
    return m.group(1) if m else None


# -- the engine -------------------------------------------------------------------------------


class OllamaEngine:
    """The Engine protocol on an Ollama server (local or remote)."""

    name: Literal["ollama"] = "ollama"
    bans_openings = False  # Ollama's API has no logit bias: a banned opening cannot be enforced

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.host = normalize_host(settings.ollama_host)
        self.connect_timeout_s = settings.ollama_connect_timeout_s
        self.read_timeout_s = settings.ollama_read_timeout_s
        self._client = make_client(self.host, self.connect_timeout_s, self.read_timeout_s)
        # Listing, metadata and status must stay snappy even when generation may take minutes.
        self._status_connect_s = min(self.connect_timeout_s, STATUS_CONNECT_TIMEOUT_S)
        self._status_read_s = min(self.read_timeout_s, STATUS_READ_TIMEOUT_S)
        self._quick = make_client(self.host, self._status_connect_s, min(self.read_timeout_s, METADATA_READ_TIMEOUT_S))
        self._status_client = make_client(self.host, self._status_connect_s, self._status_read_s)
        self._lock = threading.Lock()
        self._context_lengths: dict[str, int | None] = {}
        # Ollama reloads a model whenever num_ctx changes: never shrink it per model, only grow it.
        self._num_ctx_high: dict[str, int] = {}

    @property
    def client(self) -> ollama.Client:
        """The configured `ollama.Client` (long read timeout), for callers such as model registration."""
        return self._client

    # -- errors --

    def translate(self, exc: BaseException, model: str | None = None, partial: str | None = None) -> AppError:
        """`translate_ollama_error` with this engine's host, timeouts and (for 404) its model list."""
        available: list[str] | None = None
        if isinstance(exc, ollama.ResponseError) and (exc.status_code == 404 or "not found" in str(exc.error)):
            available = self._names_or_none()
        return translate_ollama_error(
            exc,
            self.host,
            model,
            available,
            read_timeout_s=self.read_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            partial=partial,
        )

    def _names_or_none(self) -> list[str] | None:
        try:
            return sorted(m.model or "" for m in self._quick.list().models)
        except Exception:  # noqa: BLE001 - only decorates another error's message
            return None

    # -- Engine protocol --

    def status(self) -> EngineStatus:
        """Ask the server for its model list with a short timeout; never raises."""
        try:
            names = sorted(m.model or "" for m in self._status_client.list().models)
        except Exception as exc:  # noqa: BLE001 - status reports every failure as a message
            err = translate_ollama_error(
                exc, self.host, connect_timeout_s=self._status_connect_s, read_timeout_s=self._status_read_s
            )
            return EngineStatus(engine="ollama", ok=False, address=self.host, message=str(err))
        default = self.settings.ollama_model
        message = f"Ollama at {self.host}: {len(names)} model(s)."
        if not _has_model(names, default):
            message += f" The default model '{default}' is not pulled: run `ollama pull {default}`."
        return EngineStatus(engine="ollama", ok=True, address=self.host, message=message)

    def version(self) -> str:
        """The server's version string (GET /api/version)."""
        try:
            with httpx.Client(
                base_url=self.host, timeout=httpx.Timeout(STATUS_READ_TIMEOUT_S, connect=STATUS_CONNECT_TIMEOUT_S)
            ) as http:
                r = http.get("/api/version")
                r.raise_for_status()
                return str(r.json().get("version", ""))
        except httpx.HTTPStatusError as exc:
            raise self.translate(ollama.ResponseError(exc.response.text, exc.response.status_code)) from exc
        except Exception as exc:
            raise self.translate(exc) from exc

    def list_models(self) -> list[ModelInfo]:
        """The server's models (GET /api/tags) followed by the registered Ollama variants."""
        try:
            tags = self._quick.list().models
        except Exception as exc:
            raise self.translate(exc) from exc
        variants = VariantRegistry(self.settings.data_dir).list("ollama")
        variant_models = {_full(v.ollama_model or v.name) for v in variants}
        names = {_full(t.model or "") for t in tags}
        out: list[ModelInfo] = []
        for t in sorted(tags, key=lambda t: t.model or ""):
            if _full(t.model or "") in variant_models:
                continue  # listed once, as the variant it is
            out.append(
                ModelInfo(
                    name=t.model or "",
                    kind="base",
                    size_bytes=int(t.size) if t.size is not None else None,
                    detail=_detail(t),
                )
            )
        for v in variants:
            target = v.ollama_model or v.name
            present = _full(target) in names
            detail = f"fine-tuned from {v.base_model}; Ollama model {target}"
            if not present:
                detail += " (missing on the server: register it again on the Fine-tune page)"
            out.append(ModelInfo(name=v.name, kind="variant", detail=detail))
        return out

    def resolve_model(self, name: str) -> str:
        """The Ollama model to run for `name`: a registered variant's model, or `name` itself."""
        for v in VariantRegistry(self.settings.data_dir).list("ollama"):
            if v.name == name:
                return v.ollama_model or v.name
        return name

    def generate(self, request: GenerationRequest, stream: bool = True) -> "OllamaGeneration":
        """A lazy generation over /api/chat with the prompt's messages; the request is sent when iterated."""
        return OllamaGeneration(self, request, stream=stream)

    # -- metadata for the fine-tuning work --

    def show(self, model: str) -> dict[str, Any]:
        """POST /api/show: modelfile, template, parameters, model_info, details, capabilities, license."""
        try:
            r = self._quick.show(self.resolve_model(model))
        except Exception as exc:
            raise self.translate(exc, model) from exc
        return {
            "modelfile": r.modelfile or "",
            "template": r.template or "",
            "parameters": r.parameters or "",
            "model_info": dict(r.modelinfo or {}),
            "details": r.details.model_dump() if r.details is not None else {},
            "capabilities": list(r.capabilities or []),
            "license": r.license or "",
        }

    def context_length(self, model: str) -> int | None:
        """The model's trained context length from /api/show (`*.context_length`), cached; None if unknown."""
        with self._lock:
            if model in self._context_lengths:
                return self._context_lengths[model]
        info = self.show(model)["model_info"]
        length: int | None = None
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, (int, float)) and value > 0:
                length = int(value)
                break
        with self._lock:
            self._context_lengths[model] = length
        return length

    def gguf_blob_path(self, model: str) -> Path:
        """The server-side path of the model's GGUF, from the `FROM` line of its modelfile."""
        modelfile = self.show(model)["modelfile"]
        source = parse_modelfile_from(modelfile)
        if not source or not (source.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", source)):
            raise VariantError(
                f"Ollama's modelfile for '{model}' names no GGUF file (FROM {source or 'missing'}): "
                f"pull the model again with `ollama pull {model}` or pick a model created from a GGUF."
            )
        return Path(source)

    # -- model management and one-shot calls (fine-tuning registration, embeddings) --

    def create_from_gguf(self, name: str, gguf: Path, *, like: str | None = None) -> str:
        """Upload a GGUF as a blob and create model `name` from it, with the template and parameters of model `like`.

        Returns the blob digest. Uses `files` (recent Ollama refuses `ADAPTER`: register a merged GGUF).
        """
        show = self.show(like) if like else {}
        parameters = parse_parameters(show.get("parameters", ""))
        try:
            digest = self._client.create_blob(Path(gguf))
            response = self._client.create(
                model=name,
                files={"model.gguf": digest},
                template=show.get("template") or None,
                parameters=parameters or None,
                stream=False,
            )
        except Exception as exc:  # noqa: BLE001 - the one translation point words it
            raise self.translate(exc, name) from exc
        if getattr(response, "status", "success") not in ("success", None):
            raise VariantError(
                f"Ollama did not create {name} (status {response.status!r}): see the log of `ollama serve`."
            )
        return digest

    def delete_model(self, name: str) -> None:
        """Delete a model from the server (ModelNotFoundError when it is not there)."""
        try:
            self._client.delete(name)
        except Exception as exc:  # noqa: BLE001
            raise self.translate(exc, name) from exc

    def chat_once(
        self,
        model: str,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 24,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> str:
        """One whole (not streamed) answer over /api/chat."""
        try:
            reply = self._client.chat(
                model=self.resolve_model(model),
                messages=[dict(m) for m in messages],
                stream=False,
                options={"temperature": temperature, "num_predict": max_tokens, "seed": seed},
            )
        except Exception as exc:  # noqa: BLE001
            raise self.translate(exc, model) from exc
        return reply.message.content or ""

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text (POST /api/embed, in batches of 32); EngineError if it is not an embedding model."""
        out: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            try:
                r = self._client.embed(model=model, input=batch)
            except Exception as exc:  # noqa: BLE001
                raise self.translate(exc, model) from exc
            if len(r.embeddings) != len(batch):
                raise EngineError(
                    f"Ollama at {self.host} returned {len(r.embeddings)} embeddings for {len(batch)} texts with "
                    f"'{model}': check that it is an embedding model (e.g. `ollama pull nomic-embed-text`)."
                )
            out.extend([float(x) for x in vec] for vec in r.embeddings)
        return out

    # -- used by OllamaGeneration --

    def num_ctx_for(self, model: str, wanted: int) -> int:
        """The num_ctx to send for `model`: the largest asked so far (Ollama reloads a model whenever it changes)."""
        with self._lock:
            high = max(self._num_ctx_high.get(model, 0), wanted)
            self._num_ctx_high[model] = high
            return high


def _full(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _has_model(names: Sequence[str], wanted: str) -> bool:
    return _full(wanted) in {_full(n) for n in names}


def _detail(tag: ollama.ListResponse.Model) -> str:
    d = tag.details
    if d is None:
        return ""
    parts = [p for p in (d.family, d.parameter_size, d.quantization_level) if p]
    if "embed" in (tag.model or "") or (d.family or "").endswith("bert"):
        parts.append("embedding model")
    return " ".join(parts)


class OllamaGeneration:
    """One streamed answer from /api/chat: iterate (once) for text pieces; `stats` and `text` fill in."""

    def __init__(self, engine: OllamaEngine, request: GenerationRequest, stream: bool = True) -> None:
        self.engine = engine
        self.request = request
        self.stream = stream
        self.model = engine.resolve_model(request.model)
        self.stats = GenerationStats()
        self.text = ""
        self.done_reason: str | None = None
        self.options: dict[str, Any] = {}
        self._started = False

    def _prepare(self) -> list[dict[str, str]]:
        req = self.request
        messages = [dict(m) for m in req.prompt.messages]
        prompt_tokens = estimate_prompt_tokens(messages)
        num_ctx = self.engine.num_ctx_for(self.model, estimate_num_ctx(prompt_tokens, req.max_tokens))
        try:
            trained = self.engine.context_length(self.model)
        except (ModelNotFoundError, EngineUnavailableError):
            raise  # the chat request would fail the same way, after a second wait
        except AppError:
            trained = None  # metadata is a nicety; the chat request reports real failures itself
        if trained is not None and num_ctx > trained:
            self.stats.warnings.append(
                f"The prompt (~{prompt_tokens} tokens) plus the answer budget ({req.max_tokens}) exceeds the "
                f"{trained}-token context of '{self.model}': Ollama will cut the start of the prompt. "
                "Retrieve fewer or smaller chunks (DOMAINCHAT_TOP_K, DOMAINCHAT_CHUNK_SIZE) or use a model with a "
                "longer context."
            )
            num_ctx = trained
        options: dict[str, Any] = {"temperature": req.temperature, "num_predict": req.max_tokens, "num_ctx": num_ctx}
        if req.seed is not None:
            options["seed"] = req.seed
        if req.stop:
            options["stop"] = list(req.stop)
        self.options = options
        self.stats.context_tokens = num_ctx
        return messages

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("A generation can be iterated only once.")
        self._started = True
        self.stats.started = time.perf_counter()  # count from the request, not from object creation
        try:
            messages = self._prepare()
            if self.stream:
                yield from self._streamed(messages)
            else:
                yield from self._whole(messages)
        finally:
            self.stats.finish()

    def _whole(self, messages: list[dict[str, str]]) -> Iterator[str]:
        try:
            r = self.engine.client.chat(
                model=self.model, messages=messages, stream=False, options=self.options, logprobs=True, top_logprobs=2
            )
        except Exception as exc:
            raise self.engine.translate(exc, self.model) from exc
        text = r.message.content or ""
        self._note_logprobs(r)
        if text:
            self.stats.mark_token()
        self._finish(r, pieces=1 if text else 0)
        self.text = text
        if text:
            yield text

    def _streamed(self, messages: list[dict[str, str]]) -> Iterator[str]:
        received_any = False
        pieces = 0
        parts: Iterator[ollama.ChatResponse] | None = None
        try:
            # logprobs: the answer's token probabilities, for its confidence (an Ollama before 0.12.11 sends none)
            parts = self.engine.client.chat(
                model=self.model, messages=messages, stream=True, options=self.options, logprobs=True, top_logprobs=2
            )
            for part in parts:
                received_any = True
                self._note_logprobs(part)
                piece = part.message.content or ""
                if piece:
                    self.stats.mark_token()
                    self.text += piece
                    pieces += 1
                    yield piece
                if part.done:
                    self._finish(part, pieces)
        except Exception as exc:
            raise self.engine.translate(exc, self.model, partial=self.text if received_any else None) from exc
        finally:
            close = getattr(parts, "close", None)
            if close is not None:
                close()  # a consumer that stops early closes the HTTP stream, which stops Ollama

    def _note_logprobs(self, part: ollama.ChatResponse) -> None:
        """Add the log-probabilities of the tokens of the text a reply carries (a stop's token is not the answer's)."""
        text, covered = part.message.content or "", 0
        for t in part.logprobs or ():
            covered += len(t.token)
            if covered > len(text) and t.token:
                break
            if not math.isfinite(t.logprob):
                continue
            others = [a.logprob for a in t.top_logprobs or () if a.token != t.token and math.isfinite(a.logprob)]
            self.stats.add_token(t.logprob, others)

    def _finish(self, final: ollama.ChatResponse, pieces: int) -> None:
        self.done_reason = final.done_reason
        self.stats.served_model = str(getattr(final, "model", "") or self.model)
        self.stats.prompt_tokens = final.prompt_eval_count
        self.stats.completion_tokens = final.eval_count if final.eval_count is not None else pieces
        num_ctx = int(self.options.get("num_ctx", 0))
        used = final.prompt_eval_count
        if used is not None and num_ctx and used >= num_ctx - self.request.max_tokens:
            self.stats.warnings.append(
                f"The prompt filled {used} of the {num_ctx} context tokens, so Ollama probably cut its start "
                "(the estimate of ~3.5 characters per token was too low for this text). "
                "Retrieve fewer or smaller chunks (DOMAINCHAT_TOP_K, DOMAINCHAT_CHUNK_SIZE)."
            )
