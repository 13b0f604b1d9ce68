"""One error hierarchy for the app: every message says what to do about it.

The pages show `AppError` messages as they are; anything else is a bug.
"""

from __future__ import annotations


class AppError(Exception):
    """Base class: `str(err)` is a complete, user-facing message with the fix."""


class ConfigError(AppError):
    """A setting has a value the app cannot use."""


class StoreLockedError(AppError):
    """Another process holds the on-disk vector store."""


class StorageError(AppError, OSError):
    """The data directory cannot be written (disk full, read-only, no permission); nothing was half-written.

    Also an OSError, so code that tolerates a failed write of a cache or status file keeps doing so.
    """


class StoreUnavailableError(AppError):
    """The vector store (on disk or a Chroma server) cannot be reached."""


class StoreDamagedError(AppError):
    """The start-up check found the vector store, or the collection asked for, damaged: rebuild it from the kept
    originals."""


class CollectionNotFoundError(AppError):
    """The named collection does not exist."""


class InvalidNameError(AppError):
    """A collection or model name is not acceptable."""


class EmbeddingModelMismatchError(AppError):
    """A collection was indexed with another embedding model than the one configured."""


class EmbeddingError(AppError):
    """The embedding model could not be loaded or run."""


class DocumentNotFoundError(AppError):
    """No document with that id in the collection."""


class PageViewError(AppError):
    """A cited page cannot be shown (original missing, damaged, or no such page)."""


class AmbiguousDocumentError(AppError):
    """Several documents match where one was meant (e.g. two documents with the same name)."""


class EngineError(AppError):
    """Base class for LLM engine failures."""


class EngineUnavailableError(EngineError):
    """The engine (e.g. the Ollama server) cannot be reached."""


class ModelNotFoundError(EngineError):
    """The requested model is not available on the engine."""


class EngineTimeoutError(EngineError):
    """The engine did not answer in time."""


class EngineBusyError(EngineUnavailableError):
    """The engine's server kept refusing requests as busy (HTTP 429/502/503), after the retries."""


class EngineAuthError(EngineError):
    """The engine's server refused the API key (HTTP 401/403), or needs one that is not set."""


class ContextLengthError(EngineError):
    """The prompt and the answer budget do not fit the model's context window on the server."""


class GenerationInterruptedError(EngineError):
    """The engine failed in the middle of a streamed answer; `partial` keeps what came."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


class VariantError(AppError):
    """A fine-tuned variant is missing, invalid or cannot be registered."""


class FineTuneError(AppError):
    """A fine-tuning job could not be started or failed."""


class JobError(AppError):
    """A background job could not be started, found or controlled."""


class JobBusyError(JobError):
    """Another heavy job is already running (one at a time on a small machine)."""


class QuestionFileError(AppError):
    """A question file (evaluation set or imported Q&A) has a row the app cannot use."""


class EvaluationError(AppError):
    """An evaluation run cannot start, or a saved run cannot be found."""
