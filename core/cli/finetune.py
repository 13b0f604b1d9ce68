"""`python -m core finetune …`: training sets, training jobs, variants. JSON on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

from core.base.jobs import JobStatus
from core.cli.util import SubParsers, print_json
from core.config import ENGINE_CHOICES
from core.engines.variants import PARAPHRASE, PLAIN, READ_PASSAGES
from core.errors import FineTuneError
from core.finetune.dataset import EXPORT_FORMATS, DatasetOptions
from core.finetune.jobs import RECIPES, REGISTER_ENGINES, VARIANT_ENGINES, serve_commands
from core.finetune.paraphrase import REWORDINGS_PER_PAIR
from core.finetune.passages import DISTRACTOR_FRACTION
from core.finetune.register import register_served
from core.finetune.service import TRAINING_DEFAULTS
from core.services import Services


def add_finetune_commands(sub: SubParsers) -> None:
    """Register `finetune dataset|train|status|cancel|export|register|variants` under `python -m core`."""
    ft = sub.add_parser("finetune", help="build training sets, train LoRA variants, manage variants")
    fsub = ft.add_subparsers(dest="finetune_command", required=True)

    p = fsub.add_parser("dataset", help="build a training set from a collection, import Q&A, or list training sets")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--collection", help="generate Q&A pairs from this collection's chunks with the engine's model")
    src.add_argument("--import", dest="import_file", help="CSV or JSONL with question, answer (source, page optional)")
    src.add_argument("--list", action="store_true", help="list the saved training sets")
    p.add_argument("--name", help="name of the training set (default: the collection or file name)")
    p.add_argument("--engine", choices=list(ENGINE_CHOICES), default=None)
    p.add_argument("--model", help="model that writes the questions (default: the engine's default)")
    p.add_argument("--pairs-per-chunk", type=int, default=DatasetOptions.pairs_per_chunk)
    p.add_argument(
        "--new-fraction",
        type=float,
        default=DatasetOptions.new_fraction,
        help="share of documents held out as 'new documents'",
    )
    p.add_argument("--seen-questions", type=int, default=DatasetOptions.seen_questions)
    p.add_argument("--max-chunks", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--reword", action="store_true", help="with --import: reword the seen-facts questions with the model"
    )
    p.add_argument(
        "--no-wait", action="store_true", help="start the generation job and print its id instead of following it"
    )
    p.set_defaults(func=cmd_dataset)

    p = fsub.add_parser("train", help="start a LoRA training job (detached); --wait follows it")
    p.add_argument("--dataset", required=True, help="training set name or JSONL path")
    p.add_argument(
        "--engine", choices=list(VARIANT_ENGINES), default="embedded", help="engine whose base model is trained"
    )
    p.add_argument("--base-gguf", help="base GGUF (default: the engine's model file)")
    p.add_argument("--base-hf-dir", help="a Hugging Face model folder instead of a GGUF")
    p.add_argument("--base-model", default="", help="base model name (Ollama: default DOMAINCHAT_OLLAMA_MODEL)")
    p.add_argument("--variant", default="", help="register the result under this variant name when training ends")
    p.add_argument("--replace", action="store_true", help="replace an existing variant of that name")
    defaults = TRAINING_DEFAULTS
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--lora-r", type=int, default=defaults.lora_r)
    p.add_argument("--lora-alpha", type=int, default=None, help="default: 2 × the LoRA rank")
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--rag-fraction", type=float, default=defaults.rag_fraction)
    p.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default=None,
        help=f"how to train (recorded with the variant): {PLAIN} = question → answer (default); {READ_PASSAGES} = "
        "also each pair in the prompt hybrid mode sends: its passages retrieved from --collection, plus distractors; "
        f"{PARAPHRASE} = also each pair under rewordings of its question, same answer (by the engine's instruction "
        "model, else rule-based; never a question of the evaluation's reworded half)",
    )
    p.add_argument("--read-passages", action="store_true", help=f"the same as --recipe {READ_PASSAGES}")
    p.add_argument(
        "--collection", default="", help=f"with --recipe {READ_PASSAGES}: the collection the pairs are about"
    )
    p.add_argument(
        "--distractor-fraction",
        type=float,
        default=DISTRACTOR_FRACTION,
        help=f"with --recipe {READ_PASSAGES}: share of pairs also shown another question's passages, "
        "answered 'not in the documents'",
    )
    p.add_argument(
        "--rewordings-per-pair",
        type=int,
        default=REWORDINGS_PER_PAIR,
        help=f"with --recipe {PARAPHRASE}: rewordings of each question trained beside it (each one more example)",
    )
    p.add_argument("--prompt-form", choices=["auto", "completion", "chat"], default=defaults.prompt_form)
    p.add_argument("--device", default=defaults.device)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument(
        "--cache-dir", default="", help="where GGUF→HF conversions are cached (default: DATA_DIR/finetune/base)"
    )
    p.add_argument("--wait", action="store_true", help="follow the job until it ends (progress on stderr)")
    p.set_defaults(func=cmd_train)

    p = fsub.add_parser("status", help="status of one job (training or training-set generation), or of all jobs")
    p.add_argument("job_id", nargs="?")
    p.set_defaults(func=cmd_status)

    p = fsub.add_parser("cancel", help="cancel a running job")
    p.add_argument("job_id")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for it to stop")
    p.set_defaults(func=cmd_cancel)

    p = fsub.add_parser(
        "export", help="export a training set for GPU training tools (messages, alpaca, sharegpt), or a job's adapter"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", help="training set name")
    what.add_argument("--job", help="job id whose adapter.gguf to copy")
    p.add_argument(
        "--out", required=True, help="file to write; with --format, the folder for the data, README.md, metadata.json"
    )
    p.add_argument("--format", choices=EXPORT_FORMATS, help="the format a GPU training tool reads")
    p.add_argument("--base-model", default="", help="base model to name in the README (default: the Ollama model)")
    p.add_argument("--chat-template", default="", help="chat template to name (default: the base model's own)")
    p.add_argument(
        "--read-passages", action="store_true", help="export the prompt form hybrid mode sends, with passages"
    )
    p.add_argument("--collection", default="", help="collection the passages come from (with --read-passages)")
    p.set_defaults(func=cmd_export)

    p = fsub.add_parser(
        "register", help="register a trained adapter, an existing Ollama model or a served model as a variant"
    )
    p.add_argument("--name", required=True)
    p.add_argument("--engine", choices=list(REGISTER_ENGINES), required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--job", help="a finished training job")
    src.add_argument("--adapter", help="a LoRA GGUF (or PEFT folder, for Ollama)")
    src.add_argument("--ollama-model", help="an existing Ollama model to use as the variant as it is")
    src.add_argument(
        "--served-model",
        help="with --engine openai: a model name the OpenAI-compatible server serves (its /v1/models lists it), "
        "e.g. a LoRA module served with vLLM --lora-modules NAME=PATH",
    )
    p.add_argument("--base-gguf", help="base GGUF (embedded default: the engine's model file)")
    p.add_argument("--base-model", default="", help="base model name")
    p.add_argument("--replace", action="store_true")
    p.set_defaults(func=cmd_register)

    p = fsub.add_parser("variants", help="list variants, or delete one")
    p.add_argument("action", nargs="?", choices=["list", "delete"], default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("--engine", choices=list(REGISTER_ENGINES), default=None)
    p.add_argument("--keep-ollama-model", action="store_true", help="delete only the record, not the model on Ollama")
    p.set_defaults(func=cmd_variants)


def _follow(svc: Services, job_id: str) -> JobStatus:
    """Print a job's progress messages on stderr until it ends; its last status."""
    last = ""
    while True:
        status = svc.finetune.job_status(job_id)
        if status.message != last:
            last = status.message
            print(last, file=sys.stderr)
        if status.terminal:
            return status
        time.sleep(1.0)


def cmd_dataset(svc: Services, ns: argparse.Namespace) -> int:
    """Build (as a job), import or list training sets."""
    ft = svc.finetune
    if ns.list:
        print_json([t.to_dict() for t in ft.training_sets()])
        return 0
    options = DatasetOptions(
        pairs_per_chunk=ns.pairs_per_chunk,
        new_fraction=ns.new_fraction,
        seen_questions=ns.seen_questions,
        max_chunks=ns.max_chunks,
        seed=ns.seed,
    )
    if ns.collection:
        job_id = ft.start_generation(
            ns.collection, ns.name or ns.collection.lower(), options, engine=ns.engine, model=ns.model or ""
        )
    else:
        path = Path(ns.import_file)
        if not path.is_file():
            raise FineTuneError(f"Cannot read {path}: check the path.")
        name = ns.name or path.stem.lower()
        if not ns.reword:
            print_json(ft.import_training_set(name, path, options=options).to_dict())
            return 0
        job_id = ft.start_reworded_import(name, path, options=options, engine=ns.engine, model=ns.model or "")
    if ns.no_wait:
        print_json({"job_id": job_id, "status": ft.job_status(job_id).to_dict()})
        return 0
    status = _follow(svc, job_id)
    if status.state != "done":
        raise FineTuneError(status.message)
    print_json(ft.training_set(status.result["training_set"]).to_dict())
    return 0


def cmd_train(svc: Services, ns: argparse.Namespace) -> int:
    """Start a training job (and follow it with --wait)."""
    job_id = svc.finetune.start_training(
        ns.dataset,
        engine=ns.engine,
        base_gguf=ns.base_gguf,
        base_hf_dir=ns.base_hf_dir,
        base_model=ns.base_model,
        variant_name=ns.variant,
        replace=ns.replace,
        epochs=ns.epochs,
        batch_size=ns.batch_size,
        learning_rate=ns.learning_rate,
        lora_r=ns.lora_r,
        lora_alpha=ns.lora_alpha,
        max_steps=ns.max_steps,
        rag_fraction=ns.rag_fraction,
        prompt_form=ns.prompt_form,
        device=ns.device,
        threads=ns.threads,
        cache_dir=ns.cache_dir,
        recipe=_recipe(ns),
        collection=ns.collection,
        distractor_fraction=ns.distractor_fraction,
        rewordings_per_pair=ns.rewordings_per_pair,
    )
    if not ns.wait:
        print_json({"job_id": job_id, "status": svc.finetune.job_status(job_id).to_dict()})
        return 0
    status = _follow(svc, job_id)
    serve = serve_commands(status) if status.state == "done" else {}
    for server, command in serve.items():
        # the adapter on an OpenAI-compatible server: the exact commands, on stderr beside the progress
        print(f"{'then' if server == 'register' else 'serve on ' + server}: {command}", file=sys.stderr)
    print_json({**status.to_dict(), **({"serve_commands": serve} if serve else {})})
    return 0 if status.state == "done" else 1


def _recipe(ns: argparse.Namespace) -> str:
    """The recipe the train command asks for (--recipe, or the older --read-passages); plain when neither."""
    if ns.read_passages and ns.recipe not in (None, READ_PASSAGES):
        raise FineTuneError(
            f"--read-passages asks for the {READ_PASSAGES} recipe and --recipe for {ns.recipe}: give one of the two."
        )
    return READ_PASSAGES if ns.read_passages else ns.recipe or PLAIN


def cmd_status(svc: Services, ns: argparse.Namespace) -> int:
    """Print one job's status or every job's."""
    if ns.job_id:
        print_json(svc.finetune.job_status(ns.job_id).to_dict())
        return 0
    every: list[JobStatus] = [*svc.finetune.training_jobs(), *svc.finetune.generation_jobs()]
    print_json([s.to_dict() for s in sorted(every, key=lambda s: s.created, reverse=True)])
    return 0


def cmd_cancel(svc: Services, ns: argparse.Namespace) -> int:
    """Cancel a job."""
    print_json(svc.finetune.cancel(ns.job_id, wait_s=ns.wait).to_dict())
    return 0


def cmd_export(svc: Services, ns: argparse.Namespace) -> int:
    """Export a training set (messages JSONL, or a GPU tool's format with a README) or a job's adapter GGUF."""
    out = Path(ns.out)
    if ns.dataset and ns.format:
        export = svc.finetune.export_for_training(
            ns.dataset,
            out,
            ns.format,
            base_model=ns.base_model,
            chat_template=ns.chat_template,
            read_passages=ns.read_passages,
            collection=ns.collection,
        )
        print_json(export.to_dict())
        return 0
    if ns.dataset:
        # without --format, --out stays the single chat-messages file it always was
        pairs = svc.finetune.export_training_set(ns.dataset, out)
        print_json({"exported": str(out), "pairs": pairs, "format": "chat-messages JSONL"})
        return 0
    size = svc.finetune.export_adapter(ns.job, out)
    print_json({"exported": str(out), "bytes": size, "format": "llama.cpp LoRA GGUF"})
    return 0


def cmd_register(svc: Services, ns: argparse.Namespace) -> int:
    """Register an adapter (from a job or a file) or an existing Ollama model as a variant."""
    ft = svc.finetune
    if ns.served_model or ns.engine == "openai":
        if ns.engine != "openai" or not ns.served_model:
            raise FineTuneError(
                "A variant on an OpenAI-compatible server is a model it serves: use --engine openai with "
                "--served-model NAME (the name its /v1/models lists)."
            )
        variant = register_served(
            svc.settings,
            ns.name,
            ns.served_model,
            base_model=ns.base_model,
            replace=ns.replace,
            engine=svc.engines.openai,
        )
    elif ns.ollama_model:
        if ns.engine != "ollama":
            raise FineTuneError("--ollama-model registers an Ollama model: use it with --engine ollama.")
        variant = ft.register_existing_ollama(ns.name, ns.ollama_model, base_model=ns.base_model, replace=ns.replace)
    elif ns.job:
        variant = ft.register_job(ns.job, ns.name, ns.engine, replace=ns.replace, base_model=ns.base_model)
    else:
        variant = ft.register_adapter(
            ns.name,
            ns.engine,
            Path(ns.adapter),
            base_gguf=Path(ns.base_gguf) if ns.base_gguf else None,
            base_model=ns.base_model,
            replace=ns.replace,
        )
    print_json(asdict(variant))
    return 0


def cmd_variants(svc: Services, ns: argparse.Namespace) -> int:
    """List variants or delete one."""
    if ns.action == "delete":
        if not ns.name:
            raise FineTuneError(
                "`finetune variants delete` needs a variant name, "
                "e.g. `python -m core finetune variants delete manuals-v1`."
            )
        print_json(asdict(svc.finetune.delete_variant(ns.name, delete_ollama_model=not ns.keep_ollama_model)))
        return 0
    print_json([v.to_dict() for v in svc.finetune.variants(ns.engine)])
    return 0
