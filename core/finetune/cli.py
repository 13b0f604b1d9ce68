"""`python -m core finetune …`: training sets, training jobs, variants. JSON on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict
import sys
import time
from pathlib import Path
from typing import Any

from core.errors import FineTuneError
from core.finetune import dataset as ds
from core.finetune import jobs
from core.finetune import register as reg


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _progress(done: int, total: int, message: str) -> None:
    print(f"{message}: {done}/{total}", file=sys.stderr)


def add_finetune_commands(sub: Any) -> None:
    """Register `finetune dataset|train|status|cancel|export|register|variants` under `python -m core`."""
    ft = sub.add_parser("finetune", help="build training sets, train LoRA variants, manage variants")
    fsub = ft.add_subparsers(dest="finetune_command", required=True)

    p = fsub.add_parser("dataset", help="build a training set from a collection, import Q&A, or list training sets")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--collection", help="generate Q&A pairs from this collection's chunks with the engine's model")
    src.add_argument("--import", dest="import_file", help="CSV or JSONL with question, answer (source, page optional)")
    src.add_argument("--list", action="store_true", help="list the saved training sets")
    p.add_argument("--name", help="name of the training set (default: the collection or file name)")
    p.add_argument("--engine", choices=["auto", "ollama", "embedded"], default=None)
    p.add_argument("--model", help="model that writes the questions (default: the engine's default)")
    p.add_argument("--pairs-per-chunk", type=int, default=ds.DatasetOptions.pairs_per_chunk)
    p.add_argument("--new-fraction", type=float, default=ds.DatasetOptions.new_fraction, help="share of documents held out as 'new documents'")
    p.add_argument("--seen-questions", type=int, default=ds.DatasetOptions.seen_questions)
    p.add_argument("--max-chunks", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reword", action="store_true", help="with --import: reword the seen-facts questions with the model")
    p.set_defaults(func=cmd_dataset)

    p = fsub.add_parser("train", help="start a LoRA training job (detached); --wait follows it")
    p.add_argument("--dataset", required=True, help="training set name or JSONL path")
    p.add_argument("--engine", choices=["embedded", "ollama"], default="embedded", help="engine whose base model is trained")
    p.add_argument("--base-gguf", help="base GGUF (default: the engine's model file)")
    p.add_argument("--base-hf-dir", help="a Hugging Face model folder instead of a GGUF")
    p.add_argument("--base-model", default="", help="base model name (Ollama: default DOMAINCHAT_OLLAMA_MODEL)")
    p.add_argument("--variant", default="", help="register the result under this variant name when training ends")
    p.add_argument("--replace", action="store_true", help="replace an existing variant of that name")
    defaults = jobs.TrainConfig(job_id="x", data_dir=".", dataset=".")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--lora-r", type=int, default=defaults.lora_r)
    p.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--rag-fraction", type=float, default=defaults.rag_fraction)
    p.add_argument("--prompt-form", choices=["auto", "completion", "chat"], default=defaults.prompt_form)
    p.add_argument("--device", default=defaults.device)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--cache-dir", default="", help="where GGUF→HF conversions are cached (default: DATA_DIR/finetune/base)")
    p.add_argument("--wait", action="store_true", help="follow the job until it ends (progress on stderr)")
    p.set_defaults(func=cmd_train)

    p = fsub.add_parser("status", help="status of one job, or of all jobs")
    p.add_argument("job_id", nargs="?")
    p.set_defaults(func=cmd_status)

    p = fsub.add_parser("cancel", help="cancel a running job")
    p.add_argument("job_id")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for it to stop")
    p.set_defaults(func=cmd_cancel)

    p = fsub.add_parser("export", help="export a training set as chat-messages JSONL, or a job's adapter GGUF")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", help="training set name")
    what.add_argument("--job", help="job id whose adapter.gguf to copy")
    p.add_argument("--out", required=True, help="file to write")
    p.set_defaults(func=cmd_export)

    p = fsub.add_parser("register", help="register a trained adapter or an existing Ollama model as a variant")
    p.add_argument("--name", required=True)
    p.add_argument("--engine", choices=["embedded", "ollama"], required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--job", help="a finished training job")
    src.add_argument("--adapter", help="a LoRA GGUF (or PEFT folder, for Ollama)")
    src.add_argument("--ollama-model", help="an existing Ollama model to use as the variant as it is")
    p.add_argument("--base-gguf", help="base GGUF (embedded default: the engine's model file)")
    p.add_argument("--base-model", default="", help="base model name")
    p.add_argument("--replace", action="store_true")
    p.set_defaults(func=cmd_register)

    p = fsub.add_parser("variants", help="list variants, or delete one")
    p.add_argument("action", nargs="?", choices=["list", "delete"], default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("--engine", choices=["embedded", "ollama"], default=None)
    p.add_argument("--keep-ollama-model", action="store_true", help="delete only the record, not the model on Ollama")
    p.set_defaults(func=cmd_variants)


def cmd_dataset(svc: Any, ns: argparse.Namespace) -> int:
    """Build, import or list training sets."""
    data_dir = svc.settings.data_dir
    if ns.list:
        _print(ds.list_datasets(data_dir))
        return 0
    options = ds.DatasetOptions(pairs_per_chunk=ns.pairs_per_chunk, new_fraction=ns.new_fraction, seen_questions=ns.seen_questions,
                                max_chunks=ns.max_chunks, seed=ns.seed)
    generate, model = None, ""
    if ns.collection or ns.reword:
        engine = svc.engines.resolve(ns.engine)
        model = ns.model or svc.engines.default_model(engine)
        generate = ds.engine_generator(engine, model, seed=ns.seed)
    if ns.collection:
        svc.store.collection_info(ns.collection)  # CollectionNotFoundError with the fix
        training = ds.build_training_set(svc.store.all_chunks(ns.collection), generate, options, progress=_progress)  # type: ignore[arg-type]
        name, meta = ns.name or ns.collection.lower(), {"origin": "generated", "collection": ns.collection, "generator_model": model}
    else:
        path = Path(ns.import_file)
        if not path.is_file():
            raise FineTuneError(f"Cannot read {path}: check the path.")
        training = ds.split_imported(ds.read_qa_file(path), options, generate=generate, progress=_progress)
        name, meta = ns.name or path.stem.lower(), {"origin": "imported", "file": path.name, "generator_model": model}
    folder = ds.save_training_set(data_dir, name, training, {**meta, "options": asdict(options)})
    _print(json.loads((folder / ds.MANIFEST_FILE).read_text(encoding="utf-8")) | {"path": str(folder)})
    return 0


def cmd_train(svc: Any, ns: argparse.Namespace) -> int:
    """Start a training job (and follow it with --wait)."""
    config = jobs.make_train_config(
        svc.settings, ns.dataset, engine=ns.engine, base_gguf=ns.base_gguf, base_hf_dir=ns.base_hf_dir,
        base_model=ns.base_model, variant_name=ns.variant, replace=ns.replace,
        epochs=ns.epochs, batch_size=ns.batch_size, learning_rate=ns.learning_rate, lora_r=ns.lora_r, lora_alpha=ns.lora_alpha,
        max_steps=ns.max_steps, rag_fraction=ns.rag_fraction, prompt_form=ns.prompt_form, device=ns.device, threads=ns.threads,
        cache_dir=ns.cache_dir,
    )
    job_id = jobs.start_job(config)
    if not ns.wait:
        _print({"job_id": job_id, "status": jobs.job_status(svc.settings.data_dir, job_id)})
        return 0
    last = ""
    while True:
        status = jobs.job_status(svc.settings.data_dir, job_id)
        if status.get("message") != last:
            last = str(status.get("message"))
            print(last, file=sys.stderr)
        if status.get("state") in jobs.TERMINAL_STATES:
            _print(status)
            return 0 if status["state"] == "done" else 1
        time.sleep(1.0)


def cmd_status(svc: Any, ns: argparse.Namespace) -> int:
    """Print one job's status or all jobs."""
    _print(jobs.job_status(svc.settings.data_dir, ns.job_id) if ns.job_id else jobs.list_jobs(svc.settings.data_dir))
    return 0


def cmd_cancel(svc: Any, ns: argparse.Namespace) -> int:
    """Cancel a job."""
    _print(jobs.cancel_job(svc.settings.data_dir, ns.job_id, wait_s=ns.wait))
    return 0


def cmd_export(svc: Any, ns: argparse.Namespace) -> int:
    """Export a training set (messages JSONL) or a job's adapter GGUF."""
    out = Path(ns.out)
    if ns.dataset:
        pairs = ds.load_training_pairs(ds.dataset_dir(svc.settings.data_dir, ns.dataset))
        ds.export_messages(pairs, out)
        _print({"exported": str(out), "pairs": len(pairs), "format": "chat-messages JSONL"})
        return 0
    adapter = jobs.job_dir(svc.settings.data_dir, ns.job) / "adapter.gguf"
    if not adapter.is_file():
        raise FineTuneError(f"Job {ns.job} has no adapter.gguf: it has not finished, or it trained from a model folder, not a GGUF.")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(adapter, out)
    _print({"exported": str(out), "bytes": out.stat().st_size, "format": "llama.cpp LoRA GGUF"})
    return 0


def cmd_register(svc: Any, ns: argparse.Namespace) -> int:
    """Register an adapter (from a job or a file) or an existing Ollama model as a variant."""
    settings = svc.settings
    if ns.ollama_model:
        if ns.engine != "ollama":
            raise FineTuneError("--ollama-model registers an Ollama model: use it with --engine ollama.")
        variant = reg.register_existing_ollama(settings, ns.name, ns.ollama_model, base_model=ns.base_model, replace=ns.replace)
        _print(asdict(variant))
        return 0
    cost: dict[str, Any] = {}
    dataset_name = ""
    base_gguf = Path(ns.base_gguf) if ns.base_gguf else None
    base_model = ns.base_model
    if ns.job:
        status = jobs.job_status(settings.data_dir, ns.job)
        if status.get("state") != "done":
            raise FineTuneError(f"Job {ns.job} is {status.get('state')}: only a finished job's adapter can be registered.")
        config = jobs.TrainConfig.from_file(jobs.job_dir(settings.data_dir, ns.job) / "config.json")
        cost, dataset_name = dict(status.get("cost") or {}), config.dataset_name
        base_gguf = base_gguf or (Path(config.base_gguf) if config.base_gguf else None)
        base_model = base_model or config.base_model
        folder = jobs.job_dir(settings.data_dir, ns.job)
        adapter = folder / "adapter.gguf" if (folder / "adapter.gguf").is_file() else folder / "adapter"
    else:
        adapter = Path(ns.adapter)
    if ns.engine == "embedded":
        if base_gguf is None:
            from core.engines.embedded import EmbeddedEngine

            emb = EmbeddedEngine(settings)
            base_gguf, base_model = emb.gguf_path(), base_model or emb.base_name
        variant = reg.register_embedded(settings.data_dir, ns.name, adapter, base_gguf, base_model or base_gguf.stem,
                                        dataset=dataset_name, cost=cost, replace=ns.replace, details={"job_id": ns.job or ""})
    else:
        variant = reg.register_ollama(settings, ns.name, adapter, base_model or settings.ollama_model, base_gguf=base_gguf,
                                      dataset=dataset_name, cost=cost, replace=ns.replace, details={"job_id": ns.job or ""})
    _print(asdict(variant))
    return 0


def cmd_variants(svc: Any, ns: argparse.Namespace) -> int:
    """List variants or delete one."""
    if ns.action == "delete":
        if not ns.name:
            raise FineTuneError("`finetune variants delete` needs a variant name, e.g. `python -m core finetune variants delete manuals-v1`.")
        _print(reg.delete_variant(svc.settings, ns.name, delete_ollama_model=not ns.keep_ollama_model))
        return 0
    _print(reg.list_variants(svc.settings.data_dir, ns.engine))
    return 0
