"""The same small grid on the embedded engine and through an OpenAI-compatible server gives the same answers.

Both engines run the same GGUF (the bundled Gemma 3 270M) with the same trained LoRA adapter as the variant: the
embedded engine in this process, llama-cpp-python's server (tests/helpers/openai_server.py) as two model names. At
temperature 0 with the same completion prompt, every arm's answer, its refusal and flags, its passages and its
scores must be the same; only the engine and model names and the times differ. The test prints the wall time of
each grid (the README's figure).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.base.questions import EvalQuestion, read_questions
from core.config import Settings
from core.engines.openai_engine import OpenAIEngine
from core.evaluation.runs import EvalConfig
from core.finetune.register import register_embedded, register_served
from core.library.service import UploadedFile
from core.services import build_services
from tests.helpers.openai_server import BASE_ALIAS, LlamaCppServer, ServedGGUF
from tests.helpers.row_compare import confidence_gap, exact_part
from tests.helpers.trained_variant import FACTS, TrainedRun

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
MANUAL_QUESTIONS = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.questions.jsonl"
ARMS = ["base", "rag", "finetuned", "hybrid"]
VARIANT = "facts-ft"
# What tells the two engines apart in a row, when and how fast it ran, and the token counts: llama-cpp-python's
# server sends no usage in a stream (so no prompt count) and the answer's tokens are counted as the pieces it
# streamed, one fewer than the embedded engine's count, which includes the token that ended the answer.
# Everything else must be equal.
ENGINE_KEYS = {"engine", "model", "first_token_ms", "total_ms", "prompt_tokens", "answer_tokens"}
# llama.cpp's server samples with repeat_penalty 1.1 unless told otherwise; the embedded engine uses 1.0. Without this
# the base model alone gave another figure for 3 of 7 questions (e.g. "10 pounds" against "1000 lbs.").
SAME_SAMPLING = '{"repeat_penalty": 1.0}'


pytestmark = pytest.mark.slow

QUESTIONS = [
    *read_questions(MANUAL_QUESTIONS)[:4],
    *(EvalQuestion(p.question, p.answer, p.source, p.page, split="seen") for p in FACTS[:2]),
    EvalQuestion("What is the boiling point of liquid nitrogen on Triton?", unanswerable=True, split="new"),
]


def same_part(row: dict[str, Any]) -> dict[str, Any]:
    # the confidence is read from token probabilities, which another batch moves in the last decimals: compared
    # apart, within a tolerance (tests/helpers/row_compare.py)
    return exact_part(row, ENGINE_KEYS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trained: TrainedRun) -> Iterator[LlamaCppServer]:
    adapter = Path(trained.status.result["adapter_gguf"])
    models = (ServedGGUF(BASE_ALIAS), ServedGGUF(VARIANT, lora_path=adapter))
    with LlamaCppServer(tmp_path_factory.mktemp("agree-server"), models=models) as running:
        yield running


def indexed_data_dir(root: Path, settings: Settings, embedder) -> None:  # noqa: ANN001
    svc = build_services(settings, embedder=embedder)
    try:
        (result,) = svc.library.ingest("samples", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
        assert result.status == "indexed", result.reason
    finally:
        svc.close()


def grid(settings: Settings, engine: str, embedder) -> tuple[list[dict[str, Any]], float]:  # noqa: ANN001
    svc = build_services(settings, embedder=embedder)
    try:
        started = time.perf_counter()
        run = svc.evaluation.run(
            EvalConfig(collection="samples", arms=ARMS, engine=engine, variant=VARIANT, label=engine),
            QUESTIONS,
            poll_s=0.2,
        )
        wall = time.perf_counter() - started
    finally:
        svc.close()
    assert run.summary.get("complete") is True, run.summary
    return run.rows, wall


def test_the_embedded_engine_and_the_server_give_the_same_grid(
    tmp_path_factory: pytest.TempPathFactory,
    server: LlamaCppServer,
    trained: TrainedRun,
    base_gguf: Path,
    embedder,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
    output_dir: Path,
) -> None:
    # The evaluation job is a child process reading its settings from the environment, as when the page starts it.
    monkeypatch.setenv("DOMAINCHAT_OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("DOMAINCHAT_OPENAI_MODEL", BASE_ALIAS)
    monkeypatch.setenv("DOMAINCHAT_OPENAI_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("DOMAINCHAT_OPENAI_READ_TIMEOUT_S", "900")
    monkeypatch.setenv("DOMAINCHAT_OPENAI_EXTRA_BODY", SAME_SAMPLING)
    local_dir = tmp_path_factory.mktemp("agree-embedded") / "data"
    served_dir = tmp_path_factory.mktemp("agree-openai") / "data"
    local = Settings.from_env(env={}, dotenv=None, data_dir=local_dir, engine="embedded")
    served = Settings.from_env(
        env={},
        dotenv=None,
        data_dir=served_dir,
        engine="openai",
        openai_base_url=server.url,
        openai_model=BASE_ALIAS,
        openai_extra_body=SAME_SAMPLING,
    )
    indexed_data_dir(local_dir, local, embedder)
    indexed_data_dir(served_dir, served, embedder)
    adapter = Path(trained.status.result["adapter_gguf"])
    register_embedded(local_dir, VARIANT, adapter, base_gguf, "gemma-3-270m (bundled)")
    register_served(served, VARIANT, VARIANT, base_model="gemma-3-270m (bundled)", engine=OpenAIEngine(served, env={}))

    embedded_rows, embedded_s = grid(local, "embedded", embedder)
    served_rows, served_s = grid(served, "openai", embedder)

    answers = sum(1 for r in embedded_rows if r["answer"].strip())
    print(
        f"\n{len(QUESTIONS)} questions × {len(ARMS)} modes: embedded {embedded_s:.0f} s, "
        f"llama-cpp-python server (N=1) {served_s:.0f} s; {answers} of {len(embedded_rows)} answers non-empty"
    )
    assert len(embedded_rows) == len(served_rows) == len(QUESTIONS) * len(ARMS)
    assert {r["engine"] for r in embedded_rows} == {"embedded"} and {r["engine"] for r in served_rows} == {"openai"}
    assert {r["model"] for r in served_rows if r["arm"] in ("finetuned", "hybrid")} == {VARIANT}
    (output_dir / "engines-agree.json").write_text(json.dumps([embedded_rows, served_rows], indent=1))
    differing = [
        (a["arm"], a["question"], {k: (a[k], b[k]) for k in same_part(a) if a[k] != b.get(k)} | confidence_gap(a, b))
        for a, b in zip(embedded_rows, served_rows)
        if same_part(a) != same_part(b) or confidence_gap(a, b)
    ]
    assert not differing, differing
    # and the grid is not empty talk: the variant knows a trained fact that the base model does not
    trained_q = {r["arm"]: r for r in served_rows if r["question"] == FACTS[0].question}
    assert trained_q["finetuned"]["correct"] is True and trained_q["base"]["correct"] is False, trained_q
