"""A real HTTP server that speaks the OpenAI-compatible API, for the answers a real local server cannot be made to give.

It listens on 127.0.0.1 (a free port) and answers what the official `openai` client calls: `GET /v1/models`,
`POST /v1/chat/completions` and `/v1/completions` (whole, or streamed as server-sent events ending in `[DONE]`, with
`usage` in a last chunk when `stream_options.include_usage` asks for it) and `/v1/embeddings`. It is scriptable:
a required API key (a refused key is quoted back in the 401, as the worst server would), canned failures per path
(429 then 200, 503 forever, each with its Retry-After), a stream that breaks after some pieces (the connection drops,
or an error event), a delay per request. It records every request and the most requests it held at once.
Everything is deterministic: replies are canned, embeddings are derived from a hash of the text.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable

from core.config import Settings

DEFAULT_REPLY = "The filter should be cleaned every 2 weeks."
_PIECE = re.compile(r"\S+\s*|\s+")
_CREATED = 1_796_000_000


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None


@dataclass
class Failure:
    """A canned error answer: status, the error's message, and its Retry-After header ("" = none)."""

    status: int
    message: str = "The server is busy."
    retry_after: str = ""


@dataclass
class StreamBreak:
    """Send `after` pieces of the answer, then drop the connection (or, with `event`, send an error event)."""

    after: int
    event: str = ""


@dataclass
class FakeServer:
    """What the fake serves and how it misbehaves; tests change these fields between requests."""

    models: dict[str, str] = field(default_factory=lambda: {"gemma-3-270m": DEFAULT_REPLY})  # name -> reply
    api_key: str | None = None  # when set, requests must send "Authorization: Bearer <api_key>"
    failures: dict[str, list[Failure]] = field(default_factory=dict)  # path -> answers for the next requests
    always: dict[str, Failure] = field(default_factory=dict)  # path -> the answer to every request
    stream_break: StreamBreak | None = None
    delay_s: float = 0.0  # before answering a generation or embedding request
    # what a request for token probabilities gets: each piece's logprob, or (None) a 400 as servers without them say
    piece_logprob: float | None = -0.25
    other_logprob: float = -2.0  # the likeliest other token's, sent among the alternatives a request asks for
    # a token the reply's logprobs also report after its text, as llama.cpp's server reports the stop it matched
    stop_token: str = ""
    embedding_dim: int = 8


class FakeOpenAIServer:
    """The fake server; use as a context manager or call `start()` / `stop()`."""

    def __init__(self, models: Iterable[str] = ("gemma-3-270m",), reply: str = DEFAULT_REPLY) -> None:
        self.state = FakeServer(models={m: reply for m in models})
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.generating = 0  # generation requests only (embeddings, e.g. of an ingest, are not answers)
        self.max_generating = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "FakeOpenAIServer":
        """Listen on a free port of 127.0.0.1 in a background thread."""
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.fake = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:54321/v1."""
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Recorded requests to `path` (e.g. "/v1/completions"), oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _enter(self, generation: bool) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.generating += generation
            self.max_generating = max(self.max_generating, self.generating)

    def _leave(self, generation: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            self.generating -= generation

    def _next_failure(self, path: str) -> Failure | None:
        with self._lock:
            queued = self.state.failures.get(path)
            if queued:
                return queued.pop(0)
            return self.state.always.get(path)


def embedding(text: str, dim: int) -> list[float]:
    """The fake's vector for `text`: deterministic, unit-length, different for different texts."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dim:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend((v / 2**31) - 1.0 for v in struct.unpack(">8I", block))
        counter += 1
    vec = raw[:dim]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai"

    @property
    def fake(self) -> FakeOpenAIServer:
        return self.server.fake  # type: ignore[attr-defined]

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client hung up (a closed stream): normal here

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # -- plumbing --

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)

    def _event(self, obj: Any) -> None:
        data = b"data: " + (obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()) + b"\n\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- dispatch --

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        fake = self.fake
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake._record(RecordedRequest(method, self.path, headers, body))
        state = fake.state
        if state.api_key is not None:
            presented = headers.get("authorization", "")
            if presented != f"Bearer {state.api_key}":
                # Quoted back in full: the worst a server does, so tests can show the key never gets further.
                self._error(401, f"Incorrect API key provided: {presented.removeprefix('Bearer ')}", "invalid_api_key")
                return
        failure = fake._next_failure(self.path)
        if failure is not None:
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            self._error(failure.status, failure.message, None, extra)
            return
        if method == "GET" and self.path == "/v1/models":
            data = [{"id": m, "object": "model", "created": _CREATED, "owned_by": "fake"} for m in state.models]
            self._send_json(200, {"object": "list", "data": data})
            return
        routes = {
            "/v1/chat/completions": self._generate,
            "/v1/completions": self._generate,
            "/v1/embeddings": self._embed,
        }
        handler = routes.get(self.path) if method == "POST" else None
        if handler is None:
            self._send_json(404, {"detail": "Not Found"})
            return
        generation = self.path != "/v1/embeddings"
        fake._enter(generation)
        try:
            if state.delay_s and fake._stopping.wait(state.delay_s):
                return
            handler(body if isinstance(body, dict) else {})
        finally:
            fake._leave(generation)

    # -- endpoints --

    def _model(self, body: dict[str, Any]) -> str | None:
        name = str(body.get("model", ""))
        if name not in self.fake.state.models:
            self._error(404, f"The model `{name}` does not exist.", "model_not_found")
            return None
        return name

    def _generate(self, body: dict[str, Any]) -> None:
        name = self._model(body)
        if name is None:
            return
        chat = self.path == "/v1/chat/completions"
        reply = self.fake.state.models[name]
        stops = body.get("stop") or []
        for stop in [stops] if isinstance(stops, str) else stops:
            if stop and stop in reply:
                reply = reply[: reply.index(stop)]
        pieces = _PIECE.findall(reply)
        limit = body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        if chat:
            prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages") or [])
        else:
            prompt_chars = len(str(body.get("prompt", "")))
        usage = {
            "prompt_tokens": math.ceil(prompt_chars / 4),
            "completion_tokens": len(pieces),
            "total_tokens": math.ceil(prompt_chars / 4) + len(pieces),
        }
        kind = "chat.completion" if chat else "text_completion"
        wants_logprobs = bool(body.get("logprobs"))
        lp = self.fake.state.piece_logprob
        if wants_logprobs and lp is None:
            self._error(400, "logprobs is not supported for models created with logits_all=False", None)
            return

        other = self.fake.state.other_logprob
        # alternatives per token, the chosen one among them: a count in `logprobs` (completions), `top_logprobs` (chat)
        alternatives = int(body.get("top_logprobs") or 0) if chat else int(body.get("logprobs") or 0)

        def logprobs(texts: list[str]) -> dict[str, Any] | None:
            if not wants_logprobs:
                return None
            if chat:
                return {
                    "content": [
                        {
                            "token": t,
                            "logprob": lp,
                            "bytes": None,
                            "top_logprobs": [
                                {"token": t, "logprob": lp, "bytes": None},
                                {"token": "<other>", "logprob": other, "bytes": None},
                            ][:alternatives],
                        }
                        for t in texts
                    ]
                }
            tops = (
                [dict(list({t: lp, "<other>": other}.items())[:alternatives]) for t in texts] if alternatives else None
            )
            return {"tokens": texts, "token_logprobs": [lp] * len(texts), "top_logprobs": tops, "text_offset": None}

        if not body.get("stream"):
            text = "".join(pieces)
            stop = [self.fake.state.stop_token] if self.fake.state.stop_token else []
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": logprobs(pieces + stop)}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            self._send_json(
                200,
                {
                    "id": "cmpl-fake",
                    "object": kind,
                    "created": _CREATED,
                    "model": name,
                    "choices": [choice],
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        broken = self.fake.state.stream_break

        def chunk(text: str | None, reason: str | None) -> dict[str, Any]:
            if chat:
                choice: dict[str, Any] = {"index": 0, "delta": {"content": text} if text is not None else {}}
            else:
                choice = {"index": 0, "text": text or ""}
            choice["finish_reason"] = reason
            if text:
                choice["logprobs"] = logprobs([text])
            elif reason and self.fake.state.stop_token:
                choice["logprobs"] = logprobs([self.fake.state.stop_token])  # the stop: a token with no text
            return {
                "id": "cmpl-fake",
                "object": kind + ".chunk" if chat else kind,
                "created": _CREATED,
                "model": name,
                "choices": [choice],
            }

        for i, piece in enumerate(pieces):
            if broken is not None and i == broken.after:
                if broken.event:
                    self._event({"error": {"message": broken.event, "type": "server_error"}})
                    self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True
                return  # without the closing chunk: the client sees the body end early
            self._event(chunk(piece, None))
        self._event(chunk(None if chat else "", finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(
                {"id": "cmpl-fake", "object": kind, "created": _CREATED, "model": name, "choices": [], "usage": usage}
            )
        self._event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _embed(self, body: dict[str, Any]) -> None:
        name = self._model(body)
        if name is None:
            return
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        dim = self.fake.state.embedding_dim
        data = [{"object": "embedding", "index": i, "embedding": embedding(str(t), dim)} for i, t in enumerate(texts)]
        tokens = sum(len(str(t).split()) for t in texts)
        self._send_json(
            200,
            {"object": "list", "data": data, "model": name, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
        )


def settings_on_fake(data: Path, url: str, concurrency: int = 4) -> Settings:
    """Settings that send everything, answers and embeddings, to the fake at `url`; since its hash-derived vectors
    are close to nothing, every passage is let through so that rag and hybrid generate."""
    return Settings.from_env(
        env={},
        dotenv=None,
        data_dir=data,
        engine="openai",
        openai_base_url=url,
        openai_model="gemma-3-270m",
        openai_max_concurrency=concurrency,
        embedding_backend="openai",
        embedding_model="gemma-3-270m",
        min_similarity=0.0,
        min_coverage=0.0,
    )
