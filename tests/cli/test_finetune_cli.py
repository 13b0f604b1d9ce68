"""`python -m core finetune …` as a user runs it: a real process, JSON on stdout, errors on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.finetune_cli import finetune_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def qa_csv(tmp_path: Path) -> Path:
    path = tmp_path / "qa.csv"
    rows = [
        ("What colour is the Zorblax casing?", "Teal", "zorblax.pdf"),
        ("Who invented the Quibbleton valve?", "Marta", "quibbleton.pdf"),
        ("What is the Zorblax warranty?", "Seven years", "zorblax.pdf"),
        ("What pressure does the Quibbleton valve take?", "47 bar", "quibbleton.pdf"),
        ("Where is the Flumox made?", "Oslo", "flumox.pdf"),
    ]
    path.write_text("question,answer,source\n" + "".join(f"{q},{a},{s}\n" for q, a, s in rows))
    return path


def test_import_list_export_and_errors(tmp_path: Path, qa_csv: Path) -> None:
    data = tmp_path / "data"
    made = json.loads(
        finetune_cli(data, "dataset", "--import", str(qa_csv), "--name", "qa", "--new-fraction", "0.34").stdout
    )
    assert made["stats"]["split_by"] == "document" and made["stats"]["train_pairs"] + made["stats"]["eval_new"] == 5
    assert [d["name"] for d in json.loads(finetune_cli(data, "dataset", "--list").stdout)] == ["qa"]
    out = tmp_path / "export" / "qa.jsonl"
    assert (
        json.loads(finetune_cli(data, "export", "--dataset", "qa", "--out", str(out)).stdout)["pairs"]
        == made["stats"]["train_pairs"]
    )
    assert all(set(json.loads(line)) == {"messages"} for line in out.read_text().splitlines())
    assert (
        json.loads(finetune_cli(data, "status").stdout) == []
        and json.loads(finetune_cli(data, "variants").stdout) == []
    )
    bad = finetune_cli(data, "status", "ft-nope", check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("error: No fine-tuning job 'ft-nope'")
    bad = finetune_cli(data, "train", "--dataset", "missing", "--base-gguf", str(qa_csv), check=False)
    assert bad.returncode == 1 and "does not exist" in bad.stderr


@pytest.mark.slow
def test_train_waits_registers_the_variant_and_deletes_it(
    tmp_path: Path, qa_csv: Path, base_gguf: Path, hf_cache: Path
) -> None:
    data = tmp_path / "data"
    finetune_cli(data, "dataset", "--import", str(qa_csv), "--name", "qa", "--new-fraction", "0")
    done = json.loads(
        finetune_cli(
            data,
            "train",
            "--dataset",
            "qa",
            "--base-gguf",
            str(base_gguf),
            "--base-model",
            "gemma-3-270m (bundled)",
            "--variant",
            "cli-v1",
            "--epochs",
            "1",
            "--max-steps",
            "1",
            "--recipe",
            "plain",
            "--cache-dir",
            str(hf_cache),
            "--wait",
        ).stdout
    )
    assert done["state"] == "done" and done["result"]["variant"] == "cli-v1" and done["cost"]["steps"] == 1
    (variant,) = json.loads(finetune_cli(data, "variants").stdout)
    assert (variant["name"], variant["engine"], variant["dataset"], variant["job_id"]) == (
        "cli-v1",
        "embedded",
        "qa",
        done["job_id"],
    )
    assert variant["usable"] and variant["cost"]["pairs"] == 5
    # how it was trained, recorded with the variant by the job that registered it
    assert variant["recipe"] == "plain" and done["recipe"] == "plain"
    assert variant["training"] == {"pairs": 5, "epochs": 1, "steps": 1, "seconds": done["cost"]["wall_s"]}
    out = tmp_path / "adapter.gguf"
    assert (
        json.loads(finetune_cli(data, "export", "--job", done["job_id"], "--out", str(out)).stdout)["bytes"]
        == out.stat().st_size
        > 0
    )
    again = finetune_cli(
        data, "register", "--name", "cli-v1", "--engine", "embedded", "--job", done["job_id"], check=False
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    assert json.loads(finetune_cli(data, "variants", "delete", "cli-v1").stdout)["deleted"] == "cli-v1"
    assert json.loads(finetune_cli(data, "variants").stdout) == []


def test_train_refuses_two_recipes_at_once(tmp_path: Path) -> None:
    proc = finetune_cli(
        tmp_path / "data", "train", "--dataset", "qa", "--recipe", "plain", "--read-passages", check=False
    )
    assert proc.returncode == 1 and "give one of the two" in proc.stderr and proc.stdout == ""
    proc = finetune_cli(
        tmp_path / "data", "train", "--dataset", "qa", "--recipe", "paraphrase", "--read-passages", check=False
    )
    assert proc.returncode == 1 and "--recipe for paraphrase: give one of the two" in proc.stderr


def test_train_accepts_the_paraphrase_recipe_and_refuses_no_rewordings(tmp_path: Path) -> None:
    help_text = finetune_cli(tmp_path / "data", "train", "--help").stdout
    assert "{plain,read-passages,paraphrase}" in help_text and "--rewordings-per-pair" in help_text
    no_rewordings = ("--recipe", "paraphrase", "--rewordings-per-pair", "0")
    proc = finetune_cli(tmp_path / "data", "train", "--dataset", "qa", *no_rewordings, check=False)
    # the recipe is taken (not an argparse choice error); zero rewordings is refused with the fix, before any job
    assert proc.returncode == 1 and "at least one rewording per pair" in proc.stderr
    assert json.loads(finetune_cli(tmp_path / "data", "status").stdout) == []
