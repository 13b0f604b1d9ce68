"""One typed Settings object built from environment variables (and an optional `.env`).

Every tunable the app has lives here with a description; nothing else reads `os.environ`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from core.errors import ConfigError

# The app's folder: the default data directory and `.env` live here whatever the working directory is,
# so `streamlit run /path/to/app.py` from elsewhere uses the same data as `make run`.
APP_ROOT = Path(__file__).resolve().parents[1]

ENGINE_CHOICES = ("auto", "ollama", "embedded", "openai")
EMBEDDING_BACKENDS = ("sentence-transformers", "ollama", "openai")
# How the openai engine sends a prompt: a chat model through /v1/chat/completions, a base model through /v1/completions.
OPENAI_PROMPT_FORMS = ("auto", "chat", "completion")
RETRIEVAL_METHODS = ("dense", "fused")
# Earlier names of a retrieval method, still accepted (a user's .env may say DOMAINCHAT_RETRIEVAL=hybrid).
RETRIEVAL_ALIASES = {"hybrid": "fused"}


def _setting(env: str, default: Any, help: str) -> Any:
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """All configuration of domainchat; build it with `Settings.from_env()`."""

    data_dir: Path = _setting(
        "DOMAINCHAT_DATA_DIR",
        APP_ROOT / "data",
        "Directory holding everything the app writes (index, originals, chats, models); default: `data` in the app's "
        "folder.",
    )
    chunk_size: int = _setting("DOMAINCHAT_CHUNK_SIZE", 1000, "Target chunk length in characters.")
    chunk_overlap: int = _setting("DOMAINCHAT_CHUNK_OVERLAP", 150, "Characters shared by consecutive chunks of a page.")
    max_upload_mb: float = _setting("DOMAINCHAT_MAX_UPLOAD_MB", 50.0, "Largest file accepted for indexing, in MB.")
    parse_timeout_s: float = _setting("DOMAINCHAT_PARSE_TIMEOUT_S", 60.0, "Wall-clock limit for parsing one file.")
    parse_memory_mb: int = _setting(
        "DOMAINCHAT_PARSE_MEMORY_MB", 1536, "Address-space limit of the parser process, in MB."
    )
    embedding_backend: str = _setting(
        "DOMAINCHAT_EMBEDDING_BACKEND",
        "sentence-transformers",
        "'sentence-transformers' (offline, bundled), 'ollama', or 'openai' (/v1/embeddings of the server at "
        "DOMAINCHAT_OPENAI_BASE_URL; needs DOMAINCHAT_EMBEDDING_MODEL).",
    )
    embedding_model: str = _setting(
        "DOMAINCHAT_EMBEDDING_MODEL",
        "",
        "Embedding model name; empty means all-MiniLM-L6-v2 (sentence-transformers) or nomic-embed-text (ollama).",
    )
    chroma_host: str = _setting(
        "CHROMA_HOST", "", "Chroma server host; empty means an on-disk store under the data directory."
    )
    chroma_port: int = _setting("CHROMA_PORT", 8000, "Chroma server port (with CHROMA_HOST).")
    engine: str = _setting(
        "DOMAINCHAT_ENGINE",
        "auto",
        "LLM engine: 'auto' (the OpenAI-compatible server when DOMAINCHAT_OPENAI_BASE_URL is set and it answers, else "
        "Ollama if it answers, else embedded), 'ollama', 'embedded' or 'openai'.",
    )
    ollama_host: str = _setting("OLLAMA_HOST", "http://127.0.0.1:11434", "Address of the Ollama server.")
    ollama_model: str = _setting("DOMAINCHAT_OLLAMA_MODEL", "gemma3:270m", "Default base model on Ollama.")
    ollama_connect_timeout_s: float = _setting(
        "DOMAINCHAT_OLLAMA_CONNECT_TIMEOUT_S", 3.0, "Seconds to wait for a connection to Ollama."
    )
    ollama_read_timeout_s: float = _setting(
        "DOMAINCHAT_OLLAMA_READ_TIMEOUT_S", 120.0, "Seconds to wait for Ollama between two pieces of an answer."
    )
    openai_base_url: str = _setting(
        "DOMAINCHAT_OPENAI_BASE_URL",
        "",
        "Base URL of an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp server, LM Studio), ending in /v1; "
        "empty means http://127.0.0.1:8000/v1 for the openai engine, and that `auto` does not try a server.",
    )
    openai_model: str = _setting(
        "DOMAINCHAT_OPENAI_MODEL",
        "",
        "Model on the OpenAI-compatible server; empty means the first one its /v1/models lists.",
    )
    openai_api_key_env: str = _setting(
        "DOMAINCHAT_OPENAI_API_KEY_ENV",
        "DOMAINCHAT_OPENAI_API_KEY",
        "Name of the environment variable holding the server's API key (OPENAI_API_KEY when that one is unset; a "
        "server started without a key needs none). The key is read from the environment when used, never from .env, "
        "and never stored or shown.",
    )
    openai_prompt_form: str = _setting(
        "DOMAINCHAT_OPENAI_PROMPT_FORM",
        "auto",
        "'chat' (/v1/chat/completions: the server applies the model's chat template), 'completion' (/v1/completions "
        "with the plain prompt a base model needs) or 'auto' (chat when the model's name marks an instruction model, "
        "such as -instruct, -chat or -it; else completion).",
    )
    openai_max_concurrency: int = _setting(
        "DOMAINCHAT_OPENAI_MAX_CONCURRENCY",
        4,
        "Requests sent to the OpenAI-compatible server at once (a server batches them); more wait their turn.",
    )
    openai_retries: int = _setting(
        "DOMAINCHAT_OPENAI_RETRIES",
        3,
        "Times a request the server refused as busy (HTTP 429, 502, 503) is sent again, after 0.5 s, 1 s, 2 s… "
        "(or the server's Retry-After).",
    )
    openai_read_timeout_s: float = _setting(
        "DOMAINCHAT_OPENAI_READ_TIMEOUT_S",
        120.0,
        "Seconds to wait for the OpenAI-compatible server between two pieces of an answer.",
    )
    openai_extra_body: str = _setting(
        "DOMAINCHAT_OPENAI_EXTRA_BODY",
        "",
        "A JSON object added to every generation request, for sampling settings a server takes beyond OpenAI's: "
        'e.g. {"repeat_penalty": 1.0} for llama.cpp\'s servers (their default 1.1 differs from the embedded '
        'engine\'s 1.0) or {"repetition_penalty": 1.0} for vLLM. Empty: nothing added.',
    )
    embedded_gguf: str = _setting(
        "DOMAINCHAT_GGUF", "", "GGUF file for the embedded engine; empty means the bundled Gemma 3 270M."
    )
    embedded_n_ctx: int = _setting("DOMAINCHAT_N_CTX", 4096, "Context window of the embedded engine, in tokens.")
    top_k: int = _setting("DOMAINCHAT_TOP_K", 3, "Chunks retrieved per question.")
    temperature: float = _setting("DOMAINCHAT_TEMPERATURE", 0.1, "Sampling temperature.")
    max_answer_tokens: int = _setting("DOMAINCHAT_MAX_ANSWER_TOKENS", 256, "Longest answer generated, in tokens.")
    min_similarity: float = _setting(
        "DOMAINCHAT_MIN_SIMILARITY",
        0.25,
        "Below this cosine similarity of the best chunk, RAG answers 'not found' instead of guessing (unless the "
        "passages hold every content word of the question).",
    )
    min_coverage: float = _setting(
        "DOMAINCHAT_MIN_COVERAGE",
        0.5,
        "Below this share of the question's words found in the retrieved passages, RAG answers 'not found' instead of "
        "guessing.",
    )
    confidence_threshold: float = _setting(
        "DOMAINCHAT_CONFIDENCE_THRESHOLD",
        0.5,
        "An answer whose confidence (0–1: the chance it is right, from a model fitted on evaluation runs, "
        "core/chat/calibration.json) is below this is flagged 'unsure' and marked 'unsure — check the source' in Chat. "
        "Higher marks more answers (fewer wrong ones go unmarked, more right ones are marked too); 0 marks none.",
    )
    retrieval: str = _setting(
        "DOMAINCHAT_RETRIEVAL",
        "fused",
        "'dense' (embeddings) or 'fused' (BM25 + dense, reciprocal rank fusion; 'hybrid' is accepted as its old name).",
    )
    ocr: bool = _setting(
        "DOMAINCHAT_OCR",
        True,
        "Read scanned pages (PDF pages without a usable text layer, PNG/JPEG/TIFF uploads) with OCR; the Documents "
        "page can turn it off per upload.",
    )
    ocr_page_timeout_s: float = _setting(
        "DOMAINCHAT_OCR_PAGE_TIMEOUT_S",
        120.0,
        "Wall-clock time allowed per scanned page for OCR, on top of the parse timeout (a page takes seconds on an "
        "idle machine, minutes on a crowded one).",
    )
    ocr_memory_mb: int = _setting(
        "DOMAINCHAT_OCR_MEMORY_MB",
        3072,
        "Address-space limit of the OCR process, in MB (ONNX Runtime reserves ≈1.9 GB of address space).",
    )
    parse_page_timeout_s: float = _setting(
        "DOMAINCHAT_PARSE_PAGE_TIMEOUT_S",
        2.0,
        "Extra parse time allowed per PDF page, on top of DOMAINCHAT_PARSE_TIMEOUT_S (a long manual is not stopped as "
        "too slow; a file in which no page finishes within DOMAINCHAT_PARSE_TIMEOUT_S still is).",
    )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dotenv: Path | None = APP_ROOT / ".env", **overrides: Any
    ) -> "Settings":
        """Build Settings from `env` (default: os.environ) over an optional .env file (in the app's folder), then
        `overrides`."""
        values: dict[str, str] = {}
        if dotenv is not None and dotenv.is_file():
            values.update(_read_dotenv(dotenv))
        values.update(os.environ if env is None else env)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            kwargs[f.name] = _convert(f.name, f.metadata["env"], raw, type(f.default))
        settings = cls(**kwargs)
        return replace(settings, **overrides) if overrides else settings

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())
        if self.engine not in ENGINE_CHOICES:
            raise ConfigError(
                f"DOMAINCHAT_ENGINE={self.engine!r} is not valid: use one of {', '.join(ENGINE_CHOICES)}."
            )
        if self.embedding_backend not in EMBEDDING_BACKENDS:
            raise ConfigError(
                f"DOMAINCHAT_EMBEDDING_BACKEND={self.embedding_backend!r} is not valid: use one of "
                f"{', '.join(EMBEDDING_BACKENDS)}."
            )
        if self.embedding_backend == "openai" and not self.embedding_model:
            # No name fits every server, and the collection records the name before any request is sent.
            raise ConfigError(
                "DOMAINCHAT_EMBEDDING_BACKEND=openai needs DOMAINCHAT_EMBEDDING_MODEL: the name of an "
                "embedding model the server serves (its /v1/models lists them)."
            )
        if self.openai_prompt_form not in OPENAI_PROMPT_FORMS:
            raise ConfigError(
                f"DOMAINCHAT_OPENAI_PROMPT_FORM={self.openai_prompt_form!r} is not valid: use one of "
                f"{', '.join(OPENAI_PROMPT_FORMS)}."
            )
        if self.openai_max_concurrency < 1 or self.openai_retries < 0:
            raise ConfigError(
                f"DOMAINCHAT_OPENAI_MAX_CONCURRENCY={self.openai_max_concurrency} / "
                f"DOMAINCHAT_OPENAI_RETRIES={self.openai_retries} is not valid: at least 1 request at "
                "once, and 0 or more retries."
            )
        self.openai_extra_fields  # a malformed DOMAINCHAT_OPENAI_EXTRA_BODY fails here, not at the first answer
        object.__setattr__(self, "retrieval", retrieval_method(self.retrieval))
        if self.retrieval not in RETRIEVAL_METHODS:
            raise ConfigError(
                f"DOMAINCHAT_RETRIEVAL={self.retrieval!r} is not valid: use one of {', '.join(RETRIEVAL_METHODS)}."
            )
        if self.chunk_size < 100 or not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"Chunk size {self.chunk_size} / overlap {self.chunk_overlap} is not valid: size must be at least 100 "
                "and overlap between 0 and size - 1."
            )

    @property
    def openai_extra_fields(self) -> dict[str, Any]:
        """DOMAINCHAT_OPENAI_EXTRA_BODY as the fields it adds to a generation request (none when empty)."""
        if not self.openai_extra_body.strip():
            return {}
        try:
            extra = json.loads(self.openai_extra_body)
        except ValueError as exc:
            extra = exc
        if not isinstance(extra, dict):
            raise ConfigError(
                f"DOMAINCHAT_OPENAI_EXTRA_BODY is not a JSON object ({self.openai_extra_body[:80]!r}): write it like "
                '{"repeat_penalty": 1.0}, or leave it empty.'
            )
        return extra

    @property
    def resolved_embedding_model(self) -> str:
        """The embedding model name, with the backend's default filled in."""
        if self.embedding_model:
            return self.embedding_model
        return "all-MiniLM-L6-v2" if self.embedding_backend == "sentence-transformers" else "nomic-embed-text"

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @staticmethod
    def describe() -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting, for the README and `--help`."""
        return [(f.metadata["env"], str(f.default), f.metadata["help"]) for f in fields(Settings)]


def retrieval_method(name: str) -> str:
    """The retrieval method's current name (old names map to new ones; unknown names pass through to be refused)."""
    name = name.strip().lower()
    return RETRIEVAL_ALIASES.get(name, name)


def _convert(name: str, env_name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if issubclass(kind, Path):
            return Path(raw)
        return raw.strip()
    except ValueError:
        raise ConfigError(
            f"{env_name}={raw!r} is not a valid {kind.__name__} (setting {name}): fix or unset it."
        ) from None


def _read_dotenv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def settings_reference() -> str:
    """The Markdown reference of every setting (docs/settings.md), rendered from the Settings fields."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    def shown(default: Any) -> str:
        if isinstance(default, Path):
            try:
                return f"`{default.relative_to(APP_ROOT).as_posix()}` in the app's folder"
            except ValueError:
                return f"`{default.as_posix()}`"
        if isinstance(default, bool):
            return "`true`" if default else "`false`"
        return "(empty)" if default == "" else f"`{default}`"

    lines = [
        "# Settings",
        "",
        "<!-- Generated from core/config.py by `settings_reference()`: do not edit by hand (see docs/testing.md). -->",
        "",
        "Every setting is an environment variable, or a line `NAME=value` in a `.env` file in the app's folder;",
        "the environment wins over `.env`. Nothing else in the app reads the environment.",
        "",
        "| environment variable | default | meaning |",
        "|---|---|---|",
    ]
    for f in fields(Settings):
        lines.append(f"| `{f.metadata['env']}` | {cell(shown(f.default))} | {cell(f.metadata['help'])} |")
    return "\n".join(lines) + "\n"
