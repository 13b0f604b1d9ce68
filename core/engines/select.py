"""Engine choice: `auto` (Ollama when it answers, else embedded), `ollama` or `embedded`."""

from __future__ import annotations

from core.config import ENGINE_CHOICES, Settings
from core.engines.base import Engine, EngineStatus
from core.engines.embedded import EmbeddedEngine
from core.engines.ollama_engine import OllamaEngine
from core.errors import ConfigError


def engine_for_name(settings: Settings, name: str) -> Engine:
    """The engine called `name` ('ollama' or 'embedded'), without probing; 'auto' probes like choose_engine."""
    if name == "ollama":
        return OllamaEngine(settings)
    if name == "embedded":
        return EmbeddedEngine(settings)
    if name == "auto":
        return choose_engine(settings, "auto")
    raise ConfigError(f"Engine {name!r} is not valid: use one of {', '.join(ENGINE_CHOICES)}.")


def choose_engine(settings: Settings, requested: str | None = None) -> Engine:
    """The engine to use: `requested` (or DOMAINCHAT_ENGINE); for 'auto', Ollama if its status is ok, else embedded.

    The Ollama probe uses a short timeout (≤2 s to connect, ≤5 s to answer; a closed local port fails at once).
    """
    choice = (requested or settings.engine).strip().lower()
    if choice != "auto":
        return engine_for_name(settings, choice)
    ollama = OllamaEngine(settings)
    if ollama.status().ok:
        return ollama
    return EmbeddedEngine(settings)


def choose_engine_with_status(settings: Settings, requested: str | None = None) -> tuple[Engine, EngineStatus | None]:
    """Like choose_engine, plus the Ollama status that decided an 'auto' choice (for the sidebar: why embedded)."""
    choice = (requested or settings.engine).strip().lower()
    if choice != "auto":
        return engine_for_name(settings, choice), None
    ollama = OllamaEngine(settings)
    status = ollama.status()
    return (ollama if status.ok else EmbeddedEngine(settings)), status


def default_model(engine: Engine, settings: Settings) -> str:
    """The base model a chat uses on `engine` when the user picked none."""
    if isinstance(engine, EmbeddedEngine):
        return engine.default_model
    return settings.ollama_model
