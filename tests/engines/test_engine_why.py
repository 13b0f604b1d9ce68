"""Which engine answers and why, as the sidebar says it: the `why` and `where` of the engine overview, against a
closed port (nothing answers), the OpenAI-protocol test server and the Ollama test server."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from core.config import Settings
from core.engines.resolver import Engines, shown_address
from tests.fakes.ollama_server import FakeOllamaServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.chroma_server import free_port


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m",)) as fake:
        yield fake


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    """Nothing configured: no server URL, and an Ollama address where nothing listens (unless overridden)."""
    values: dict[str, object] = {"ollama_host": f"http://127.0.0.1:{free_port()}", **overrides}
    return Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", **values)


def test_auto_with_nothing_configured_is_embedded_because_no_server_is_set_and_ollama_does_not_answer(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    overview = Engines(settings).overview("auto")
    assert overview.engine == "embedded"
    assert overview.where == "bundled Gemma 3 270M, in this process"
    assert overview.why == (
        "auto: no OpenAI-compatible server is set (DOMAINCHAT_OPENAI_BASE_URL), "
        f"and no Ollama answers at {settings.ollama_host}"
    )
    # the engine in use is never what the reason advises choosing
    assert "embedded" not in overview.why


def test_auto_with_a_server_url_set_is_openai_and_says_the_url_without_credentials(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    with_password = server.url.replace("http://", "http://user:s3cret@")
    overview = Engines(settings_for(tmp_path, openai_base_url=with_password)).overview("auto")
    assert overview.engine == "openai"
    assert overview.why == "auto: DOMAINCHAT_OPENAI_BASE_URL is set and that server answers"
    assert overview.where == server.url.rstrip("/") and "s3cret" not in overview.where + overview.why


def test_auto_with_a_server_url_that_does_not_answer_says_so(tmp_path: Path) -> None:
    overview = Engines(settings_for(tmp_path, openai_base_url=f"http://127.0.0.1:{free_port()}/v1")).overview("auto")
    assert overview.engine == "embedded"
    assert overview.why.startswith(
        "auto: the OpenAI-compatible server set in DOMAINCHAT_OPENAI_BASE_URL does not answer"
    )


def test_auto_with_ollama_answering_is_ollama_at_its_address(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    overview = Engines(settings_for(tmp_path, ollama_host=ollama_server.url)).overview("auto")
    assert overview.engine == "ollama"
    assert overview.why == f"auto: Ollama answers at {shown_address(ollama_server.url)}"
    assert overview.where == shown_address(ollama_server.url)


def test_an_engine_named_in_the_settings_or_picked_in_the_engine_box_says_who_chose_it(tmp_path: Path) -> None:
    engines = Engines(settings_for(tmp_path, engine="embedded"))
    assert engines.overview().why == "chosen in the settings (DOMAINCHAT_ENGINE=embedded)"
    assert engines.overview("embedded").why == "chosen in the settings (DOMAINCHAT_ENGINE=embedded)"
    picked = engines.overview("ollama")  # named: used without a probe, even though nothing answers there
    assert picked.engine == "ollama" and picked.why == "chosen in the Engine box"


def test_a_shown_address_never_carries_a_user_name_or_password() -> None:
    assert shown_address("https://me:key123@llm.example.com:8443/v1") == "https://llm.example.com:8443/v1"
    assert shown_address("http://127.0.0.1:11434") == "http://127.0.0.1:11434"
