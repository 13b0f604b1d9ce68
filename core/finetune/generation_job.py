"""The training-set generation program: `python -m core.finetune.generation_job --config CONFIG.json`.

Writing Q&A pairs with a model takes minutes (a few seconds per chunk), so it runs as a background
job (`core.base.jobs`): the page starts it and polls it, and clicking elsewhere does not stop it.
The config carries everything the job needs: the chunks (read by the starter, which holds the vector
store) or the imported pairs to reword, the options, the engine choice and the settings.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Mapping

from core.base.chunks import Chunk
from core.base.jobs import JobContext, JobKind, run_job_main
from core.config import Settings
from core.engines.base import concurrency
from core.engines.resolver import Engines
from core.finetune.dataset import DatasetOptions, QAPair, save_training_set
from core.finetune.generation import build_training_set, engine_generator
from core.finetune.qa_import import split_imported

GENERATION = JobKind(
    name="training-set",
    module="core.finetune.generation_job",
    root="finetune/generation",
    prefix="ts",
    what="training-set generation",
    heavy=True,
    cancel_hint="`python -m core finetune cancel {job_id}`",
    cancelled_message="Cancelled: no training set was saved.",
)


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """The settings as JSON values, so the job runs with exactly the starter's configuration."""
    return {f.name: (str(v) if isinstance(v := getattr(settings, f.name), Path) else v) for f in fields(Settings)}


def generation_config(
    settings: Settings,
    name: str,
    options: DatasetOptions,
    *,
    engine: str,
    model: str,
    meta: Mapping[str, Any],
    chunks: list[Chunk] | None = None,
    pairs: list[QAPair] | None = None,
) -> dict[str, Any]:
    """The config.json of a generation job: from `chunks` (generate) or `pairs` (import, reworded by the model)."""
    return {
        "name": name,
        "options": asdict(options),
        "engine": engine,
        "model": model,
        "meta": dict(meta),
        "settings": settings_to_json(settings),
        "chunks": [asdict(c) for c in chunks or []],
        "pairs": [asdict(p) for p in pairs or []],
    }


def work(config_path: Path, ctx: JobContext) -> dict[str, Any]:
    """Generate (or reword) the pairs, save the training set, report its counts."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    settings = Settings(**config["settings"])
    engines = Engines(settings)
    engine = engines.resolve(config["engine"])
    model = config["model"] or engines.default_model(engine)
    generate = engine_generator(engine, model, seed=int(config["options"].get("seed", 0)))
    options = DatasetOptions(**config["options"])

    def progress(done: int, total: int, message: str) -> None:
        ctx.check_cancelled()
        ctx.progress(done, total, f"{message} ({done}/{total})")

    ctx.status.update(phase="generating", message=f"Writing questions with {model} on {engine.name}")
    if config["pairs"]:
        built = split_imported([QAPair(**p) for p in config["pairs"]], options, generate=generate, progress=progress)
    else:
        # `progress` checks for a cancel before each chunk, so a cancelled job ends as cancelled, not failed
        chunks = [Chunk(**c) for c in config["chunks"]]
        built = build_training_set(chunks, generate, options, progress=progress, workers=concurrency(engine))
    ctx.check_cancelled()
    meta = {**config["meta"], "engine": engine.name, "generator_model": model, "options": config["options"]}
    folder = save_training_set(settings.data_dir, config["name"], built, meta)
    stats = built.stats
    return {
        "result": {"training_set": config["name"], "path": str(folder), "stats": asdict(stats)},
        "message": f"Saved {config['name']}: {stats.train_pairs} training pairs, {stats.halves_summary()} "
        f"({stats.malformed_outputs} malformed replies).",
    }


if __name__ == "__main__":
    sys.exit(run_job_main(GENERATION, work))
