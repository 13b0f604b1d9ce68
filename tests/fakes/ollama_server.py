"""A real HTTP server that speaks Ollama's REST API, for tests of the Ollama path.

It listens on 127.0.0.1 (a free port), answers the endpoints the official `ollama` client uses
(`/api/tags`, `/api/version`, `/api/chat`, `/api/generate`, `/api/embed`, `/api/show`,
`/api/create`, `/api/delete`, `HEAD`/`POST /api/blobs/sha256:<hex>`) with the shapes a real
Ollama sends, records every request so tests can assert exact bodies, and is scriptable:
models and their replies, an error in the middle of a stream, a slow mode, forced errors.
Everything is deterministic: replies are canned, embeddings are derived from a hash of the text.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable

DEFAULT_REPLY = "The filter should be cleaned every 2 weeks."
_CREATED_AT = "2026-11-20T10:00:00.000000000Z"
_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    body: Any  # parsed JSON, or None when the body is not JSON (blobs, GET)


@dataclass
class FakeModel:
    """A model the fake server holds."""

    name: str
    reply: str = DEFAULT_REPLY
    family: str = "gemma3"
    size: int = 291_554_930
    context_length: int = 32768
    parameter_size: str = "268.10M"
    # each piece's logprob when a request asks for them (Ollama ≥ 0.12.11); None: an older Ollama, which ignores it
    logprob: float | None = -0.25
    quantization_level: str = "Q4_K_M"
    template: str = "{{ .Prompt }}"
    parameters: str = 'stop                           "<end_of_turn>"'
    embedding_dim: int = 8
    blob_digest: str = ""  # "sha256:<hex>" of the model's GGUF; derived from the name if empty
    capabilities: tuple[str, ...] = ("completion",)
    modelfile_from: str = ""  # what the modelfile's FROM line says; default: the blob path

    def digest(self) -> str:
        """The model's GGUF blob digest."""
        return self.blob_digest or "sha256:" + hashlib.sha256(self.name.encode()).hexdigest()


@dataclass
class StreamError:
    """Send `after_chunks` pieces of the answer, then `{"error": message}` (as Ollama does mid-stream)."""

    after_chunks: int
    message: str = "an error was encountered while running the model: unexpected EOF"


class FakeOllamaServer:
    """The fake server; use as a context manager or call `start()` / `stop()`."""

    def __init__(self, models: Iterable[FakeModel | str] = ("gemma3:270m",), blob_dir: Path | None = None) -> None:
        self.models: dict[str, FakeModel] = {}
        for m in models:
            self.add_model(m)
        self.version = "0.12.6"
        self.default_num_ctx = 4096  # what Ollama uses when the request sets no num_ctx
        self.chars_per_token = 4.0  # how the fake counts prompt tokens (prompt_eval_count)
        self.delay_s = 0.0  # slow mode: wait before answering...
        self.delay_paths: tuple[str, ...] = ("/api/chat", "/api/generate", "/api/embed")  # ...these paths
        self.chunk_delay_s = 0.0  # wait between two streamed pieces
        self.stream_error: StreamError | None = None
        self.forced_errors: dict[str, tuple[int, str]] = {}  # path -> (status, error text)
        self.refuse_adapters = True  # recent Ollama refuses ADAPTER in /api/create
        self.blob_dir = blob_dir
        self.blobs: dict[str, bytes] = {}
        self.created: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "FakeOllamaServer":
        """Listen on a free port of 127.0.0.1 in a background thread."""
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.fake = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (sleeping handlers wake up and give up)."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOllamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._httpd is not None, "start() the server first"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (what OLLAMA_HOST would be)."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting -----------------------------------------------------------------------------

    def add_model(self, model: FakeModel | str, **kwargs: Any) -> FakeModel:
        """Hold a model (a name or a FakeModel); keyword arguments set FakeModel fields."""
        m = model if isinstance(model, FakeModel) else FakeModel(name=_full_name(model), **kwargs)
        self.models[_full_name(m.name)] = m
        return m

    def remove_model(self, name: str) -> None:
        """Forget a model."""
        self.models.pop(_full_name(name), None)

    def find(self, name: str) -> FakeModel | None:
        """The model called `name` (`x` means `x:latest`, as in Ollama)."""
        return self.models.get(_full_name(name))

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests to `path` (and `method`), oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def bodies(self, path: str) -> list[Any]:
        """The parsed JSON bodies sent to `path`, oldest first."""
        return [r.body for r in self.requests_to(path)]

    def blob_path(self, digest: str) -> str:
        """Where the server 'stores' a blob, as a real Ollama names it in the modelfile's FROM line."""
        root = str(self.blob_dir) if self.blob_dir is not None else "/root/.ollama/models/blobs"
        return f"{root}/{digest.replace(':', '-')}"

    # -- internals used by the handler ---------------------------------------------------------

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; False when it stopped meanwhile."""
        if seconds <= 0:
            return True
        return not self._stopping.wait(seconds)


def _full_name(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _details(m: FakeModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": m.family,
        "families": [m.family],
        "parameter_size": m.parameter_size,
        "quantization_level": m.quantization_level,
    }


def _not_found(name: str) -> tuple[int, dict[str, Any]]:
    return 404, {"error": f"model '{name}' not found"}


def _embedding(text: str, dim: int) -> list[float]:
    # Deterministic, unit-length, and different for different texts.
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
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as Ollama's Go server
    server_version = "fake-ollama"

    @property
    def fake(self) -> FakeOllamaServer:
        return self.server.fake  # type: ignore[attr-defined]

    # The client may hang up (timeouts, closed streams): that is normal here, not a test failure.
    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # -- plumbing ------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size_line = self.rfile.readline().strip().split(b";")[0]
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream_line(self, obj: Any) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- dispatch ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        raw = self._read_body() if method in ("POST", "DELETE") else b""
        body: Any = None
        if raw and not self.path.startswith("/api/blobs/"):
            try:
                body = json.loads(raw)
            except ValueError:
                self.fake._record(RecordedRequest(method, self.path, self._headers(), raw, None))
                self._send_json(400, {"error": "invalid character in request body"})
                return
        fake = self.fake
        fake._record(RecordedRequest(method, self.path, self._headers(), raw, body))
        if self.path in fake.forced_errors:
            status, text = fake.forced_errors[self.path]
            self._send_json(status, {"error": text})
            return
        if self.path in fake.delay_paths and not fake._sleep(fake.delay_s):
            return
        routes = {
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/version"): self._version,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/generate"): self._generate,
            ("POST", "/api/embed"): self._embed,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/create"): self._create,
            ("DELETE", "/api/delete"): self._delete,
        }
        if self.path.startswith("/api/blobs/") and method in ("HEAD", "POST"):
            self._blob(method, self.path.removeprefix("/api/blobs/"), raw)
            return
        handler = routes.get((method, self.path))
        if handler is None:
            self._send_text(404, "404 page not found")
            return
        handler(body if isinstance(body, dict) else {})

    # -- endpoints -----------------------------------------------------------------------------

    def _tags(self, _body: dict[str, Any]) -> None:
        models = [
            {
                "name": m.name,
                "model": m.name,
                "modified_at": "2026-11-20T10:00:00.000000000Z",
                "size": m.size,
                "digest": m.digest().removeprefix("sha256:"),
                "details": _details(m),
            }
            for m in self.fake.models.values()
        ]
        self._send_json(200, {"models": models})

    def _version(self, _body: dict[str, Any]) -> None:
        self._send_json(200, {"version": self.fake.version})

    def _prompt_tokens(self, chars: int, options: dict[str, Any]) -> int:
        # Ollama cuts a prompt longer than the context window: the count never exceeds num_ctx.
        num_ctx = int(options.get("num_ctx") or self.fake.default_num_ctx)
        return min(math.ceil(chars / self.fake.chars_per_token), num_ctx)

    def _pieces(self, reply: str, options: dict[str, Any]) -> tuple[list[str], str]:
        stops = options.get("stop") or []
        for s in stops:
            if s and s in reply:
                reply = reply[: reply.index(s)]
        pieces = _PIECE.findall(reply)
        limit = options.get("num_predict")
        if isinstance(limit, int) and 0 <= limit < len(pieces):
            return pieces[:limit], "length"
        return pieces, "stop"

    def _answer(self, body: dict[str, Any], kind: str) -> None:
        name = str(body.get("model", ""))
        model = self.fake.find(name)
        if model is None:
            self._send_json(*_not_found(name))
            return
        options = body.get("options") or {}
        if kind == "chat":
            messages = body.get("messages") or []
            chars = sum(len(str(m.get("content", ""))) + 20 for m in messages)  # + template tokens
        else:
            chars = len(str(body.get("prompt", "")))
        pieces, done_reason = self._pieces(model.reply, options)
        final_stats = {
            "total_duration": 1_200_000_000,
            "load_duration": 50_000_000,
            "prompt_eval_count": self._prompt_tokens(chars, options),
            "prompt_eval_duration": 150_000_000,
            "eval_count": len(pieces),
            "eval_duration": 1_000_000_000,
        }

        def line(text: str, done: bool) -> dict[str, Any]:
            out: dict[str, Any] = {"model": model.name, "created_at": _CREATED_AT}
            if kind == "chat":
                out["message"] = {"role": "assistant", "content": text}
            else:
                out["response"] = text
            out["done"] = done
            if body.get("logprobs") and model.logprob is not None and text:
                tops = [{"token": text, "logprob": model.logprob}, {"token": "<other>", "logprob": -2.0}]
                out["logprobs"] = [
                    {
                        "token": text,
                        "logprob": model.logprob,
                        "bytes": list(text.encode()),
                        "top_logprobs": tops[: int(body.get("top_logprobs") or 0)],
                    }
                ]
            if done:
                out["done_reason"] = done_reason
                out.update(final_stats)
            return out

        err = self.fake.stream_error
        if not body.get("stream", True):
            if err is not None:
                self._send_json(500, {"error": err.message})
            else:
                self._send_json(200, line("".join(pieces), True))
            return
        self._start_stream()
        for i, piece in enumerate(pieces):
            if err is not None and i == err.after_chunks:
                break
            if i and not self.fake._sleep(self.fake.chunk_delay_s):
                return
            self._stream_line(line(piece, False))
        if err is not None:
            self._stream_line({"error": err.message})
        else:
            self._stream_line(line("", True))
        self._end_stream()

    def _chat(self, body: dict[str, Any]) -> None:
        self._answer(body, "chat")

    def _generate(self, body: dict[str, Any]) -> None:
        self._answer(body, "generate")

    def _embed(self, body: dict[str, Any]) -> None:
        name = str(body.get("model", ""))
        model = self.fake.find(name)
        if model is None:
            self._send_json(*_not_found(name))
            return
        inputs = body.get("input", "")
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        self._send_json(
            200,
            {
                "model": model.name,
                "embeddings": [_embedding(t, model.embedding_dim) for t in texts],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": sum(math.ceil(len(t) / 4) for t in texts),
            },
        )

    def _show(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        m = self.fake.find(name)
        if m is None:
            self._send_json(*_not_found(name))
            return
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this one, replace the FROM line with:\n"
            f"# FROM {m.name}\n\n"
            f"FROM {m.modelfile_from or self.fake.blob_path(m.digest())}\n"
            f'TEMPLATE """{m.template}"""\n'
            + "".join(
                f"PARAMETER {line.split(None, 1)[0]} {line.split(None, 1)[1]}\n"
                for line in m.parameters.splitlines()
                if line.strip()
            )
        )
        self._send_json(
            200,
            {
                "license": "",
                "modelfile": modelfile,
                "parameters": m.parameters,
                "template": m.template,
                "details": _details(m),
                "model_info": {
                    "general.architecture": m.family,
                    "general.file_type": 15,
                    "general.parameter_count": 268_098_176,
                    "general.quantization_version": 2,
                    f"{m.family}.block_count": 18,
                    f"{m.family}.context_length": m.context_length,
                    f"{m.family}.embedding_length": 640,
                },
                "capabilities": list(m.capabilities),
                "modified_at": "2026-11-20T10:00:00.000000000Z",
            },
        )

    def _create(self, body: dict[str, Any]) -> None:
        name = str(body.get("model", ""))
        files: dict[str, str] = body.get("files") or {}
        source = body.get("from") or body.get("from_")
        if body.get("adapters") and self.fake.refuse_adapters:
            self._send_json(
                400,
                {
                    "error": (
                        "adapters are not supported by this version of Ollama: merge the adapter into the model and "
                        "create from the merged GGUF"
                    )
                },
            )
            return
        if not files and not source:
            self._send_json(400, {"error": "neither 'from' or 'files' was specified"})
            return
        for digest in list(files.values()) + list((body.get("adapters") or {}).values()):
            if digest not in self.fake.blobs:
                self._send_json(
                    400, {"error": f"file {digest} not found: upload it with POST /api/blobs/{digest} first"}
                )
                return
        parent = self.fake.find(str(source)) if source else None
        if source and not files and parent is None:
            self._send_json(*_not_found(str(source)))
            return
        gguf_digests = [d for f, d in files.items() if f.endswith(".gguf")] or list(files.values())
        model = FakeModel(
            name=_full_name(name),
            reply=parent.reply if parent else DEFAULT_REPLY,
            template=str(body.get("template") or (parent.template if parent else "{{ .Prompt }}")),
            blob_digest=gguf_digests[0] if gguf_digests else (parent.digest() if parent else ""),
        )
        self.fake.add_model(model)
        self.fake.created[model.name] = body
        statuses = ["parsing GGUF"] if files else []
        statuses += [f"using existing layer {model.digest()}", "writing manifest", "success"]
        if body.get("stream", True):
            self._start_stream()
            for s in statuses:
                self._stream_line({"status": s})
            self._end_stream()
        else:
            self._send_json(200, {"status": "success"})

    def _delete(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        if self.fake.find(name) is None:
            self._send_json(*_not_found(name))
            return
        self.fake.remove_model(name)
        self._send_empty(200)

    def _blob(self, method: str, digest: str, raw: bytes) -> None:
        if method == "HEAD":
            self._send_empty(200 if digest in self.fake.blobs else 404)
            return
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        if actual != digest:
            self._send_json(400, {"error": f"digest mismatch, expected {digest!r}, got {actual!r}"})
            return
        self.fake.blobs[digest] = raw
        if self.fake.blob_dir is not None:
            self.fake.blob_dir.mkdir(parents=True, exist_ok=True)
            Path(self.fake.blob_path(digest)).write_bytes(raw)
        self._send_empty(201)
