"""The fine-tune service (`svc.finetune`): what the Fine-tune page and `python -m core finetune` both call.

- training sets: generate from a collection (a background job), import a Q&A file (or the samples),
  list, review and edit, export (messages JSONL, Alpaca, ShareGPT for GPU training tools);
- training: start a LoRA job with every default and the base-model resolution inside, typed status,
  cancel, export the adapter;
- variants: list, register (from a job, an adapter file, or an existing Ollama model), delete, over
  one registry.

Long work runs as a `core.base.jobs` job, never in the page script: training (`core.finetune.train`) and
training-set generation (`core.finetune.generation_job`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from dataclasses import replace as with_fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from core.base import jobs as core_jobs
from core.base.files import copy_atomic
from core.base.jobs import JobKind, JobStatus
from core.config import Settings
from core.engines.resolver import Engines
from core.engines.variants import PARAPHRASE, PLAIN, READ_PASSAGES, Variant, VariantRegistry
from core.errors import FineTuneError
from core.finetune import dataset as ds
from core.finetune import jobs as training_jobs
from core.finetune.dataset import DatasetOptions  # the service's input type: pages import it from here
from core.finetune.generation_job import GENERATION, generation_config, settings_to_json
from core.finetune.jobs import RECIPES, TRAINING, TrainConfig, TrainingStatus, start_job
from core.finetune.paraphrase import REWORDINGS_PER_PAIR, evaluation_rewordings
from core.finetune.passages import (
    DISTRACTOR_FRACTION,
    PassageCounts,
    PassageExample,
    build_passage_examples,
    save_passage_examples,
)
from core.finetune.qa_import import read_qa_file, read_rewordings, split_imported
from core.finetune.register import (
    ADAPTER_FILE,
    DeletedVariant,
    VariantInfo,
    delete_variant,
    list_variants,
    ollama_base_gguf,
    register_embedded,
    register_existing_ollama,
    register_ollama,
    register_trained,
)
from core.index.retrieval import Retriever
from core.library.samples import sample_qa_files
from core.library.service import DocumentLibrary

TRAINING_DEFAULTS = TrainConfig(job_id="defaults", data_dir="", dataset="")
# What each recipe trains and what scoring its variant then tests, one sentence each (the Fine-tune page's choice).
RECIPE_TESTS = {
    PLAIN: "Trains each question → answer pair as written: tests what the pairs alone teach the weights.",
    READ_PASSAGES: "Also trains each pair in the prompt the hybrid mode sends, with the passages retrieved for it: "
    "tests whether learning to read passages makes the hybrid mode better.",
    PARAPHRASE: "Also trains each pair under rewordings of its question, same answer: tests whether the variant "
    "learns the fact rather than the wording, on the reworded half.",
}


@dataclass(frozen=True)
class TrainingSetInfo:
    """A saved training set: its name, folder, counts and how it was made."""

    name: str
    path: Path
    created: float
    stats: ds.DatasetStats
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON (with the folder)."""
        return {
            **self.meta,
            "name": self.name,
            "created": self.created,
            "stats": asdict(self.stats),
            "path": str(self.path),
        }


@dataclass(frozen=True)
class TrainingExport:
    """A training set written for a GPU training tool: the data file, its format and what it was made for."""

    path: Path
    format: str
    examples: int
    base_model: str
    chat_template: str
    readme: Path

    def to_dict(self) -> dict[str, Any]:
        """The export as JSON."""
        return {**asdict(self), "path": str(self.path), "readme": str(self.readme)}


@dataclass(frozen=True)
class RunningJob:
    """The heavy job that holds the machine now."""

    job_id: str
    what: str
    started: float | None


class FineTuneService:
    """Training sets, training jobs and variants for one data directory."""

    def __init__(
        self, settings: Settings, library: DocumentLibrary, engines: Engines, retriever: Retriever | None = None
    ) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.library = library
        self.engines = engines
        # the chat's retriever: "read passages" training shows each pair with the passages the chat would retrieve
        self.retriever = retriever
        self.registry = VariantRegistry(settings.data_dir)

    # ------------------------------------------------------------ training sets

    def training_sets(self) -> list[TrainingSetInfo]:
        """The saved training sets, newest first."""
        out = []
        for m in ds.list_datasets(self.data_dir):
            stats = {k: v for k, v in (m.get("stats") or {}).items() if k in ds.DatasetStats.__dataclass_fields__}
            meta = {k: v for k, v in m.items() if k not in ("name", "created", "stats", "path")}
            out.append(
                TrainingSetInfo(
                    str(m["name"]), Path(m["path"]), float(m.get("created", 0)), ds.DatasetStats(**stats), meta
                )
            )
        return out

    def training_set(self, name: str) -> TrainingSetInfo:
        """One saved training set (FineTuneError if there is none of that name)."""
        for info in self.training_sets():
            if info.name == name:
                return info
        raise FineTuneError(
            f"No training set called {name!r}: build or import one first (`python -m core finetune dataset --list`)."
        )

    def training_pairs(self, name: str) -> list[ds.QAPair]:
        """The training pairs of a saved training set."""
        return ds.load_training_pairs(self.training_set_dir(name))

    def training_set_dir(self, name: str) -> Path:
        """The folder a training set of that name is kept in (whether or not it exists yet)."""
        return ds.dataset_dir(self.data_dir, name)

    def save_edits(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Replace a training set's pairs with an edited table; returns how many pairs are kept."""
        return ds.replace_training_pairs(self.data_dir, name, rows)

    def messages_jsonl(self, name: str) -> str:
        """A training set as chat-messages JSONL text (what other fine-tuning tools read)."""
        return ds.messages_jsonl(self.training_pairs(name))

    def export_text(self, name: str, fmt: str) -> str:
        """A training set as the data file of a GPU tool's format: messages JSONL, Alpaca or ShareGPT JSON."""
        return ds.conversations_text([ds.pair_conversation(p) for p in self.training_pairs(name)], fmt)

    def export_training_set(self, name: str, out: Path) -> int:
        """Write a training set as chat-messages JSONL; returns the number of pairs."""
        pairs = self.training_pairs(name)
        ds.export_messages(pairs, out)
        return len(pairs)

    def export_for_training(
        self,
        name: str,
        out_dir: Path,
        fmt: str = "messages",
        *,
        base_model: str = "",
        chat_template: str = "",
        read_passages: bool = False,
        collection: str = "",
    ) -> TrainingExport:
        """Write a training set in a GPU tool's format (messages JSONL, Alpaca, ShareGPT) with a README beside it.

        `read_passages`: export the prompt form `hybrid` mode sends (each pair with the passages the chat
        retrieves from `collection`, plus distractors) instead of the bare pairs. `base_model` defaults to the
        Ollama base model's name; an empty `chat_template` means the base model's own.
        """
        pairs = self.training_pairs(name)
        if read_passages:
            examples, _ = self._passage_examples(pairs, collection, seed=0)
            conversations = [[*e.messages, {"role": "assistant", "content": e.answer}] for e in examples]
            source = f"{name} (read passages from '{collection}')"
        else:
            conversations = [ds.pair_conversation(p) for p in pairs]
            source = name
        base = base_model or self.settings.ollama_model
        path = ds.export_conversations(
            conversations, Path(out_dir), fmt, base_model=base, chat_template=chat_template, source=source
        )
        return TrainingExport(path, fmt, len(conversations), base, chat_template, path.parent / ds.EXPORT_README)

    def export_pairs(self, pairs: Iterable[tuple[str, str]], out: Path) -> Path:
        """Write (question, answer) pairs as a chat-messages JSONL file a training job can take; returns its path."""
        return ds.export_messages([ds.QAPair(q, a) for q, a in pairs], out)

    def import_training_set(
        self, name: str, data: bytes | str | Path, file_name: str = "", options: DatasetOptions = DatasetOptions()
    ) -> TrainingSetInfo:
        """Import Q&A pairs from a CSV/JSONL file, split them by source and save them (quick: no model involved)."""
        ds.validate_dataset_name(name)
        pairs = read_qa_file(data, file_name)
        origin = file_name or (data.name if isinstance(data, Path) else "upload")
        return self._save(name, split_imported(pairs, options), {"origin": "imported", "file": origin})

    def import_samples(self, name: str = "samples", options: DatasetOptions = DatasetOptions()) -> TrainingSetInfo:
        """Import the Q&A written for the sample documents (sample_docs/*.questions.jsonl) with the rewordings written
        for them (*.reworded.jsonl beside each), so the set has all three halves without a model."""
        ds.validate_dataset_name(name)
        files = sample_qa_files()
        if not files:
            raise FineTuneError(
                "The sample Q&A files (sample_docs/*.questions.jsonl) are missing: import your own Q&A file."
            )
        rewordings = self._sample_rewording_files()
        pairs = [p for f in files for p in read_qa_file(f)]
        pairs += [p for f in rewordings if f.is_file() for p in read_rewordings(f)]
        return self._save(
            name,
            split_imported(pairs, options),
            {
                "origin": "imported",
                "file": "sample_docs/*.questions.jsonl",
                "rewordings": "sample_docs/*.reworded.jsonl",
            },
        )

    @staticmethod
    def _sample_rewording_files() -> list[Path]:
        """The rewordings written for the sample Q&A (a *.reworded.jsonl beside each *.questions.jsonl)."""
        return [f.with_name(f.name.removesuffix(".questions.jsonl") + ".reworded.jsonl") for f in sample_qa_files()]

    def _save(self, name: str, built: ds.TrainingSet, meta: Mapping[str, Any]) -> TrainingSetInfo:
        ds.save_training_set(self.data_dir, name, built, meta)
        return self.training_set(name)

    def generator_warning(self, engine: str | None = None) -> str:
        """Why the chosen engine may write few usable pairs ('' when there is no known problem)."""
        if self.engines.resolve(engine).name == "embedded":
            return (
                "The bundled Gemma 3 270M is a base model and rarely writes usable Q&A (measured: 0 usable pairs from "
                "3 chunks, 9 malformed replies). Use an instruction model on Ollama, or import Q&A (the sample Q&A is "
                "one click away)."
            )
        return ""

    def start_generation(
        self,
        collection: str,
        name: str,
        options: DatasetOptions = DatasetOptions(),
        *,
        engine: str | None = None,
        model: str = "",
    ) -> str:
        """Start a background job that writes Q&A pairs about a collection's chunks with the engine's model; its id."""
        ds.validate_dataset_name(name)
        chunks = self.library.chunks(collection)
        config = generation_config(
            self.settings,
            name,
            options,
            engine=engine or self.settings.engine,
            model=model,
            meta={"origin": "generated", "collection": collection},
            chunks=chunks,
        )
        return core_jobs.start_job(
            self.data_dir, GENERATION, config, status={"training_set": name, "collection": collection}
        )

    def start_reworded_import(
        self,
        name: str,
        data: bytes | str | Path,
        file_name: str = "",
        options: DatasetOptions = DatasetOptions(),
        *,
        engine: str | None = None,
        model: str = "",
    ) -> str:
        """Import Q&A pairs and have the model reword the seen-facts questions, as a background job; its id."""
        ds.validate_dataset_name(name)
        pairs = read_qa_file(data, file_name)
        origin = file_name or (data.name if isinstance(data, Path) else "upload")
        config = generation_config(
            self.settings,
            name,
            options,
            engine=engine or self.settings.engine,
            model=model,
            meta={"origin": "imported", "file": origin},
            pairs=pairs,
        )
        return core_jobs.start_job(self.data_dir, GENERATION, config, status={"training_set": name})

    # ------------------------------------------------------------ jobs of both kinds

    @staticmethod
    def _kind(job_id: str) -> JobKind:
        return GENERATION if job_id.startswith(GENERATION.prefix + "-") else TRAINING

    def job_status(self, job_id: str) -> JobStatus:
        """The status of a training job (as TrainingStatus) or of a generation job."""
        if self._kind(job_id) is TRAINING:
            return training_jobs.job_status(self.data_dir, job_id)
        return core_jobs.job_status(self.data_dir, GENERATION, job_id)

    def cancel(self, job_id: str, wait_s: float = 0.0) -> JobStatus:
        """Ask a training or generation job to stop; optionally wait up to `wait_s` for it to end."""
        if self._kind(job_id) is TRAINING:
            return training_jobs.cancel_job(self.data_dir, job_id, wait_s)
        return core_jobs.cancel_job(self.data_dir, GENERATION, job_id, wait_s)

    def wait(self, job_id: str, timeout_s: float, poll_s: float = 0.5) -> JobStatus:
        """Poll a job until it ends or `timeout_s` passes."""
        if self._kind(job_id) is TRAINING:
            return training_jobs.wait_job(self.data_dir, job_id, timeout_s, poll_s)
        return core_jobs.wait_job(self.data_dir, GENERATION, job_id, timeout_s, poll_s)

    def training_jobs(self) -> list[TrainingStatus]:
        """Every training job, newest first."""
        return training_jobs.list_jobs(self.data_dir)

    def generation_jobs(self) -> list[JobStatus]:
        """Every training-set generation job, newest first."""
        return core_jobs.list_jobs(self.data_dir, GENERATION)

    def running_job(self) -> RunningJob | None:
        """The heavy job running now (training or generation), if any: one runs at a time on this machine."""
        holder = core_jobs.heavy_job_holder(self.data_dir)
        if holder is None:
            return None
        started = holder.get("started")
        return RunningJob(
            str(holder.get("job_id", "?")), str(holder.get("what", "job")), float(started) if started else None
        )

    # ------------------------------------------------------------ training

    def base_for(self, engine: str, base_model: str = "") -> tuple[Path, str]:
        """The base GGUF a variant for `engine` is trained from, and its model name (the one place this is decided)."""
        if engine == "embedded":
            emb = self.engines.embedded
            return emb.gguf_path(), base_model or emb.base_name
        if engine == "ollama":
            name = base_model or self.settings.ollama_model
            return ollama_base_gguf(self.settings, name, self.engines.ollama), name
        raise FineTuneError(f"Unknown engine {engine!r}: use 'embedded' or 'ollama'.")

    def training_config(
        self,
        dataset: str | Path,
        *,
        engine: str = "embedded",
        variant_name: str = "",
        replace: bool = False,
        base_gguf: str | Path | None = None,
        base_hf_dir: str | Path | None = None,
        base_model: str = "",
        **options: Any,
    ) -> TrainConfig:
        """A TrainConfig: the dataset by name (or path), the engine's base model unless given, registration on `engine`
        when training ends (with `variant_name`); `options` are TrainConfig fields. LoRA alpha follows the rank
        (alpha = 2 × rank, as measured best here) unless given."""
        path = self.resolve_dataset(dataset)
        if base_gguf is None and base_hf_dir is None:
            base_gguf, base_model = self.base_for(engine, base_model)
        if options.get("lora_alpha") is None:
            rank = int(options.get("lora_r") or TRAINING_DEFAULTS.lora_r)
            options["lora_alpha"] = rank * TRAINING_DEFAULTS.lora_alpha // TRAINING_DEFAULTS.lora_r
        register = (
            {
                "name": variant_name,
                "engine": engine,
                "replace": replace,
                "base_model": base_model,
                "ollama_host": self.settings.ollama_host,
            }
            if variant_name
            else None
        )
        return TrainConfig(
            job_id=TRAINING.new_job_id(),
            data_dir=str(self.data_dir),
            dataset=str(path),
            dataset_name=path.name if path.is_dir() else path.stem,
            base_gguf=str(base_gguf or ""),
            base_hf_dir=str(base_hf_dir or ""),
            base_model=base_model or Path(str(base_gguf or base_hf_dir)).stem,
            register=register,
            **{k: v for k, v in options.items() if v is not None},
        )

    def resolve_dataset(self, dataset: str | Path) -> Path:
        """A training set's folder from its name, or a file/folder from its path.

        A bare name is always a saved training set in the data directory, never a folder of the working
        directory that happens to share it (`docs`, `tests`, `data`); a path says so by a separator
        (`./docs`, `/tmp/pairs.jsonl`) or a file extension (`pairs.jsonl`).
        """
        text = str(dataset)
        if isinstance(dataset, Path) or os.sep in text or "/" in text or Path(text).suffix:
            return Path(dataset)
        return ds.dataset_dir(self.data_dir, text)  # a missing one is refused, with the fix, when the job starts

    def start_training(
        self,
        dataset: str | Path,
        *,
        recipe: str = "",
        read_passages: bool = False,
        collection: str = "",
        distractor_fraction: float = DISTRACTOR_FRACTION,
        rewordings_per_pair: int = REWORDINGS_PER_PAIR,
        **kwargs: Any,
    ) -> str:
        """Start a LoRA training job (see `training_config` for the arguments); its id. JobBusyError if a heavy job
        runs.

        `recipe` (one of RECIPES, default plain; `read_passages=True` is the same as read-passages):
        read-passages also trains every pair in the prompt `hybrid` mode sends, with the passages retrieved
        for it from `collection`, and a `distractor_fraction` share with another question's passages and the
        refusal as the answer (see core.finetune.passages); paraphrase also trains every pair under
        `rewordings_per_pair` rewordings of its question (see `paraphrase_config`).
        """
        recipe = training_recipe(recipe, read_passages)
        if recipe == PARAPHRASE:
            check_rewordings(rewordings_per_pair)  # before the base model is looked for: the fix is in this call
        config = self.training_config(dataset, **kwargs)
        if recipe == READ_PASSAGES:
            path, counts = self.passage_training_examples(config, collection, distractor_fraction)
            config = with_fields(config, passage_examples=str(path), passage_counts=asdict(counts))
        elif recipe == PARAPHRASE:
            config = self.paraphrase_config(config, rewordings_per_pair)
        return start_job(config)

    def paraphrase_config(self, config: TrainConfig, rewordings_per_pair: int = REWORDINGS_PER_PAIR) -> TrainConfig:
        """A job's config for the paraphrase recipe: the rewordings per pair, the model that writes them when the
        engine has an instruction model (else they are rule-based), and the reworded evaluation questions (the
        training set's half, the sample files') no rewording may match."""
        check_rewordings(rewordings_per_pair)
        return with_fields(
            config,
            rewordings_per_pair=rewordings_per_pair,
            rewording_model=self.rewording_model(),
            evaluation_rewordings=evaluation_rewordings(Path(config.dataset), self._sample_rewording_files()),
        )

    def rewording_model(self, engine: str | None = None) -> dict[str, Any] | None:
        """The engine and model that reword the paraphrase recipe's questions (the chat's default engine and model),
        or None where it is a base model that cannot reword (rule-based rewordings are trained instead)."""
        resolved = self.engines.resolve(engine)
        if self.generator_warning(resolved.name):
            return None
        return {
            "engine": resolved.name,
            "model": self.engines.default_model(resolved),
            "settings": settings_to_json(self.settings),
        }

    def passage_training_examples(
        self, config: TrainConfig, collection: str, distractor_fraction: float = DISTRACTOR_FRACTION
    ) -> tuple[Path, PassageCounts]:
        """Build and save a job's read-passages examples with the chat's retriever and settings (k, method)."""
        pairs = ds.load_training_pairs(Path(config.dataset))
        examples, counts = self._passage_examples(pairs, collection, distractor_fraction, config.seed)
        path = self.data_dir / "finetune" / "read_passages" / f"{config.job_id}.jsonl"
        return save_passage_examples(examples, path), counts

    def _passage_examples(
        self, pairs: list[ds.QAPair], collection: str, distractor_fraction: float = DISTRACTOR_FRACTION, seed: int = 0
    ) -> tuple[list[PassageExample], PassageCounts]:
        # shared by training and export, so an exported read-passages set is exactly what a job here trains on
        if not collection:
            raise FineTuneError(
                "Reading passages needs the collection the training pairs are about: pick it (the sidebar's "
                "collection, or `--collection NAME`), or train without 'read passages'."
            )
        if self.retriever is None:
            raise FineTuneError(
                "This fine-tune service has no retriever: build it with build_services so it can read passages."
            )
        examples, counts = build_passage_examples(
            pairs,
            self.retriever,
            collection,
            top_k=self.settings.top_k,
            method=self.settings.retrieval,
            distractor_fraction=distractor_fraction,
            seed=seed,
        )
        if not counts.passages:
            raise FineTuneError(
                f"The passages retrieved from '{collection}' hold none of the {counts.pairs} training answers: pick "
                "the collection whose documents the pairs are about, or train without 'read passages'."
            )
        return examples, counts

    def export_adapter(self, job_id: str, out: Path) -> int:
        """Copy a finished job's llama.cpp LoRA GGUF to `out`; returns its size in bytes."""
        adapter = TRAINING.job_dir(self.data_dir, job_id) / ADAPTER_FILE
        if not adapter.is_file():
            raise FineTuneError(
                f"Job {job_id} has no {ADAPTER_FILE}: it has not finished, or it trained from a model folder, not a "
                "GGUF."
            )
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(adapter, Path(out))
        return Path(out).stat().st_size

    # ------------------------------------------------------------ variants

    def variants(self, engine: str | None = None) -> list[VariantInfo]:
        """Every variant (optionally of one engine), newest first, with what a table shows."""
        return list_variants(self.data_dir, engine)

    def register_job(
        self, job_id: str, name: str, engine: str, *, replace: bool = False, base_model: str = ""
    ) -> Variant:
        """Register what a finished training job made as variant `name` on `engine`."""
        status = training_jobs.job_status(self.data_dir, job_id)
        if status.state != "done":
            raise FineTuneError(f"Job {job_id} is {status.state}: only a finished job's adapter can be registered.")
        config = TrainConfig.from_file(TRAINING.job_dir(self.data_dir, job_id) / "config.json")
        return register_trained(
            config,
            status.cost,
            name=name,
            engine=engine,
            replace=replace,
            base_model=base_model,
            ollama_host=self.settings.ollama_host,
        )

    def register_adapter(
        self,
        name: str,
        engine: str,
        adapter: Path,
        *,
        base_gguf: Path | None = None,
        base_model: str = "",
        replace: bool = False,
    ) -> Variant:
        """Register an adapter file (LoRA GGUF, or a PEFT folder for Ollama) as variant `name` on `engine`."""
        if engine == "embedded":
            if base_gguf is None:
                base_gguf, base_model = self.base_for("embedded", base_model)
            return register_embedded(
                self.data_dir, name, Path(adapter), base_gguf, base_model or base_gguf.stem, replace=replace
            )
        if engine == "ollama":
            return register_ollama(
                self.settings,
                name,
                Path(adapter),
                base_model or self.settings.ollama_model,
                base_gguf=base_gguf,
                replace=replace,
                engine=self.engines.ollama,
            )
        raise FineTuneError(f"Unknown engine {engine!r}: use 'embedded' or 'ollama'.")

    def register_existing_ollama(
        self, name: str, ollama_model: str, *, base_model: str = "", replace: bool = False
    ) -> Variant:
        """Record a model that already exists on Ollama (fine-tuned elsewhere) as variant `name`."""
        return register_existing_ollama(
            self.settings, name, ollama_model, base_model=base_model, replace=replace, engine=self.engines.ollama
        )

    def delete_variant(self, name: str, *, delete_ollama_model: bool = True) -> DeletedVariant:
        """Delete a variant (and the Ollama model this app created for it, unless told to keep it)."""
        return delete_variant(self.settings, name, delete_ollama_model=delete_ollama_model, engine=self.engines.ollama)


def training_recipe(recipe: str = "", read_passages: bool = False) -> str:
    """The recipe a training asks for: `recipe`, or read-passages when only `read_passages` says so, else plain."""
    if read_passages and recipe not in ("", READ_PASSAGES):
        raise FineTuneError(f"'read passages' asks for the {READ_PASSAGES} recipe and recipe for {recipe}: give one.")
    chosen = recipe or (READ_PASSAGES if read_passages else PLAIN)
    if chosen not in RECIPES:
        raise FineTuneError(f"Recipe {chosen!r} is not known: use one of {', '.join(RECIPES)}.")
    return chosen


def check_rewordings(rewordings_per_pair: int) -> None:
    """Refuse a paraphrase recipe without rewordings, saying what to ask for."""
    if rewordings_per_pair < 1:
        raise FineTuneError(
            "The paraphrase recipe trains at least one rewording per pair: ask for 1 or more, or train plain."
        )
