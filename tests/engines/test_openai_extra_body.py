"""DOMAINCHAT_OPENAI_EXTRA_BODY: sampling settings a server takes beyond OpenAI's reach it in every generation.

llama.cpp's servers default to repeat_penalty 1.1 where the embedded engine uses 1.0, so the same prompt can give
another answer; `{"repeat_penalty": 1.0}` sent with each request makes them agree (tests/evaluation/
test_engines_agree.py). The fake OpenAI-protocol server records what it received.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from core.chat.prompts import plain_prompt
from core.config import Settings
from core.engines.base import GenerationRequest
from core.engines.openai_engine import OpenAIEngine
from core.errors import ConfigError
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "Llama-3.1-8B-Instruct")) as server:
        yield server


def engine_with(tmp_path: Path, url: str, extra: str) -> OpenAIEngine:
    settings = Settings.from_env(
        env={"DOMAINCHAT_OPENAI_EXTRA_BODY": extra}, dotenv=None, data_dir=tmp_path, openai_base_url=url
    )
    return OpenAIEngine(settings, env={})


@pytest.mark.parametrize(
    "model, path", [("gemma-3-270m", "/v1/completions"), ("Llama-3.1-8B-Instruct", "/v1/chat/completions")]
)
def test_the_extra_fields_go_with_every_generation_in_both_prompt_forms(
    tmp_path: Path, fake: FakeOpenAIServer, model: str, path: str
) -> None:
    engine = engine_with(tmp_path, fake.url, '{"repeat_penalty": 1.0, "top_k": 1}')
    request = GenerationRequest(model=model, prompt=plain_prompt("How often is the filter cleaned?"), max_tokens=16)
    "".join(engine.generate(request))  # streamed
    (sent,) = [r.body for r in fake.requests_to(path)]
    assert sent["repeat_penalty"] == 1.0 and sent["top_k"] == 1
    assert sent["model"] == model and sent["max_tokens"] == 16  # the request's own fields are kept


def test_without_the_setting_nothing_is_added(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    engine = engine_with(tmp_path, fake.url, "")
    request = GenerationRequest(model="gemma-3-270m", prompt=plain_prompt("How often?"), max_tokens=8)
    "".join(engine.generate(request))
    (sent,) = [r.body for r in fake.requests_to("/v1/completions")]
    assert "repeat_penalty" not in sent and "top_k" not in sent


@pytest.mark.parametrize("value", ["[1.0]", "repeat_penalty=1.0", '"1.0"'])
def test_a_value_that_is_not_a_json_object_is_refused_when_the_settings_load(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="DOMAINCHAT_OPENAI_EXTRA_BODY is not a JSON object") as refused:
        Settings.from_env(env={"DOMAINCHAT_OPENAI_EXTRA_BODY": value}, dotenv=None, data_dir=tmp_path)
    assert '{"repeat_penalty": 1.0}' in str(refused.value)
