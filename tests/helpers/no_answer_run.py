"""An evaluation run on the openai engine where some answers are no answer at all, made for real as a background job
against tests/fakes/openai_server.py: the variant's every reply is empty (the chat gives up after one retry with
NO_ANSWER), and the server refuses the first question's base answer (an engine error before any text).

Three answerable questions, arms base and finetuned: base gets no answer for 1 of 3, finetuned for 3 of 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.questions import EvalQuestion
from core.config import Settings
from core.evaluation.runs import EvalConfig, SavedRun
from core.finetune.register import register_served
from core.services import build_services
from tests.fakes.openai_server import Failure, FakeOpenAIServer

BASE, VARIANT_SERVED, VARIANT = "gemma-3-270m", "manuals-lora", "manuals-ft"
REFUSAL = "The prompt is malformed."
QUESTIONS = [
    EvalQuestion("How often should the filter be cleaned?", "every 2 weeks", "manual.pdf", 1),
    EvalQuestion("What is the maximum weight on the open door?", "15 kg", "manual.pdf", 2),
    EvalQuestion("How long does the warranty last?", "two years", "manual.pdf", 3),
]
ENV = {
    "DOMAINCHAT_ENGINE": "openai",
    "DOMAINCHAT_OPENAI_MODEL": BASE,
    "DOMAINCHAT_OPENAI_PROMPT_FORM": "completion",  # every generation on /v1/completions, where the refusal waits
    "DOMAINCHAT_OPENAI_MAX_CONCURRENCY": "1",  # one at a time: the first request is the first question's base answer
    "DOMAINCHAT_EMBEDDING_BACKEND": "openai",
    "DOMAINCHAT_EMBEDDING_MODEL": BASE,
}


def no_answer_run(data: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> SavedRun:
    """Run the evaluation as the page does (a background job reading its settings from the environment)."""
    fake.state.models.update({BASE: "The filter is cleaned every 2 weeks.", VARIANT_SERVED: ""})
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_OPENAI_BASE_URL", fake.url)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    svc = build_services(Settings.from_env(dotenv=None, data_dir=data))
    try:
        register_served(svc.settings, VARIANT, VARIANT_SERVED, engine=svc.engines.openai)
        fake.state.failures["/v1/completions"] = [Failure(400, REFUSAL)]
        return svc.evaluation.run(
            EvalConfig(collection="", arms=["base", "finetuned"], engine="openai", base_model=BASE, variant=VARIANT),
            QUESTIONS,
            poll_s=0.2,
        )
    finally:
        svc.close()
