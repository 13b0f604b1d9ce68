"""The document-update test on the openai engine asks up to DOMAINCHAT_OPENAI_MAX_CONCURRENCY answers at once, with the
answers and the progress of a one-at-a-time run.

The server is tests/fakes/openai_server.py: a real HTTP server speaking the OpenAI-compatible API that records the
most requests it held at once; each request waits a little, so overlapping requests are seen overlapping. It serves
the base model and a variant under another name with another reply, and the embeddings (hash-derived), so no model is
loaded; the sample manual's two revisions are parsed and indexed for real.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.evaluation.document_update import UpdateTestConfig
from core.finetune.register import register_served
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer, settings_on_fake

ROOT = Path(__file__).resolve().parents[2]
OLD = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
NEW = ROOT / "sample_docs" / "update" / "aquaflow-dishwasher-manual.pdf"
QUESTIONS = ROOT / "sample_docs" / "update" / "changed-facts.questions.jsonl"
MODES = ["base", "rag", "finetuned", "hybrid"]
BASE_REPLY = "The door takes at most 15 kg."
VARIANT_REPLY = "Every 3 weeks, says the variant."


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "manuals-lora")) as server:
        server.state.models["gemma-3-270m"] = BASE_REPLY
        server.state.models["manuals-lora"] = VARIANT_REPLY
        yield server


def timeless(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-question rows without how long each answer took (the one thing two runs may differ in)."""
    return [
        {
            **row,
            **{
                phase: {arm: {k: v for k, v in given.items() if k != "total_ms"} for arm, given in row[phase].items()}
                for phase in ("before", "after")
            },
        }
        for row in questions
    ]


def run_update_test(
    data: Path, fake: FakeOpenAIServer, facts: Path, concurrency: int
) -> tuple[list[dict[str, Any]], list[tuple[str, int, int]], int]:
    """The update test with `concurrency` slots: its answers (without timings), its progress reports, and the most
    answers the server generated at once (the ingest's embeddings may overlap: they are not answers)."""
    svc = build_services(settings_on_fake(data, fake.url, concurrency))
    reports: list[tuple[str, int, int]] = []
    fake.max_generating = 0
    try:
        config = UpdateTestConfig(
            OLD, NEW, facts, arms=MODES, engine="openai", variant="manuals-ft", probe_training=False
        )
        result = svc.update_test.run(config, progress=lambda what, done, total: reports.append((what, done, total)))
    finally:
        svc.close()
    assert (
        result.engine == "openai" and result.arms == MODES and result.variant == "manuals-lora"
    )  # the variant as the server serves it
    return timeless(result.questions), reports, fake.max_generating


def test_the_update_test_asks_at_most_n_answers_at_once_with_the_answers_of_a_sequential_run(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    facts = tmp_path / "facts.jsonl"
    facts.write_text("".join(QUESTIONS.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    data = tmp_path / "data"
    svc = build_services(settings_on_fake(data, fake.url, 1))
    try:
        register_served(svc.settings, "manuals-ft", "manuals-lora", engine=svc.engines.openai)
    finally:
        svc.close()
    fake.state.delay_s = 0.2  # every request takes a while, so requests sent together are held together

    started = time.perf_counter()
    sequential, reports_1, most_1 = run_update_test(data, fake, facts, 1)
    wall_1, started = time.perf_counter() - started, time.perf_counter()
    assert most_1 == 1
    assert len(sequential) == 3 and all(set(row["before"]) == set(row["after"]) == set(MODES) for row in sequential)
    for row in sequential:
        for phase in ("before", "after"):
            given = row[phase]
            assert not any(given[arm]["error"] for arm in MODES), given
            # the variant's modes ran the served adapter, the others the base: a mix-up of modes would show
            assert [given[arm]["text"] for arm in MODES] == [BASE_REPLY, BASE_REPLY, VARIANT_REPLY, VARIANT_REPLY]
            # only the retrieving modes cite the indexed manual
            assert [bool(given[arm]["sources"]) for arm in MODES] == [False, True, False, True]
    answering = [r for r in reports_1 if r[0].startswith("Answering")]
    assert len(answering) == 2 * 3 * len(MODES)
    assert answering[:2] == [
        ("Answering before the change: base, question 1 of 3", 0, 24),
        ("Answering before the change: rag, question 1 of 3", 1, 24),
    ]

    four, reports_4, most_4 = run_update_test(data, fake, facts, 4)
    print(
        f"\nupdate test, 3 facts x 4 modes x 2 phases, 0.2 s per request: N=1 {wall_1:.1f} s, N=4 "
        f"{time.perf_counter() - started:.1f} s"
    )
    # the answers overlapped, never more than four at once (each answer also embeds its question first, so all four
    # slots need not be generating at the same moment)
    assert 1 < most_4 <= 4
    assert four == sequential  # the same answers and sources, for the same question, mode and phase
    assert reports_4 == reports_1  # the same progress, in the same order
