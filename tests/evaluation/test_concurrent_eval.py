"""Concurrent evaluation on the openai engine: N answers asked at once give the rows of a sequential run.

A real OpenAI-compatible server (llama-cpp-python's, tests/helpers/openai_server.py) serves the bundled Gemma 3 270M
as the base and, as a second model name, the same GGUF with the session's trained LoRA adapter
(tests/helpers/trained_variant.py), registered as the variant `facts-ft` with `register_served`. All four arms run
over the dishwasher manual's first three questions, two trained facts and one unanswerable question, once with
DOMAINCHAT_OPENAI_MAX_CONCURRENCY=1 and once with 4, as background jobs like the Evaluate page starts them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.base.questions import EvalQuestion, read_questions
from core.config import Settings
from core.engines.base import Engine
from core.engines.embedded import EmbeddedEngine
from core.engines.openai_engine import OpenAIEngine
from core.errors import ModelNotFoundError
from core.evaluation.runner import concurrency
from core.evaluation.runs import EvalConfig
from core.finetune.register import register_served
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
# what differs between two runs of the same answers: when they ran and how long they took
TIMING_KEYS = {"first_token_ms", "total_ms"}


def timeless(row: dict[str, Any]) -> dict[str, Any]:
    # the confidence is read from token probabilities, which four requests batched together move in the last
    # decimals: compared apart, within a tolerance (tests/helpers/row_compare.py)
    return exact_part(row, TIMING_KEYS)


def settings_for(data: Path, url: str, **overrides: Any) -> Settings:
    return Settings.from_env(
        env={}, dotenv=None, data_dir=data, engine="openai", openai_base_url=url, openai_model=BASE_ALIAS, **overrides
    )


def test_one_request_at_a_time_on_the_in_process_engines_and_the_setting_on_a_server(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path, openai_max_concurrency=3)
    engines: list[Engine] = [EmbeddedEngine(settings), OpenAIEngine(settings, env={})]
    assert [concurrency(e) for e in engines] == [1, 3]


@pytest.fixture(scope="module")
def variant_server(tmp_path_factory: pytest.TempPathFactory, trained: TrainedRun) -> Iterator[LlamaCppServer]:
    adapter = Path(trained.status.result["adapter_gguf"])
    models = (ServedGGUF(BASE_ALIAS), ServedGGUF(VARIANT, lora_path=adapter))
    with LlamaCppServer(tmp_path_factory.mktemp("variant-server"), models=models) as server:
        yield server


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory: pytest.TempPathFactory, variant_server: LlamaCppServer, embedder) -> Path:  # noqa: ANN001
    """A data dir with the manual indexed in 'samples' and the served adapter registered as the variant."""
    data = tmp_path_factory.mktemp("concurrent-eval") / "data"
    settings = settings_for(data, variant_server.url)
    svc = build_services(settings, embedder=embedder)
    try:
        (result,) = svc.library.ingest("samples", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
        assert result.status == "indexed"
    finally:
        svc.close()
    engine = OpenAIEngine(settings, env={})
    with pytest.raises(ModelNotFoundError) as missing:
        register_served(settings, "not-served", "no-such-adapter", engine=engine)
    assert "--lora-modules no-such-adapter=" in str(missing.value) and BASE_ALIAS in str(missing.value)
    variant = register_served(settings, VARIANT, VARIANT, base_model="gemma-3-270m (bundled)", engine=engine)
    assert variant.engine == "openai" and variant.served_model == VARIANT
    assert [(m.name, m.kind) for m in engine.list_models()] == [(BASE_ALIAS, "base"), (VARIANT, "variant")]
    return data


def run_eval(
    data: Path,
    url: str,
    workers: int,
    embedder,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> tuple[list[dict[str, Any]], float, str]:
    """One run with `workers` requests at once, as a background job; its rows, wall time and state."""
    # The job is a child process that reads its settings from the environment, as it does when the page starts it.
    monkeypatch.setenv("DOMAINCHAT_OPENAI_BASE_URL", url)
    monkeypatch.setenv("DOMAINCHAT_OPENAI_MODEL", BASE_ALIAS)
    monkeypatch.setenv("DOMAINCHAT_OPENAI_MAX_CONCURRENCY", str(workers))
    # llama-cpp-python's server answers one request at a time and reloads the GGUF when the next names the other
    # model: a request sent with three ahead of it waits for all three, longer than the default read timeout on a
    # busy 2-core machine.
    monkeypatch.setenv("DOMAINCHAT_OPENAI_READ_TIMEOUT_S", "900")
    svc = build_services(settings_for(data, url, openai_max_concurrency=workers), embedder=embedder)
    questions = [
        *read_questions(MANUAL_QUESTIONS)[:3],
        *(EvalQuestion(p.question, p.answer, p.source, p.page, split="seen") for p in FACTS[2:4]),
        EvalQuestion("What is the boiling point of liquid nitrogen on Triton?", unanswerable=True, split="new"),
    ]
    try:
        started = time.perf_counter()
        run = svc.evaluation.run(
            EvalConfig(collection="samples", arms=ARMS, engine="openai", variant=VARIANT, label=f"N={workers}"),
            questions,
            poll_s=0.2,
        )
        wall = time.perf_counter() - started
    finally:
        svc.close()
    assert run.config.engine == "openai" and run.config.variant == VARIANT
    return run.rows, wall, str(run.summary.get("complete"))


@pytest.mark.slow
def test_four_requests_at_once_give_the_rows_of_one_at_a_time(
    eval_data: Path,
    variant_server: LlamaCppServer,
    embedder,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    one, wall_1, complete_1 = run_eval(eval_data, variant_server.url, 1, embedder, monkeypatch)
    four, wall_4, complete_4 = run_eval(eval_data, variant_server.url, 4, embedder, monkeypatch)
    print(f"\n{len(one) // len(ARMS)} questions × {len(ARMS)} arms: N=1 {wall_1:.1f} s, N=4 {wall_4:.1f} s")
    assert complete_1 == complete_4 == "True"
    assert len(one) == len(four) == 6 * len(ARMS)
    assert all(r["error"] == "" and r["answer"].strip() for r in one if not r["unanswerable"])
    # the same rows, in the same order, with the same content: only when they ran and how long they took differ
    assert [timeless(r) for r in four] == [timeless(r) for r in one]
    gaps = [(a["arm"], a["question"], confidence_gap(a, b)) for a, b in zip(one, four) if confidence_gap(a, b)]
    assert not gaps, gaps
    # the finetuned arm really ran the served adapter: it knows a trained fact the base model cannot
    trained_q = {r["arm"]: r for r in one if r["question"] == FACTS[2].question}
    assert {r["model"] for r in one if r["arm"] in ("finetuned", "hybrid")} == {VARIANT}
    assert trained_q["finetuned"]["correct"] is True, trained_q["finetuned"]["answer"]
    assert trained_q["base"]["correct"] is False, trained_q["base"]["answer"]
