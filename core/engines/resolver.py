"""Engine resolution, once for the app: `auto`, `ollama`, `embedded` or `openai`.

`auto` prefers a configured OpenAI-compatible server (DOMAINCHAT_OPENAI_BASE_URL set) when it answers, then Ollama
when it answers, else the embedded engine.

`Engines` lives in the service bundle (`svc.engines`): it keeps one instance of each engine, caches the
Ollama probe for a few seconds (reruns of a page and a compare of four modes do not probe again), lists
each engine's models and variants, and says which variants fit which engine.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.config import ENGINE_CHOICES, Settings
from core.engines.base import Engine, EngineName, EngineStatus
from core.engines.embedded import EmbeddedEngine
from core.engines.ollama_engine import OllamaEngine
from core.engines.openai_engine import OpenAIEngine
from core.engines.variants import Variant, VariantRegistry
from core.errors import ConfigError

__all__ = ["EngineName", "EngineOverview", "Engines", "PROBE_TTL_S", "shown_address"]
PROBE_TTL_S = 5.0  # an Ollama that starts or stops is noticed within this many seconds


@dataclass(frozen=True)
class EngineOverview:
    """What a page shows about the engine a choice resolves to: why, its status, what it can run."""

    requested: str
    engine: EngineName
    status: EngineStatus
    # the Ollama status that decided an `auto` choice (None when the engine was named)
    probe: EngineStatus | None
    default_model: str
    base_models: list[str] = field(default_factory=list)
    # registered variants that fit this engine
    variants: list[str] = field(default_factory=list)
    # what the fine-tuned modes may run: the variants, and on Ollama any other pulled model (trained elsewhere)
    variant_choices: list[str] = field(default_factory=list)
    # the configured OpenAI-compatible server's status when `auto` tried it and it did not answer
    server_probe: EngineStatus | None = None
    # openai engine: the prompt form ('chat' or 'completion') each listed model gets, for the "what ran" label
    prompt_forms: dict[str, str] = field(default_factory=dict)
    # the embedded engine on the bundled Gemma 3 270M base (no DOMAINCHAT_GGUF): the pages say what it can show
    bundled_small_model: bool = False
    # where the engine runs, in words a user recognises (a server's address without any credentials in it)
    where: str = ""
    # why this engine answers: named in the settings or an Engine box, or what `auto` found
    why: str = ""

    @property
    def fell_back(self) -> bool:
        """Whether `auto` chose the embedded engine because Ollama did not answer."""
        return self.probe is not None and not self.probe.ok


class Engines:
    """Resolves the engine choice and answers questions about engines, models and variants."""

    def __init__(self, settings: Settings, *, probe_ttl_s: float = PROBE_TTL_S) -> None:
        self.settings = settings
        self.probe_ttl_s = probe_ttl_s
        self.registry = VariantRegistry(settings.data_dir)
        self._lock = threading.Lock()
        self._ollama: OllamaEngine | None = None
        self._embedded: EmbeddedEngine | None = None
        self._openai: OpenAIEngine | None = None
        self._probe: tuple[float, EngineStatus] | None = None
        self._server_probe: tuple[float, EngineStatus] | None = None

    # -- resolution --

    @property
    def ollama(self) -> OllamaEngine:
        """The Ollama engine (not probed)."""
        with self._lock:
            self._ollama = self._ollama or OllamaEngine(self.settings)
            return self._ollama

    @property
    def embedded(self) -> EmbeddedEngine:
        """The embedded llama.cpp engine."""
        with self._lock:
            self._embedded = self._embedded or EmbeddedEngine(self.settings)
            return self._embedded

    @property
    def openai(self) -> OpenAIEngine:
        """The engine of the OpenAI-compatible server (not probed)."""
        with self._lock:
            self._openai = self._openai or OpenAIEngine(self.settings)
            return self._openai

    @property
    def server_configured(self) -> bool:
        """Whether `auto` should try the OpenAI-compatible server: its base URL was set explicitly."""
        return bool(self.settings.openai_base_url.strip())

    def named(self, name: str) -> Engine:
        """The engine called 'ollama', 'embedded' or 'openai', without probing."""
        if name == "ollama":
            return self.ollama
        if name == "embedded":
            return self.embedded
        if name == "openai":
            return self.openai
        raise ConfigError(f"Engine {name!r} is not valid: use one of {', '.join(ENGINE_CHOICES)}.")

    def probe_ollama(self, fresh: bool = False) -> EngineStatus:
        """Ollama's status, asked at most once per `probe_ttl_s` (≤2 s to connect, ≤5 s to answer)."""
        with self._lock:
            cached = self._probe
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.probe_ttl_s:
            return cached[1]
        status = self.ollama.status()
        with self._lock:
            self._probe = (time.monotonic(), status)
        return status

    def probe_server(self, fresh: bool = False) -> EngineStatus:
        """The configured OpenAI-compatible server's status, asked at most once per `probe_ttl_s`."""
        with self._lock:
            cached = self._server_probe
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.probe_ttl_s:
            return cached[1]
        status = self.openai.status()
        with self._lock:
            self._server_probe = (time.monotonic(), status)
        return status

    def resolve_with_probe(self, requested: str | None = None) -> tuple[Engine, EngineStatus | None]:
        """The engine for `requested` (default DOMAINCHAT_ENGINE), and the status that decided an `auto` choice
        (the server's when it was chosen, else Ollama's)."""
        choice = (requested or self.settings.engine).strip().lower()
        if choice != "auto":
            return self.named(choice), None
        if self.server_configured:
            server = self.probe_server()
            if server.ok:
                return self.openai, server
        probe = self.probe_ollama()
        return (self.ollama if probe.ok else self.embedded), probe

    def resolve(self, requested: str | Engine | None = None) -> Engine:
        """The engine to use: an engine passes through; a name resolves (auto: Ollama if it answers, else embedded)."""
        if requested is not None and not isinstance(requested, str):
            return requested
        return self.resolve_with_probe(requested)[0]

    # -- models and variants --

    def default_model(self, engine: Engine | str) -> str:
        """The base model a chat uses on `engine` when the user picked none."""
        name = engine if isinstance(engine, str) else engine.name
        if name == "embedded":
            return self.embedded.default_model
        if name == "openai":
            # DOMAINCHAT_OPENAI_MODEL, else the first model the server lists (asked once per few seconds)
            return self.openai.default_model
        return self.settings.ollama_model

    def fits(self, variant: Variant, engine: Engine | str) -> bool:
        """Whether a registered variant can run on `engine`: an embedded variant is a LoRA adapter for llama.cpp,
        an Ollama variant a model on Ollama, an openai variant a model name the OpenAI-compatible server serves."""
        return variant.engine == (engine if isinstance(engine, str) else engine.name)

    def variants_for(self, engine: Engine | str) -> list[Variant]:
        """The registered variants that fit `engine`, newest first."""
        return [v for v in self.registry.list() if self.fits(v, engine)]

    def variant_model(self, engine: Engine | str, name: str) -> str:
        """The model name the engine runs for variant `name` (an Ollama variant runs its Ollama model, an openai
        variant the model name the server serves it under)."""
        engine_name = engine if isinstance(engine, str) else engine.name
        for v in self.variants_for(engine_name):
            if v.name == name:
                if engine_name == "ollama":
                    return v.ollama_model or v.name
                return (v.served_model or v.name) if engine_name == "openai" else v.name
        return name  # on Ollama or a server, a model trained elsewhere is its own name

    def newest_variant(self, engine: Engine | str) -> str | None:
        """The newest variant that fits `engine` (what the CLI uses when none is named)."""
        fitting = self.variants_for(engine)
        return fitting[0].name if fitting else None

    def overview(self, requested: str | None = None) -> EngineOverview:
        """The resolved engine with its status, models and the variants the fine-tuned modes may use."""
        engine, probe = self.resolve_with_probe(requested)
        status = probe if (probe is not None and probe.engine == engine.name) else engine.status()
        models = engine.list_models() if status.ok else []
        base = [m.name for m in models if m.kind == "base"]
        variants = [m.name for m in models if m.kind == "variant"]
        forms: dict[str, str] = {}
        if engine.name == "openai":
            default = self.settings.openai_model or (base[0] if base else "(no model served)")
            # the served name of each model (a variant runs under its served name) with the prompt form it gets
            forms = {m.name: self.openai.prompt_form(self.variant_model(engine, m.name))[0] for m in models}
        else:
            default = self.default_model(engine)
        # on a server, any other model it serves may be picked as the variant too (trained and served elsewhere)
        choices = variants + ([m for m in base if m != default] if engine.name in ("ollama", "openai") else [])
        server = None
        if probe is not None and engine.name != "openai" and self.server_configured:
            server = self.probe_server()
        return EngineOverview(
            requested=(requested or self.settings.engine),
            engine=engine.name,
            status=status,
            probe=probe,
            default_model=default,
            base_models=base or [default],
            variants=variants,
            variant_choices=choices,
            server_probe=server,
            prompt_forms=forms,
            bundled_small_model=engine.name == "embedded" and not self.settings.embedded_gguf,
            where=self.where(engine.name),
            why=self.why(requested, engine.name),
        )

    def where(self, engine: EngineName) -> str:
        """Where `engine` runs, for people: the bundled model or the GGUF file, or the server's address."""
        if engine == "embedded":
            gguf = self.settings.embedded_gguf
            return f"GGUF file {Path(gguf).name}, in this process" if gguf else "bundled Gemma 3 270M, in this process"
        return shown_address(self.openai.base_url if engine == "openai" else self.ollama.host)

    def why(self, requested: str | None, engine: EngineName) -> str:
        """Why `requested` (default DOMAINCHAT_ENGINE) gives `engine`, in one clause a user can act on."""
        choice = (requested or self.settings.engine).strip().lower()
        if choice != "auto":
            if choice == self.settings.engine:
                return f"chosen in the settings (DOMAINCHAT_ENGINE={choice})"
            return "chosen in the Engine box"
        if engine == "openai":
            return "auto: DOMAINCHAT_OPENAI_BASE_URL is set and that server answers"
        ollama = shown_address(self.ollama.host)
        server_down = "the OpenAI-compatible server set in DOMAINCHAT_OPENAI_BASE_URL does not answer"
        if engine == "ollama":
            return f"auto: Ollama answers at {ollama}" + (f"; {server_down}" if self.server_configured else "")
        tried = (
            server_down if self.server_configured else "no OpenAI-compatible server is set (DOMAINCHAT_OPENAI_BASE_URL)"
        )
        return f"auto: {tried}, and no Ollama answers at {ollama}"


def shown_address(url: str) -> str:
    """A server's address as the pages show it: scheme, host, port and path, never a user name or password."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url.split("@")[-1]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
