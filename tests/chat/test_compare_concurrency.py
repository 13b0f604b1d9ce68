"""`compare` on the openai engine generates its modes at once (up to DOMAINCHAT_OPENAI_MAX_CONCURRENCY), with the
answers of a sequential run, in mode order.

The server is tests/fakes/openai_server.py: a real HTTP server speaking the OpenAI-compatible API that records the
most requests it held at once; each generation waits a little, so overlapping requests are seen overlapping.
Embeddings come from the same server (hash-derived, deterministic), so no model is loaded.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.chat.service import AheadStream, Question, compare_concurrency
from core.config import Settings
from core.engines.embedded import EmbeddedEngine
from core.finetune.register import register_served
from core.library.service import UploadedFile
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer, settings_on_fake

MODES = ["base", "rag", "finetuned", "hybrid"]
DOC = (
    "Cleaning the filter. Clean the dishwasher filter every 2 weeks under running water. "
    "The filter sits at the bottom of the tub."
)
VARIANT_REPLY = "Every 3 weeks, says the variant."


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "manuals-lora")) as server:
        server.state.models["manuals-lora"] = VARIANT_REPLY
        yield server


def compared(data: Path, fake: FakeOpenAIServer, concurrency: int) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Compare the four modes with `concurrency` slots: the answers (without timings), the text each stream gave its
    reader, and whether the streams were read ahead."""
    svc = build_services(settings_on_fake(data, fake.url, concurrency))
    try:
        question = Question("How often should the filter be cleaned?", "base", "manuals", "gemma-3-270m", "manuals-ft")
        comparison = svc.chat.compare(question, MODES, "openai")
        read = ["".join(stream) for stream in comparison.streams]
        answers = [{k: v for k, v in asdict(a).items() if k != "timings"} for a in comparison.answers]
        ahead = all(isinstance(s, AheadStream) for s in comparison.streams)
    finally:
        svc.close()
    return answers, read, ahead


def test_compare_sends_at_most_n_modes_at_once_with_the_answers_of_a_sequential_run(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    data = tmp_path / "data"
    svc = build_services(settings_on_fake(data, fake.url, 1))
    try:
        (result,) = svc.library.ingest("manuals", [UploadedFile("manual.txt", DOC.encode())])
        assert result.status == "indexed"
        register_served(svc.settings, "manuals-ft", "manuals-lora", engine=svc.engines.openai)
    finally:
        svc.close()
    fake.state.delay_s = 0.3  # every generation takes a while, so requests sent together are held together

    fake.max_in_flight = 0
    sequential, read_one, ahead = compared(data, fake, 1)
    assert fake.max_in_flight == 1 and not ahead  # one slot: the streams are the plain ones, read in turn
    assert [a["mode"] for a in sequential] == MODES and not any(a["error"] for a in sequential)
    # the variant's modes ran the served adapter, the others the base: the order of the modes is visible
    assert [VARIANT_REPLY in a["text"] for a in sequential] == [False, False, True, True]

    for slots in (2, 4):
        fake.max_in_flight = 0
        answers, read, ahead = compared(data, fake, slots)
        # the modes overlapped, never more than `slots` at once (on a loaded machine not every slot need fill)
        assert ahead and 1 < fake.max_in_flight <= slots, (slots, fake.max_in_flight)
        assert answers == sequential and read == read_one


def test_only_a_server_gets_more_than_one_mode_at_once(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path, openai_max_concurrency=3)
    svc = build_services(settings)
    try:
        assert compare_concurrency(EmbeddedEngine(settings)) == 1
        assert compare_concurrency(svc.engines.openai) == 3
    finally:
        svc.close()


def test_a_reader_that_stops_keeps_what_it_read_of_each_mode(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    svc = build_services(settings_on_fake(tmp_path / "data", fake.url, 4))
    try:
        question = Question("How often should the filter be cleaned?", "base", None, "gemma-3-270m")
        comparison = svc.chat.compare(question, ["base", "base"], "openai")  # one mode given twice: asked once
        assert len(comparison.streams) == 1
        comparison = svc.chat.compare(question, ["base"], "openai")
        assert not isinstance(comparison.streams[0], AheadStream)  # nothing to overlap with: read as before
        fake.state.models["gemma-3-270m"] = "one two three four five six seven eight nine ten"
        question = Question("How often should the filter be cleaned?", "base", "manuals", "gemma-3-270m")
        comparison = svc.chat.compare(question, ["base", "rag"], "openai")
        first = next(iter(comparison.streams[0]))
        stopped = [s.stopped("The reader left.") for s in comparison.streams]
    finally:
        svc.close()
    assert stopped[0].text == first.strip() and stopped[0].incomplete and stopped[0].error == "The reader left."
    assert stopped[1].text == "" and stopped[1].incomplete  # never read: nothing of it was shown
