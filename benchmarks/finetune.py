"""Benchmark: fine-tune the bundled Gemma 3 270M on the sample question sets and compare answers.

Run: `.venv/bin/python -m benchmarks.finetune [--data-dir DIR] [--epochs N]`. Imports the 45 sample
Q&A pairs (split by source before training), trains a LoRA variant with the default settings as a
real job, then asks the base model and the variant the same questions. Prints the training cost and
how many answers contain the reference, for trained questions and for held-out ones.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from benchmarks.common import SAMPLES
from core.chat.prompts import COMPLETION_STOPS, plain_prompt
from core.config import Settings
from core.engines.base import GenerationRequest
from core.engines.embedded import EmbeddedEngine
from core.finetune import dataset as ds
from core.finetune import jobs
from core.finetune.qa_import import read_qa_file, split_imported
from core.services import build_services


def sample_training_set() -> ds.TrainingSet:
    """The 45 sample Q&A pairs imported with the default split: by source, one document held out as new."""
    pairs = [p for f in sorted(SAMPLES.glob("*.questions.jsonl")) for p in read_qa_file(f)]
    return split_imported(pairs, ds.DatasetOptions(new_fraction=0.2))


def answer(engine: EmbeddedEngine, model: str, question: str) -> str:
    """The model's answer to a question alone (the `base` / `finetuned` prompt), greedy."""
    return "".join(engine.generate(GenerationRequest(model, plain_prompt(question), COMPLETION_STOPS, 0.0, 64))).strip()


def contains(reference: str, text: str) -> bool:
    """Whether the answer contains the reference, ignoring case and spacing."""
    return " ".join(reference.lower().split()) in " ".join(text.lower().split())


def main() -> None:
    """Train, then print cost, accuracy and two before/after examples."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="keep everything here (default: a temporary directory)")
    parser.add_argument("--epochs", type=int, default=None)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(ns.data_dir or tmp)
        settings = Settings.from_env(env={}, dotenv=None, data_dir=data_dir, engine="embedded")
        built = sample_training_set()
        ds.save_training_set(data_dir, "samples", built, {"imported_from": "sample_docs/*.questions.jsonl"})
        extra = {"epochs": ns.epochs} if ns.epochs else {}
        print(
            f"machine: {platform.machine()}, Python {platform.python_version()}, 2 cores; dataset: {len(built.train)} "
            f"training pairs, {len(built.eval_new)} held out (new documents: "
            f"{', '.join(built.stats.docs_new) or 'by pair'})"
        )
        svc = build_services(settings)
        job = svc.finetune.start_training(
            "samples", engine="embedded", variant_name="samples-ft", replace=True, **extra
        )
        status = jobs.wait_job(data_dir, job, timeout_s=3600, poll_s=2)
        svc.close()
        if status.state != "done":
            raise SystemExit(f"training {status.state}: {status.message}")
        cost = status.cost
        print(
            f"training: {cost['steps']} steps × batch {cost['batch_size']} ({cost['examples']} examples × "
            f"{cost['epochs']} epochs) in {cost['train_s']} s = {cost['s_per_step']} s/step; whole job "
            f"{cost['wall_s']} s (load {cost['load_s']} s); peak {cost['peak_rss_mb']} MB; loss {cost['first_loss']} → "
            f"{cost['final_loss']}"
        )
        engine = EmbeddedEngine(settings)
        base = engine.default_model
        for label, subset in (("trained questions", built.train), ("held-out questions", built.eval_new)):
            before = sum(contains(p.answer, answer(engine, base, p.question)) for p in subset)
            after = sum(contains(p.answer, answer(engine, "samples-ft", p.question)) for p in subset)
            print(f"{label}: base {before}/{len(subset)}, fine-tuned {after}/{len(subset)} contain the reference")
        manual = [p for p in built.train if p.source.startswith("aquaflow")][:2]
        for p in manual:
            print(
                f"\nQ: {p.question}\n   reference:  {p.answer}\n   base:       {answer(engine, base, p.question)}\n"
                f"   fine-tuned: {answer(engine, 'samples-ft', p.question)}"
            )


if __name__ == "__main__":
    main()
