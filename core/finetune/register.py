"""Fine-tuned variants: register them on the embedded engine or on Ollama, list and delete them.

- Embedded: the LoRA GGUF is validated (gguf reader, then llama.cpp in a child process), copied into
  the variant's folder and recorded; the engine applies it to its base GGUF per request.
- Ollama: recent Ollama refuses `ADAPTER`, so the adapter is merged into a copy of the base GGUF (the
  file the base's modelfile names in its FROM line), uploaded as a blob and created as a model with
  the base's template and parameters; a smoke chat must answer before the variant is recorded.
- Any existing Ollama model can also be recorded as "the fine-tuned variant" (trained elsewhere).
- OpenAI-compatible server: a model name the server serves (a LoRA module on vLLM/SGLang, an alias on a llama.cpp
  server) is recorded as the variant once the server's /v1/models lists it.

Each variant folder also holds `training.json`: how it was made (job, base file, dataset, cost). A variant trained here
records its recipe (plain, read-passages, paraphrase); one recorded before recipes were reads as its job's config says.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from core.base.files import copy_atomic, write_json_atomic
from core.chat.prompts import finetuned_prompt, plain_prompt
from core.config import Settings
from core.engines.gguf_files import smoke_generate, validate_lora_gguf
from core.engines.ollama_engine import OllamaEngine, parse_parameters
from core.engines.openai_engine import OpenAIEngine, serve_hint
from core.engines.variants import PARAPHRASE, PLAIN, READ_PASSAGES, Variant, VariantRegistry
from core.errors import AppError, ModelNotFoundError, VariantError
from core.finetune.dataset import load_training_pairs
from core.finetune.jobs import TrainConfig
from core.finetune.merge import merge_lora

DETAILS_FILE = "training.json"
ADAPTER_FILE = "adapter.gguf"
SMOKE_QUESTION = "What is this document about?"


def _details(registry: VariantRegistry, name: str) -> dict[str, Any]:
    try:
        return json.loads((registry.folder(name) / DETAILS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def recipe_of(variant: Variant, details: Mapping[str, Any]) -> str:
    """The variant's training recipe; a record from before recipes were kept reads as its job's config says."""
    if variant.recipe:
        return variant.recipe
    config = details.get("config")  # the job's TrainConfig, kept in training.json
    if not isinstance(config, dict):
        return PLAIN
    if config.get("passage_examples"):
        return READ_PASSAGES
    return PARAPHRASE if config.get("rewordings_per_pair") else PLAIN


@dataclass(frozen=True)
class VariantInfo:
    """A variant with what a table shows: how it was made, what it cost, whether it can run."""

    variant: Variant
    usable: bool
    adapter_bytes: int | None = None
    base_gguf: str = ""
    job_id: str = ""
    created_ollama_model: bool = False
    recipe: str = PLAIN

    @property
    def name(self) -> str:
        """The variant's name."""
        return self.variant.name

    @property
    def training(self) -> dict[str, Any]:
        """What training took, from the job's cost: pairs, epochs, optimiser steps and seconds (None: not recorded)."""
        cost = self.variant.cost
        return {key: cost.get(source) for key, source in _TRAINING_FIGURES.items()}

    def recipe_line(self) -> str:
        """One line for a reader: "samples-ft: recipe plain, 30 pairs × 10 epochs, 119 s"; a paraphrase variant says
        how many rewordings per pair it trained and where they came from, and the examples the pairs made."""
        t = self.training
        parts = [f"recipe {self.recipe}{self._rewordings_note()}"]
        examples = self.variant.cost.get("examples")
        if t["pairs"] is not None and t["epochs"] is not None:
            made = f" → {examples} examples" if self.recipe == PARAPHRASE and examples is not None else ""
            parts.append(f"{t['pairs']} pairs{made} × {t['epochs']} epochs")
        if t["seconds"] is not None:
            parts.append(f"{float(t['seconds']):.0f} s")
        if t["pairs"] is None and t["seconds"] is None and self.variant.note:
            parts.append(self.variant.note)  # trained elsewhere: what was recorded about it
        return f"{self.name}: {', '.join(parts)}"

    def _rewordings_note(self) -> str:
        """ " (2 rewordings per pair, rule-based)" for a paraphrase variant whose job recorded its rewordings."""
        counts = self.variant.cost.get("rewordings")
        if self.recipe != PARAPHRASE or not isinstance(counts, dict):
            return ""
        pairs, made = counts.get("pairs") or 0, counts.get("rewordings") or 0
        per_pair = f"{round(made / pairs, 1):g}" if pairs else "0"
        dropped = int(counts.get("evaluation_dropped") or 0)
        notes = [str(counts.get("source") or ""), f"{dropped} dropped as evaluation questions" if dropped else ""]
        source = ", ".join(n for n in notes if n)
        return f" ({per_pair} rewording{'' if per_pair == '1' else 's'} per pair{', ' + source if source else ''})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready row (the variant's fields, then the rest)."""
        return {
            **asdict(self.variant),
            "created_iso": time.strftime("%Y-%m-%d %H:%M", time.localtime(self.variant.created)),
            "usable": self.usable,
            "adapter_bytes": self.adapter_bytes,
            "base_gguf": self.base_gguf,
            "job_id": self.job_id,
            "created_ollama_model": self.created_ollama_model,
            "recipe": self.recipe,
            "training": self.training,
        }


# the figures a variant's training is summed up by, and the cost keys the training job records them under
_TRAINING_FIGURES = {"pairs": "pairs", "epochs": "epochs", "steps": "steps", "seconds": "wall_s"}


@dataclass(frozen=True)
class DeletedVariant:
    """What deleting a variant removed."""

    deleted: str
    ollama_model_deleted: str = ""


def _smoke_prompt(questions: Sequence[str]) -> str:
    return finetuned_prompt(questions[0] if questions else SMOKE_QUESTION)


# ---------------------------------------------------------------- embedded engine


def register_embedded(
    data_dir: Path,
    name: str,
    adapter_gguf: Path,
    base_gguf: Path,
    base_model: str,
    *,
    dataset: str = "",
    cost: Mapping[str, Any] | None = None,
    note: str = "",
    details: Mapping[str, Any] | None = None,
    smoke_questions: Sequence[str] = (),
    replace: bool = False,
    recipe: str = "",
) -> Variant:
    """Validate a LoRA GGUF against the engine's base GGUF (reader + llama.cpp), copy it in, record the variant."""
    registry = VariantRegistry(data_dir)
    registry.check_free(name, replace)
    info = validate_lora_gguf(adapter_gguf, base_gguf)
    started = time.perf_counter()
    # A bad adapter crashes llama.cpp at the first token: find out in a child process, not in the app.
    sample = smoke_generate(base_gguf, [_smoke_prompt(smoke_questions)], lora=adapter_gguf, max_tokens=8)
    folder = registry.folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    copy_atomic(adapter_gguf, folder / ADAPTER_FILE)
    write_json_atomic(
        folder / DETAILS_FILE,
        {
            **(dict(details) if details else {}),
            "base_gguf": str(base_gguf),
            "adapter": info,
            "smoke": {"seconds": round(time.perf_counter() - started, 2), "sample": sample[0]},
        },
    )
    return registry.register(
        Variant(
            name=name,
            engine="embedded",
            base_model=base_model,
            adapter_file=ADAPTER_FILE,
            dataset=dataset,
            cost=dict(cost or {}),
            note=note,
            recipe=recipe,
        )
    )


# ---------------------------------------------------------------- Ollama


def _engine(settings: Settings, engine: OllamaEngine | None) -> OllamaEngine:
    return engine if engine is not None else OllamaEngine(settings)


def ollama_base_gguf(settings: Settings, base_model: str, engine: OllamaEngine | None = None) -> Path:
    """The local GGUF file an Ollama model runs (its modelfile's FROM line); VariantError if not reachable here."""
    path = _engine(settings, engine).gguf_blob_path(base_model)
    if not path.is_file():
        raise VariantError(
            f"Ollama's file for {base_model} ({path}) is not readable from this machine: "
            "fine-tuning for Ollama needs the "
            "Ollama server on this machine (or its models folder mounted at the same path), or give a GGUF file."
        )
    return path


def register_ollama(
    settings: Settings,
    name: str,
    adapter: Path,
    base_model: str,
    *,
    base_gguf: Path | None = None,
    ollama_model: str = "",
    dataset: str = "",
    cost: Mapping[str, Any] | None = None,
    note: str = "",
    details: Mapping[str, Any] | None = None,
    smoke_questions: Sequence[str] = (),
    out_type: str = "F16",
    keep_merged: bool = False,
    replace: bool = False,
    engine: OllamaEngine | None = None,
    recipe: str = "",
) -> Variant:
    """Merge the adapter into the base's GGUF, create it on Ollama with its template/parameters, smoke-test, record."""
    registry = VariantRegistry(settings.data_dir)
    registry.check_free(name, replace)
    eng = _engine(settings, engine)
    target = ollama_model or name
    show = eng.show(base_model)
    base_file = Path(base_gguf) if base_gguf else ollama_base_gguf(settings, base_model, eng)
    folder = registry.folder(name)
    existed = folder.is_dir()
    folder.mkdir(parents=True, exist_ok=True)
    merged = folder / "merged.gguf"
    try:
        started = time.perf_counter()
        report = merge_lora(base_file, Path(adapter), merged, out_type=out_type)
        merge_s = time.perf_counter() - started
        digest = eng.create_from_gguf(target, merged, like=base_model)
        sample = _ollama_smoke(eng, target, smoke_questions)
    except BaseException:
        merged.unlink(missing_ok=True)
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if not keep_merged:
        merged.unlink(missing_ok=True)  # Ollama keeps its own copy as a blob
    write_json_atomic(
        folder / DETAILS_FILE,
        {
            **(dict(details) if details else {}),
            "base_gguf": str(base_file),
            "created_ollama_model": True,
            "blob": digest,
            "merge": {
                "merged_tensors": report.merged_tensors,
                "copied_tensors": report.copied_tensors,
                "out_type": report.out_type,
                "size_bytes": report.size_bytes,
                "seconds": round(merge_s, 1),
            },
            "template": show.get("template", ""),
            "parameters": parse_parameters(show.get("parameters", "")),
            "smoke": {"sample": sample},
        },
    )
    return registry.register(
        Variant(
            name=name,
            engine="ollama",
            base_model=base_model,
            ollama_model=target,
            dataset=dataset,
            cost=dict(cost or {}),
            note=note,
            recipe=recipe,
        )
    )


def _ollama_smoke(eng: OllamaEngine, model: str, questions: Sequence[str]) -> str:
    """One short answer through /api/chat, as the chat's finetuned mode asks; VariantError if empty."""
    text = eng.chat_once(model, plain_prompt(questions[0] if questions else SMOKE_QUESTION).messages).strip()
    if not text:
        raise VariantError(
            f"Ollama created {model} but it answers with empty text: the merged model is broken; "
            "delete it and train again."
        )
    return text


def register_existing_ollama(
    settings: Settings,
    name: str,
    ollama_model: str,
    *,
    base_model: str = "",
    note: str = "",
    replace: bool = False,
    engine: OllamaEngine | None = None,
) -> Variant:
    """Record an Ollama model that already exists (fine-tuned elsewhere) as a variant."""
    registry = VariantRegistry(settings.data_dir)
    registry.check_free(name, replace)
    eng = _engine(settings, engine)
    show = eng.show(ollama_model)  # ModelNotFoundError (with `ollama pull …`) when it is not there
    family = str((show.get("details") or {}).get("family") or "")
    variant = registry.register(
        Variant(
            name=name,
            engine="ollama",
            base_model=base_model or family or "unknown",
            ollama_model=ollama_model,
            note=note or "existing Ollama model",
        )
    )
    write_json_atomic(
        registry.folder(name) / DETAILS_FILE, {"created_ollama_model": False, "details": show.get("details", {})}
    )
    return variant


# ---------------------------------------------------------------- OpenAI-compatible server


def register_served(
    settings: Settings,
    name: str,
    served_model: str,
    *,
    base_model: str = "",
    note: str = "",
    replace: bool = False,
    engine: OpenAIEngine | None = None,
) -> Variant:
    """Record a model the OpenAI-compatible server serves as a variant; the server must list it now."""
    registry = VariantRegistry(settings.data_dir)
    registry.check_free(name, replace)
    eng = engine if engine is not None else OpenAIEngine(settings)
    try:
        served = eng.served(served_model)
    except ModelNotFoundError as exc:
        # registering a variant that does not run yet would only fail later, in the middle of a chat or an eval
        raise ModelNotFoundError(f"{exc} For a LoRA adapter: {serve_hint(served_model)}") from exc
    variant = registry.register(
        Variant(
            name=name,
            engine="openai",
            base_model=base_model or (served.root if served.root and served.root != served.id else "") or "unknown",
            served_model=served.id,
            note=note or f"served by {eng.base_url}",
        )
    )
    write_json_atomic(
        registry.folder(name) / DETAILS_FILE,
        {"server": eng.base_url, "served_model": served.id, "root": served.root, "context": served.max_model_len},
    )
    return variant


# ---------------------------------------------------------------- from a training job


def register_trained(
    config: TrainConfig,
    cost: Mapping[str, Any],
    *,
    name: str,
    engine: str = "embedded",
    replace: bool = False,
    base_model: str = "",
    ollama_host: str = "",
    ollama_model: str = "",
    note: str = "",
) -> Variant:
    """Register the adapter a training job made (its folder and config say where everything is)."""
    folder = config.job_dir
    details = {"job_id": config.job_id, "dataset_path": config.dataset, "config": json.loads(config.to_json())}
    try:
        questions = [p.question for p in load_training_pairs(Path(config.dataset))[:1]]
    except AppError:
        questions = []
    common: dict[str, Any] = {
        "dataset": config.dataset_name,
        "cost": dict(cost),
        "details": details,
        "smoke_questions": questions,
        "replace": replace,
        "note": note,
        "recipe": config.recipe,
    }
    if engine == "embedded":
        if not config.base_gguf:
            raise VariantError("The embedded engine needs a GGUF base model: train from the engine's GGUF file.")
        return register_embedded(
            Path(config.data_dir),
            name,
            folder / ADAPTER_FILE,
            Path(config.base_gguf),
            base_model or config.base_model or Path(config.base_gguf).stem,
            **common,
        )
    if engine == "ollama":
        settings = Settings.from_env(
            env={}, dotenv=None, data_dir=Path(config.data_dir), **({"ollama_host": ollama_host} if ollama_host else {})
        )
        adapter = folder / ADAPTER_FILE if (folder / ADAPTER_FILE).is_file() else folder / "adapter"
        return register_ollama(
            settings,
            name,
            adapter,
            base_model or config.base_model,
            base_gguf=Path(config.base_gguf) if config.base_gguf else None,
            ollama_model=ollama_model,
            **common,
        )
    raise VariantError(f"Cannot register a variant on engine {engine!r}: use 'embedded' or 'ollama'.")


def register_from_job(config: TrainConfig, cost: Mapping[str, Any]) -> Variant:
    """Register the adapter a job just trained, as its config's `register` entry asks."""
    reg = dict(config.register or {})
    return register_trained(
        config,
        cost,
        name=str(reg.get("name", "")),
        engine=str(reg.get("engine", "embedded")),
        replace=bool(reg.get("replace", False)),
        base_model=str(reg.get("base_model") or ""),
        ollama_host=str(reg.get("ollama_host") or ""),
        ollama_model=str(reg.get("ollama_model", "")),
        note=str(reg.get("note", "")),
    )


# ---------------------------------------------------------------- listing and deleting


def list_variants(data_dir: Path, engine: str | None = None) -> list[VariantInfo]:
    """Every variant with what a table shows: base, dataset, training cost, created, file size, usable."""
    registry = VariantRegistry(data_dir)
    out = []
    for v in registry.list(engine):
        details = _details(registry, v.name)
        adapter = registry.adapter_path(v) if v.engine == "embedded" else None
        out.append(
            VariantInfo(
                variant=v,
                usable=adapter.is_file() if adapter is not None else bool(v.ollama_model or v.served_model),
                adapter_bytes=adapter.stat().st_size if adapter is not None and adapter.is_file() else None,
                base_gguf=str(details.get("base_gguf", "")),
                job_id=str(details.get("job_id", "")),
                created_ollama_model=bool(details.get("created_ollama_model", False)),
                recipe=recipe_of(v, details),
            )
        )
    return out


def delete_variant(
    settings: Settings, name: str, *, delete_ollama_model: bool = True, engine: OllamaEngine | None = None
) -> DeletedVariant:
    """Delete a variant's record and files; for an Ollama model this app created, the model on Ollama too."""
    registry = VariantRegistry(settings.data_dir)
    variant = registry.get(name)
    details = _details(registry, name)
    removed_model = ""
    if (
        variant.engine == "ollama"
        and delete_ollama_model
        and details.get("created_ollama_model")
        and variant.ollama_model
    ):
        try:
            _engine(settings, engine).delete_model(variant.ollama_model)
            removed_model = variant.ollama_model
        except ModelNotFoundError:
            pass  # already gone on the server: fine
        except AppError as exc:
            raise VariantError(
                f"{exc} The variant was kept; delete it again, or keep the Ollama model and remove only the record."
            ) from exc
    registry.delete(name)
    return DeletedVariant(deleted=name, ollama_model_deleted=removed_model)
