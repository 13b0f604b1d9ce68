"""llama-cpp-python's own OpenAI-compatible server, serving the bundled Gemma 3 270M GGUF on a free loopback port.

It is the real server the openai engine is tested against: `python -m llama_cpp.server --config_file CONFIG.json`
(pip extra `llama-cpp-python[server]`). One process serves several model names (aliases) of the same GGUF; it keeps
one of them loaded at a time and loads another when a request names it (a second or more here).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core.engines.bundled import bundled_gguf_path
from tests.helpers.chroma_server import free_port

BASE_ALIAS = "gemma-3-270m"
EMBED_ALIAS = "gemma-3-270m-embed"
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class ServedGGUF:
    """One model name the server answers to, and how llama.cpp runs it."""

    alias: str
    path: Path | None = None  # None: the bundled Gemma 3 270M
    n_ctx: int = 4096  # the embedded engine's default window, so both engines see the same limit
    embedding: bool = False
    lora_path: Path | None = None

    def config(self) -> dict[str, Any]:
        """This model's entry in the server's config file."""
        entry: dict[str, Any] = {
            "model": str(self.path or bundled_gguf_path()),
            "model_alias": self.alias,
            "n_ctx": self.n_ctx,
            # As the embedded engine: one generation thread (two collapse whenever another process is busy on this
            # 2-core machine), both cores for reading the prompt.
            "n_threads": 1,
            "n_threads_batch": 2,
            "verbose": False,
        }
        if self.embedding:
            # The GGUF names no pooling, so llama.cpp would return a vector per token: mean-pool them into one.
            entry.update(embedding=True, kv_overrides=["gemma3.pooling_type=int:1"])
        if self.lora_path is not None:
            entry["lora_path"] = str(self.lora_path)
        return entry


DEFAULT_MODELS = (ServedGGUF(BASE_ALIAS), ServedGGUF(EMBED_ALIAS, n_ctx=512, embedding=True))


class LlamaCppServer:
    """`python -m llama_cpp.server` in a child process; use as a context manager or call `start()` / `stop()`."""

    def __init__(
        self, workdir: Path, models: Sequence[ServedGGUF] = DEFAULT_MODELS, api_key: str | None = None
    ) -> None:
        self.workdir = workdir
        self.models = tuple(models)
        self.api_key = api_key
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "llama-cpp-server.log"

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:54321/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LlamaCppServer":
        """Start the server on a free port and wait until it lists its models."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            # Queue concurrent requests instead of cutting the running answer short (the server's default).
            "interrupt_requests": False,
            "models": [m.config() for m in self.models],
        }
        if self.api_key is not None:
            config["api_key"] = self.api_key
        config_path = self.workdir / "llama-cpp-server.json"
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"llama_cpp.server did not start: see {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def _answers(self) -> bool:
        request = urllib.request.Request(f"{self.url}/models")
        if self.api_key is not None:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return True
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and free its port."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> "LlamaCppServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
