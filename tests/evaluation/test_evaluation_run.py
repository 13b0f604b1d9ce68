"""A real evaluation run on the embedded engine: all four arms over a sample_docs question set, as a user runs it.

Real Chroma, real MiniLM embeddings, the bundled Gemma 3 270M through llama.cpp, and a real LoRA variant:
the adapter of the session's one training job (tests/helpers/trained_variant.py, four made-up facts), registered
in the run's data directory. The question set is the dishwasher manual's first three questions (file and
page known), two of the trained facts (the "seen facts" split) and one question no document answers. The run
is a background job, as the page starts it; the command line follows it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base.questions import EvalQuestion, read_questions, write_questions
from core.config import Settings
from core.evaluation.runs import EvalConfig
from core.finetune.register import register_embedded
from core.library.service import UploadedFile
from core.services import build_services
from tests.helpers.trained_variant import FACTS, TrainedRun

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
MANUAL_QUESTIONS = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.questions.jsonl"
ARMS = ["base", "rag", "finetuned", "hybrid"]


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory: pytest.TempPathFactory, trained: TrainedRun, base_gguf: Path, embedder) -> Path:  # noqa: ANN001
    """A data dir with the manual indexed in 'samples', the trained variant registered, and the question file."""
    data = tmp_path_factory.mktemp("eval") / "data"
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded")
    svc = build_services(settings, embedder=embedder)
    try:
        (result,) = svc.library.ingest("samples", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
        assert result.status == "indexed"
    finally:
        svc.close()
    register_embedded(
        data,
        "facts-ft",
        Path(trained.status.result["adapter_gguf"]),
        base_gguf,
        "gemma-3-270m (bundled)",
        dataset="facts",
    )
    questions = [
        *(q for q in read_questions(MANUAL_QUESTIONS)[:3]),
        *(EvalQuestion(p.question, p.answer, p.source, p.page, split="seen") for p in FACTS[2:4]),
        EvalQuestion(
            "What is the boiling point of liquid nitrogen on Neptune's moon Triton?", unanswerable=True, split="new"
        ),
    ]
    write_questions(data / "questions.jsonl", questions)
    return data


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data), "DOMAINCHAT_ENGINE": "embedded"}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_all_four_arms_are_answered_scored_saved_and_reloaded(eval_data: Path, embedder) -> None:  # noqa: ANN001
    rows_file = eval_data / "rows-out.jsonl"
    proc = cli(
        eval_data,
        "eval",
        "--collection",
        "samples",
        "--questions",
        str(eval_data / "questions.jsonl"),
        "--modes",
        ",".join(ARMS),
        "--variant",
        "facts-ft",
        "--rows",
        str(rows_file),
        "--label",
        "test run",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["state"] == "done" and out["config"]["engine"] == "embedded" and out["config"]["variant"] == "facts-ft"
    assert "ETA" in proc.stderr  # progress with an estimate went to stderr
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert len(rows) == 6 * 4 and {r["arm"] for r in rows} == set(ARMS)
    assert {r["model"] for r in rows if r["arm"] in ("finetuned", "hybrid")} == {"facts-ft"}
    assert all(r["error"] == "" and r["total_ms"] > 0 for r in rows)

    # the variant learned the made-up facts; the base model cannot know them
    trained_q = {r["arm"]: r for r in rows if r["question"] == FACTS[2].question}
    assert trained_q["finetuned"]["correct"] is True, trained_q["finetuned"]["answer"]
    assert trained_q["base"]["correct"] is False, trained_q["base"]["answer"]

    summary = out["summary"]
    for arm in ARMS:
        assert set(summary["arms"][arm]) == {"all", "unsplit", "seen", "new"}
        assert summary["arms"][arm]["all"]["n"] == 6
        assert summary["arms"][arm]["new"]["unanswerable"] == 1
    # retrieval is scored in the retrieving arms only, on the manual's three questions (file and page known)
    assert summary["arms"]["rag"]["unsplit"]["retrieval_n"] == 3 and summary["arms"]["base"]["all"]["retrieval_n"] == 0
    assert summary["arms"]["rag"]["unsplit"]["hit_k"] >= 2 / 3
    assert set(summary["by_source"]["rag"]) == {MANUAL.name, "quibbleton.pdf", "(no source)"}
    assert summary["arms"]["finetuned"]["seen"]["correct"] > summary["arms"]["base"]["seen"]["correct"]

    listed = json.loads(cli(eval_data, "eval", "--list").stdout)
    assert (
        [r["run_id"] for r in listed] == [out["run_id"]]
        and listed[0]["label"] == "test run"
        and listed[0]["state"] == "done"
    )
    shown = json.loads(cli(eval_data, "eval", "--show", out["run_id"]).stdout)
    assert shown["summary"] == summary

    settings = Settings.from_env(env={}, dotenv=None, data_dir=eval_data, engine="embedded")
    svc = build_services(settings, embedder=embedder)
    try:
        run = svc.evaluation.load_run(out["run_id"])
    finally:
        svc.close()
    assert run.rows == rows and run.config.arms == ARMS
    side = svc.evaluation.side_by_side(run)
    assert len(side) == 6 and all(f"{arm} answer" in side[0] for arm in ARMS)


def test_a_cancelled_run_keeps_its_finished_answers(eval_data: Path, embedder) -> None:  # noqa: ANN001
    settings = Settings.from_env(env={}, dotenv=None, data_dir=eval_data, engine="embedded")
    svc = build_services(settings, embedder=embedder)
    try:
        questions = read_questions(eval_data / "questions.jsonl")
        run_id = svc.evaluation.start(
            EvalConfig(collection="samples", arms=["base", "rag"], engine="embedded", label="cancel me"), questions
        )
        assert svc.evaluation.running() == run_id
        deadline = time.monotonic() + 300
        while svc.evaluation.status(run_id).step < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        status = svc.evaluation.cancel(run_id, wait_s=120)
        assert status.state == "cancelled", status
        run = svc.evaluation.load_run(run_id)
        assert 2 <= len(run.rows) < 12 and len(run.rows) % 2 == 0  # whole questions: both arms answered each
        assert run.summary["complete"] is False and run.summary["arms"]["base"]["all"]["n"] == len(run.rows) // 2
        assert svc.evaluation.running() is None
    finally:
        svc.close()
