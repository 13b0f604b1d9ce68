"""Benchmark (goal 5): fine-tuning speed on the sample training set, against the bare forward+backward.

Run: `.venv/bin/python -m benchmarks.finetune_steps [--steps 24] [--warmup 3]`.

In one process, on the bundled Gemma 3 270M and the sample Q&A (imported as `benchmarks.finetune` does):
- the GGUF→HF conversion of the base, uncached (into a temporary cache), then the load from that cache;
- the training step exactly as a job runs it (`core.finetune.train.training_step`: answer-token loss,
  backward, clipping, AdamW, schedule) over the job's own batches after a warm-up: s/step and examples/s;
- on the same batches, the bare forward+backward of that loss (no clipping, no optimiser), and for
  reference the plain `model(**batch)` forward+backward whose loss projects every position onto the
  262k-entry vocabulary, and the bare pass on one torch thread instead of the job's two (on a busy
  machine two threads spin-wait on each other);
- the conversion's share of a whole first job on this set: conversion ÷ (conversion + default steps × s/step).
The four timings take turns batch by batch (rotating which goes first), so a change in machine load
hits all four alike. `--tiny` reuses the conversion cache the fine-tune tests share (no conversion
when it is there) and times one batch: it proves the command runs, its figures mean nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import Row, machine, median, shared_conversion_cache, table

GOAL = "5 fine-tuning"


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(tiny: bool = False, steps: int = 24, warmup: int = 3) -> list[Row]:
    """Conversion, cached load, step vs bare forward+backward over `steps` batches after `warmup` (`tiny`: one, no
    warm-up, cache reused)."""
    import peft  # noqa: F401
    import torch
    import transformers  # noqa: F401  (imported before any timing: a process pays it once, whatever comes first)

    from benchmarks.finetune import sample_training_set
    from core.engines.bundled import bundled_gguf_path
    from core.finetune.hfmodel import BaseSource, convert_gguf, is_converted, load_base
    from core.finetune.jobs import TrainConfig
    from core.finetune.train import (
        answer_loss,
        collate,
        epoch_batches,
        prepare_torch,
        total_steps,
        training_examples,
        training_step,
        with_lora,
    )

    if tiny:
        steps, warmup = 1, 0
    gguf = bundled_gguf_path()
    with tempfile.TemporaryDirectory() as tmp:
        cache = (shared_conversion_cache() or Path(tmp)) if tiny else Path(tmp) / "base"
        config = TrainConfig(job_id="bench", data_dir=tmp, dataset="", base_gguf=str(gguf))  # every training default
        device = prepare_torch(config)
        cached = is_converted(gguf, cache)
        conversion_s = _timed(lambda: convert_gguf(gguf, cache))
        started = time.perf_counter()
        model, tokenizer = load_base(BaseSource(gguf=gguf), cache, device)
        load_s = time.perf_counter() - started

        pairs = sample_training_set().train
        _, examples, _ = training_examples(config, pairs, tokenizer)
        default_steps = total_steps(config, len(examples))
        lora = with_lora(model, config, default_steps)
        order = [indices for _, indices in epoch_batches(len(examples), config)][: warmup + steps]
        batches = [collate([examples[i] for i in indices], tokenizer.pad_token_id, device) for indices in order]

        def bare(batch: dict[str, Any]) -> None:
            answer_loss(lora.model, batch).backward()

        def full_vocabulary(batch: dict[str, Any]) -> None:
            lora.model(**batch).loss.backward()

        def bare_one_thread(batch: dict[str, Any]) -> None:
            torch.set_num_threads(1)
            try:
                bare(batch)
            finally:
                torch.set_num_threads(config.threads)

        kinds: dict[str, Callable[[dict[str, Any]], Any]] = {
            "step": lambda batch: training_step(lora, batch),
            "bare": bare,
            "full": full_vocabulary,
            "bare1": bare_one_thread,
        }
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for n, batch in enumerate(batches):
            names = list(kinds)
            for name in names[n % len(names) :] + names[: n % len(names)]:
                seconds = _timed(lambda: kinds[name](batch))
                lora.model.zero_grad(
                    set_to_none=True
                )  # gradients of a bare pass must not reach the next optimiser step
                if n >= warmup:
                    times[name].append(seconds)
    timed = batches[warmup:]
    examples_timed = sum(int(b["input_ids"].shape[0]) for b in timed)
    step_s, bare_s, full_s, bare1_s = (sum(times[k]) / len(timed) for k in ("step", "bare", "full", "bare1"))
    per_batch = median([s / b for s, b in zip(times["step"], times["bare"])])
    share = conversion_s / (conversion_s + default_steps * step_s)
    return [
        Row(
            GOAL,
            f"GGUF→HF conversion of the bundled base ({'found in the cache: not timed' if cached else 'uncached'})",
            conversion_s,
            "s",
            f"{conversion_s / load_s:.0f} × the cached load",
        ),
        Row(GOAL, "load from the conversion cache", load_s, "s"),
        Row(
            GOAL,
            f"training step, batch {config.batch_size} ({len(timed)} steps after {warmup} warm-up)",
            step_s,
            "s/step",
            f"{len(pairs)} sample pairs → {len(examples)} examples",
        ),
        Row(GOAL, "training throughput", examples_timed / sum(times["step"]), "examples/s"),
        Row(
            GOAL,
            "bare forward+backward, answer-token loss (same batches)",
            bare_s,
            "s/batch",
            f"step = {step_s / bare_s:.2f} × bare (median per batch {per_batch:.2f})",
        ),
        Row(
            GOAL,
            "forward+backward with model(labels=…), full-vocabulary loss",
            full_s,
            "s/batch",
            f"{full_s / bare_s:.2f} × the answer-token bare pass",
        ),
        Row(
            GOAL,
            f"bare forward+backward on 1 torch thread (jobs use {config.threads})",
            bare1_s,
            "s/batch",
            f"{config.threads} threads take {bare_s / bare1_s:.2f} × as long (median per batch "
            f"{median([t / o for t, o in zip(times['bare'], times['bare1'])]):.2f})",
        ),
        Row(
            GOAL,
            f"conversion's share of a first job ({default_steps} default steps)",
            100 * share,
            "%",
            f"{conversion_s:.1f} s ÷ ({conversion_s:.1f} s + {default_steps} × {step_s:.2f} s)",
        ),
    ]


def main() -> None:
    """Print the fine-tuning speed table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24, help="timed batches (24 = three epochs of the sample set)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches first")
    parser.add_argument("--tiny", action="store_true")
    ns = parser.parse_args()
    print(machine())
    print(table(run(ns.tiny, ns.steps, ns.warmup)))


if __name__ == "__main__":
    main()
