"""A finished evaluation run whose two modes disagree, made for real as a background job on the openai engine against
tests/fakes/openai_server.py: the base model knows the filter, the variant the door's load, neither the warranty.

Four questions (two seen facts, one answerable and one unanswerable new document), arms base and finetuned: base is
right on the first, finetuned on the second, so the paired comparison has one disagreement each way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.base.questions import EvalQuestion
from core.config import Settings
from core.evaluation.runs import EvalConfig, SavedRun
from core.finetune.register import register_served
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer

BASE, VARIANT_SERVED, VARIANT = "gemma-3-270m", "manuals-lora", "manuals-ft"
REPLIES = {BASE: "The filter is cleaned every 2 weeks.", VARIANT_SERVED: "The open door holds at most 15 kg."}
QUESTIONS = [
    EvalQuestion("How often should the filter be cleaned?", "every 2 weeks", "manual.pdf", 1, split="seen"),
    EvalQuestion("What is the maximum weight on the open door?", "15 kg", "manual.pdf", 2, split="seen"),
    EvalQuestion("How long does the warranty last?", "two years", "manual.pdf", 3, split="new"),
    EvalQuestion("Who painted the factory wall?", unanswerable=True, split="new"),
]
ENV = {
    "DOMAINCHAT_ENGINE": "openai",
    "DOMAINCHAT_OPENAI_MODEL": BASE,
    "DOMAINCHAT_OPENAI_PROMPT_FORM": "completion",
    "DOMAINCHAT_EMBEDDING_BACKEND": "openai",
    "DOMAINCHAT_EMBEDDING_MODEL": BASE,
}


def paired_run(
    data: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, threshold: float | None = None
) -> SavedRun:
    """Run the evaluation as the page does (a background job reading its settings from the environment); `threshold`
    sets the app's confidence threshold apart from the environment the job starts in."""
    fake.state.models.update(REPLIES)
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_OPENAI_BASE_URL", fake.url)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(dotenv=None, data_dir=data)
    if threshold is not None:
        settings = dataclasses.replace(settings, confidence_threshold=threshold)
    svc = build_services(settings)
    try:
        register_served(svc.settings, VARIANT, VARIANT_SERVED, engine=svc.engines.openai)
        config = EvalConfig(collection="", arms=["base", "finetuned"], engine="openai", variant=VARIANT)
        return svc.evaluation.run(config, QUESTIONS, poll_s=0.2)
    finally:
        svc.close()
