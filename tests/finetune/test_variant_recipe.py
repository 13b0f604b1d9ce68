"""Each variant records how it was trained: its recipe (plain, read-passages), pairs × epochs, steps and seconds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.base.files import write_json_atomic
from core.engines.variants import PLAIN, READ_PASSAGES, Variant, VariantRegistry
from core.finetune import jobs
from core.finetune.register import DETAILS_FILE, list_variants, register_from_job
from tests.helpers.trained_variant import TrainedRun

COST = {"wall_s": 118.6, "train_s": 101.2, "pairs": 30, "epochs": 10, "steps": 80, "examples": 30}


def record(data_dir: Path, variant: Variant, details: dict | None = None) -> None:
    """A variant record on disk as an older or newer app left it (no adapter file: listing needs none)."""
    VariantRegistry(data_dir).register(variant)
    if details is not None:
        write_json_atomic(VariantRegistry(data_dir).folder(variant.name) / DETAILS_FILE, details)


def by_name(data_dir: Path) -> dict:
    return {info.name: info for info in list_variants(data_dir)}


def test_a_variant_reads_as_its_recorded_recipe_with_pairs_epochs_and_seconds(tmp_path: Path) -> None:
    record(tmp_path, Variant("samples-ft", "embedded", "gemma", adapter_file="adapter.gguf", cost=COST, recipe=PLAIN))
    info = by_name(tmp_path)["samples-ft"]
    assert info.recipe == PLAIN
    assert info.recipe_line() == "samples-ft: recipe plain, 30 pairs × 10 epochs, 119 s"
    row = info.to_dict()
    assert row["recipe"] == PLAIN and row["training"] == {"pairs": 30, "epochs": 10, "steps": 80, "seconds": 118.6}


def test_variants_recorded_before_recipes_read_as_their_jobs_config_says(tmp_path: Path) -> None:
    old = Variant("old-plain", "embedded", "gemma", adapter_file="adapter.gguf", cost=COST)
    record(tmp_path, old, {"job_id": "ft-1", "config": {"passage_examples": ""}})
    record(
        tmp_path,
        replace(old, name="old-passages"),
        {"job_id": "ft-2", "config": {"passage_examples": "/data/finetune/read_passages/ft-2.jsonl"}},
    )
    record(tmp_path, replace(old, name="no-details", cost={}, note="existing Ollama model"))
    infos = by_name(tmp_path)
    assert (infos["old-plain"].recipe, infos["old-passages"].recipe) == (PLAIN, READ_PASSAGES)
    assert infos["no-details"].recipe == PLAIN
    # trained elsewhere: no figures to give, so the line says what was recorded instead
    assert infos["no-details"].recipe_line() == "no-details: recipe plain, existing Ollama model"


def test_a_variant_registered_from_a_job_records_the_jobs_recipe(trained: TrainedRun, tmp_path: Path) -> None:
    config = jobs.TrainConfig.from_file(trained.job_dir / "config.json")
    passages = tmp_path / "passages.jsonl"  # the job's read-passages examples (registration only names them)
    for name, cfg in (
        ("facts-plain", config),
        ("facts-passages", replace(config, passage_examples=str(passages))),
    ):
        variant = register_from_job(replace(cfg, register={"name": name, "engine": "embedded"}), trained.status.cost)
        assert json.loads((VariantRegistry(trained.data_dir).folder(name) / "variant.json").read_text())["recipe"] == (
            variant.recipe
        )
    infos = by_name(trained.data_dir)
    assert (infos["facts-plain"].recipe, infos["facts-passages"].recipe) == (PLAIN, READ_PASSAGES)
    assert infos["facts-plain"].training["steps"] == trained.status.cost["steps"] > 0
    assert infos["facts-passages"].recipe_line().startswith("facts-passages: recipe read-passages, 4 pairs × 10 epochs")
    for name in ("facts-plain", "facts-passages"):
        VariantRegistry(trained.data_dir).delete(name)


@pytest.mark.parametrize("passages, recipe", [("", PLAIN), ("x.jsonl", READ_PASSAGES)])
def test_a_training_config_names_its_recipe(passages: str, recipe: str) -> None:
    assert jobs.TrainConfig("ft-x", "/data", "set", passage_examples=passages).recipe == recipe
