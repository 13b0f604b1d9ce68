"""Training sets exported for GPU training tools (messages JSONL, Alpaca, ShareGPT), read back with `datasets`.

`datasets` (Hugging Face) is the loader Axolotl, LLaMA-Factory, Unsloth and TRL all read these files with, so
reading each export with it checks what those tools will see. The bundled Gemma 3 270M GGUF carries no chat
template (it is a base model), so no record is rendered with its tokenizer here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from datasets import load_dataset

from core.config import Settings
from core.errors import FineTuneError
from core.finetune import dataset as ds
from core.finetune.dataset import EXPORT_METADATA, EXPORT_README, QAPair, alpaca_record
from core.finetune.passages import build_passage_examples
from core.index.embeddings import SentenceTransformerEmbedder
from core.library.service import UploadedFile
from core.services import Services, build_services
from tests.finetune import test_read_passages as rp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    """Services on a temp data dir holding the sample Q&A as training set `samples` (no model is loaded)."""
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded")
    services = build_services(settings)
    services.finetune.import_samples("samples")
    yield services
    services.close()


def _read(path: Path) -> list[dict[str, Any]]:
    return [dict(row) for row in load_dataset("json", data_files=str(path), split="train")]


def test_each_format_reads_back_as_the_training_pairs(svc: Services, tmp_path: Path) -> None:
    pairs = svc.finetune.training_pairs("samples")
    expected = [(p.question, p.answer) for p in pairs]
    for fmt in ("messages", "alpaca", "sharegpt"):
        out = tmp_path / fmt
        export = svc.finetune.export_for_training("samples", out, fmt, base_model="google/gemma-3-270m")
        assert export.examples == len(pairs) and export.path.parent == out
        rows = _read(export.path)
        if fmt == "messages":
            assert export.path.name == "train.jsonl"
            assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows)
            got = [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in rows]
        elif fmt == "alpaca":
            # the documented Alpaca shape: instruction, input, output
            assert all(set(r) == {"instruction", "input", "output"} and r["input"] == "" for r in rows)
            got = [(r["instruction"], r["output"]) for r in rows]
        else:
            assert all([t["from"] for t in r["conversations"]] == ["human", "gpt"] for r in rows)
            got = [(r["conversations"][0]["value"], r["conversations"][1]["value"]) for r in rows]
        assert got == expected, fmt
        meta = json.loads((out / EXPORT_METADATA).read_text(encoding="utf-8"))
        assert meta["format"] == fmt and meta["base_model"] == "google/gemma-3-270m" and meta["examples"] == len(pairs)
        readme = (out / EXPORT_README).read_text(encoding="utf-8")
        assert "`google/gemma-3-270m`" in readme and "chat template: the base model's own" in readme


def test_the_download_is_the_exported_file(svc: Services, tmp_path: Path) -> None:
    for fmt in ("messages", "alpaca", "sharegpt"):
        export = svc.finetune.export_for_training("samples", tmp_path / fmt, fmt, chat_template="gemma3")
        assert json.loads((tmp_path / fmt / EXPORT_METADATA).read_text())["chat_template"] == "gemma3"
        assert export.base_model == svc.settings.ollama_model  # the default names the base model in use
        text = svc.finetune.export_text("samples", fmt)
        assert text.strip() == export.path.read_text(encoding="utf-8").strip()
    # the messages download is the same chat-messages JSONL the page always offered
    assert svc.finetune.export_text("samples", "messages") == svc.finetune.messages_jsonl("samples")


def test_a_system_turn_stays_in_alpaca_and_sharegpt_and_bad_requests_are_refused(svc: Services, tmp_path: Path) -> None:
    conversation = [
        {"role": "system", "content": "Answer from the passages."},
        *QAPair("Q?", "A.").messages_record()["messages"],
    ]
    assert alpaca_record(conversation) == {
        "instruction": "Q?",
        "input": "",
        "output": "A.",
        "system": "Answer from the passages.",
    }
    with pytest.raises(FineTuneError, match="several turns"):
        alpaca_record(conversation + conversation[1:])
    with pytest.raises(FineTuneError, match="Unknown export format 'csv'"):
        svc.finetune.export_for_training("samples", tmp_path / "x", "csv")
    with pytest.raises(FineTuneError, match="needs the collection"):
        svc.finetune.export_for_training("samples", tmp_path / "x", "sharegpt", read_passages=True)
    assert not (tmp_path / "x").exists()


def test_cli_export_with_a_format_writes_the_folder(svc: Services, tmp_path: Path) -> None:
    svc.close()  # the command opens the same data directory, which one process holds at a time
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(svc.settings.data_dir), "DOMAINCHAT_ENGINE": "embedded"}
    out = tmp_path / "for-axolotl"
    args = ["export", "--dataset", "samples", "--format", "alpaca", "--out", str(out), "--base-model", "org/base"]
    proc = subprocess.run(
        [sys.executable, "-m", "core", "finetune", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["path"] == str(out / "train.json") and printed["format"] == "alpaca"
    assert printed["base_model"] == "org/base" and printed["examples"] == len(_read(out / "train.json"))
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "metadata.json", "train.json"]


def test_the_read_passages_form_exports_the_prompts_a_job_here_trains_on(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    # the two small documents and their pairs the read-passages tests use
    settings = Settings.from_env(
        env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded", chunk_size=160, chunk_overlap=0
    )
    services = build_services(settings, embedder=embedder)
    try:
        services.library.ingest(
            "gadgets",
            [UploadedFile("zorblax.txt", rp.ZORBLAX.encode()), UploadedFile("quibbleton.txt", rp.QUIBBLETON.encode())],
        )
        ds.save_training_set(settings.data_dir, "gadgets", ds.TrainingSet(rp.PAIRS, [], [], ds.DatasetStats()))
        export = services.finetune.export_for_training(
            "gadgets", tmp_path / "rp", "sharegpt", read_passages=True, collection="gadgets"
        )
        examples, counts = build_passage_examples(
            services.finetune.training_pairs("gadgets"),
            services.retriever,
            "gadgets",
            top_k=settings.top_k,
            method=settings.retrieval,
        )
    finally:
        services.close()
    assert export.examples == len(examples) == counts.passages + counts.distractors and counts.distractors > 0
    rows = _read(export.path)
    roles = {"system": "system", "user": "human", "assistant": "gpt"}
    for row, e in zip(rows, examples):
        expected = [*e.messages, {"role": "assistant", "content": e.answer}]
        assert row["conversations"] == [{"from": roles[m["role"]], "value": m["content"]} for m in expected]
    assert "read passages from 'gadgets'" in (tmp_path / "rp" / EXPORT_README).read_text(encoding="utf-8")
