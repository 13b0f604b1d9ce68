"""Training-set generation through an openai-engine generator asks up to N chunks (and rewordings) at once, and builds
the training set of a one-at-a-time run: the same pairs in the same order, the same counts, the same seeds.

The server is tests/fakes/openai_server.py: a real HTTP server speaking the OpenAI-compatible API that records every
request and the most it held at once; each request waits a little, so overlapping requests are seen overlapping.
Its one reply lists a pair about every chunk; the grounding check keeps, for each chunk, the pair its own text
supports, so which chunk a pair came from, and the order of the pairs, are visible in the result.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import pytest

from core.base.chunks import Chunk
from core.config import Settings
from core.engines.base import concurrency
from core.engines.openai_engine import OpenAIEngine
from core.errors import FineTuneError
from core.finetune.dataset import DatasetOptions, TrainingSet
from core.finetune.generation import build_training_set, engine_generator, prompt_seed
from tests.fakes.openai_server import FakeOpenAIServer

MODEL = "gemma-3-270m"
CHUNKS = [
    Chunk(
        chunk_id=f"d{d}c{c}",
        doc_id=f"doc{d}",
        source=f"manual{d}.pdf",
        page=c + 1,
        text=f"Widget d{d}c{c} has code Kd{d}c{c} and a long description that fills the chunk.",
    )
    for d in range(3)
    for c in range(2)
]
# One pair per chunk, each grounded in its own chunk only (its code), plus one grounded nowhere.
REPLY = json.dumps(
    [{"question": f"What is the code of widget {c.chunk_id}?", "answer": f"K{c.chunk_id}"} for c in CHUNKS]
    + [{"question": "How often is it descaled?", "answer": "Once a month, with white vinegar"}]
)
OPTIONS = DatasetOptions(pairs_per_chunk=2, new_fraction=0.34, seen_questions=3, max_retries=2, seed=5)


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(MODEL,), reply=REPLY) as server:
        server.state.delay_s = 0.2  # every generation takes a while, so requests sent together are held together
        yield server


def engine_for(tmp_path: Path, url: str, slots: int) -> OpenAIEngine:
    settings = Settings.from_env(
        env={},
        dotenv=None,
        data_dir=tmp_path / "data",
        engine="openai",
        openai_base_url=url,
        openai_model=MODEL,
        openai_max_concurrency=slots,
    )
    return OpenAIEngine(settings, env={})


def built(tmp_path: Path, fake: FakeOpenAIServer, slots: int) -> tuple[TrainingSet, list[tuple[str, int]], list[int]]:
    """The training set built with `slots` requests at once; the (prompt, seed) of each request; the progress steps."""
    fake.requests.clear()
    fake.max_in_flight = 0
    engine = engine_for(tmp_path, fake.url, slots)
    steps: list[int] = []
    result = build_training_set(
        CHUNKS,
        engine_generator(engine, MODEL, seed=OPTIONS.seed),
        OPTIONS,
        progress=lambda done, total, what: steps.append(done),
        workers=concurrency(engine),
    )
    sent = [(r.body["prompt"], r.body["seed"]) for r in fake.requests_to("/v1/completions")]
    return result, sent, steps


def test_n_chunks_at_once_build_the_training_set_of_one_at_a_time(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    one, sent_1, steps_1 = built(tmp_path, fake, 1)
    assert fake.max_in_flight == 1
    # each chunk kept the pair about its own code; the ungrounded ones were dropped and counted
    assert [p.chunk_id for p in one.train + one.eval_new] == [c.chunk_id for c in _todo_order(one)]
    assert all(p.answer == f"K{p.chunk_id}" for p in one.train + one.eval_new)
    assert one.stats.split_by == "document" and len(one.eval_new) == 2 and len(one.train) == 4
    assert one.stats.ungrounded_dropped == len(CHUNKS) * len(CHUNKS)  # each reply: one pair per chunk and one more
    # rewording: the reply's first question is d0c0's own, a copy of it for d0c0 and nearly the same words about another
    # widget for the other two, so every rewording is retried twice and then dropped as too close; the training
    # questions are still asked verbatim
    assert one.stats.reword_failed == one.stats.reword_too_close == 3 and one.stats.retries == 2 * 3
    assert len(one.eval_verbatim) == 3 and one.eval_reworded == [] and "failed the check" in one.stats.reworded_missing
    # a seed comes from the prompt; the strict retry prompt asked twice is two different draws
    assert len(set(sent_1)) == len(sent_1) == one.stats.llm_calls
    assert {s - OPTIONS.seed - prompt_seed(p) for p, s in sent_1} == {0, 1}

    four, sent_4, steps_4 = built(tmp_path, fake, 4)
    assert 1 < fake.max_in_flight <= 4  # chunks were asked together, never more than four at once
    assert four.train == one.train and four.eval_new == one.eval_new and four.eval_verbatim == one.eval_verbatim
    assert {**asdict(four.stats), "seconds": 0} == {**asdict(one.stats), "seconds": 0}
    assert sorted(sent_4) == sorted(sent_1)  # every prompt drew with the seed it had one at a time
    assert steps_4 == steps_1  # progress in the same order


def test_a_cancel_stops_the_chunks_asked_ahead_and_waits_for_those_running(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    engine = engine_for(tmp_path, fake.url, 4)
    steps: list[int] = []
    with pytest.raises(FineTuneError, match="cancelled"):
        build_training_set(
            CHUNKS,
            engine_generator(engine, MODEL),
            OPTIONS,
            progress=lambda done, total, what: steps.append(done),
            should_stop=lambda: len(steps) >= 1,  # cancelled once the first chunk's answer is in
            workers=4,
        )
    # chunks 1-3 were asked beside chunk 0 and waited for; the last two were never asked
    assert steps == [0] and fake.in_flight == 0
    assert len(fake.requests_to("/v1/completions")) == 4


def _todo_order(ts: TrainingSet) -> list[Chunk]:
    """The chunks in the order they were asked: training chunks first, then the held-out ones."""
    held = {p.chunk_id for p in ts.eval_new}
    return [c for c in CHUNKS if c.chunk_id not in held] + [c for c in CHUNKS if c.chunk_id in held]
