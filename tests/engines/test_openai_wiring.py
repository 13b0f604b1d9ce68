"""The openai engine wired into the app: engine choice and `auto`, variants registered as served model names, the
register command, and the commands that serve a trained adapter. Against the OpenAI-protocol test server
(tests/fakes/openai_server.py); the real-server runs are in test_openai_engine.py and
tests/evaluation/test_concurrent_eval.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from core.base.jobs import JobStatus
from core.config import ENGINE_CHOICES, Settings
from core.engines.base import Engine, GenerationRequest, Prompt
from core.engines.openai_engine import OpenAIEngine
from core.engines.resolver import Engines
from core.errors import ModelNotFoundError, VariantError
from core.finetune.jobs import REGISTER_ENGINES, VARIANT_ENGINES, TrainConfig, serve_commands
from core.finetune.register import delete_variant, list_variants, register_served
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.chroma_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("gemma-3-270m", "manuals-lora", "Llama-3.1-8B-Instruct")) as server:
        yield server


def settings_for(tmp_path: Path, url: str = "", **overrides: object) -> Settings:
    return Settings.from_env(
        env={},
        dotenv=None,
        data_dir=tmp_path / "data",
        openai_base_url=url,
        ollama_host=f"127.0.0.1:{free_port()}",
        **overrides,  # type: ignore[arg-type]
    )


def test_openai_is_an_engine_choice_but_training_registers_on_embedded_and_ollama_only() -> None:
    assert ENGINE_CHOICES == ("auto", "ollama", "embedded", "openai")
    assert VARIANT_ENGINES == ("ollama", "embedded") and REGISTER_ENGINES == ("ollama", "embedded", "openai")
    engine: Engine = OpenAIEngine(Settings.from_env(env={}, dotenv=None), env={})  # the protocol, checked by mypy
    assert engine.name == "openai"


def test_auto_prefers_a_configured_server_that_answers(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    engines = Engines(settings_for(tmp_path, fake.url, openai_model="gemma-3-270m"))
    engine, probe = engines.resolve_with_probe("auto")
    assert engine.name == "openai" and probe is not None and probe.ok and probe.engine == "openai"
    overview = engines.overview("auto")
    assert overview.engine == "openai" and not overview.fell_back and overview.default_model == "gemma-3-270m"
    assert overview.base_models == ["Llama-3.1-8B-Instruct", "gemma-3-270m", "manuals-lora"]
    assert overview.prompt_forms == {
        "Llama-3.1-8B-Instruct": "chat",
        "gemma-3-270m": "completion",
        "manuals-lora": "completion",
    }
    # a model served beside the base may be picked as the variant (trained and served elsewhere)
    assert overview.variant_choices == ["Llama-3.1-8B-Instruct", "manuals-lora"]
    assert engines.named("openai") is engines.openai and engines.default_model("openai") == "gemma-3-270m"


def test_auto_without_a_base_url_or_with_a_server_down_falls_to_ollama_then_embedded(tmp_path: Path) -> None:
    engines = Engines(settings_for(tmp_path))
    engine, probe = engines.resolve_with_probe("auto")
    assert engine.name == "embedded" and probe is not None and probe.engine == "ollama" and not probe.ok
    assert engines.overview("auto").server_probe is None  # no server configured: none was asked

    down = f"http://127.0.0.1:{free_port()}/v1"
    engines = Engines(settings_for(tmp_path, down))
    engine, probe = engines.resolve_with_probe("auto")
    assert engine.name == "embedded" and probe is not None and probe.engine == "ollama"
    server = engines.overview("auto").server_probe
    assert server is not None and not server.ok and down in server.message
    assert engines.resolve("openai").name == "openai"  # named, it is used without a probe


def test_a_served_model_registers_as_a_variant_and_runs_under_its_served_name(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    settings = settings_for(tmp_path, fake.url, openai_model="gemma-3-270m")
    engines = Engines(settings)
    with pytest.raises(ModelNotFoundError) as err:
        register_served(settings, "manuals-ft", "not-served", engine=engines.openai)
    message = str(err.value)
    assert "'not-served' is not served" in message and "--lora-modules not-served=PATH" in message
    assert "it serves Llama-3.1-8B-Instruct, gemma-3-270m, manuals-lora" in message

    variant = register_served(settings, "manuals-ft", "manuals-lora", base_model="gemma-3-270m", engine=engines.openai)
    assert (variant.engine, variant.served_model, variant.base_model) == ("openai", "manuals-lora", "gemma-3-270m")
    with pytest.raises(VariantError, match="already exists"):
        register_served(settings, "manuals-ft", "manuals-lora", engine=engines.openai)
    assert [(v.name, v.usable) for v in list_variants(settings.data_dir, "openai")] == [("manuals-ft", True)]
    assert engines.variants_for("openai") == [variant] and engines.variants_for("embedded") == []
    assert engines.variant_model("openai", "manuals-ft") == "manuals-lora"
    assert engines.newest_variant("openai") == "manuals-ft"

    # listed once, as the variant it is; the served name is what the server is asked for
    models = [(m.name, m.kind) for m in engines.openai.list_models()]
    assert models == [("Llama-3.1-8B-Instruct", "base"), ("gemma-3-270m", "base"), ("manuals-ft", "variant")]
    overview = engines.overview("openai")
    assert overview.variants == ["manuals-ft"] and overview.variant_choices[0] == "manuals-ft"
    assert overview.prompt_forms["manuals-ft"] == "completion"
    list(engines.openai.generate(GenerationRequest(model="manuals-ft", prompt=Prompt("Question: x\nAnswer:", ()))))
    assert fake.requests_to("/v1/completions")[-1].body["model"] == "manuals-lora"

    assert delete_variant(settings, "manuals-ft").deleted == "manuals-ft"
    assert engines.variants_for("openai") == []


def test_a_registered_variant_the_server_stopped_serving_says_how_to_serve_it(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    settings = settings_for(tmp_path, fake.url)
    engine = OpenAIEngine(settings, env={})
    register_served(settings, "manuals-ft", "manuals-lora", engine=engine)
    with FakeOpenAIServer(models=("gemma-3-270m",)) as other:  # restarted without the adapter
        moved = OpenAIEngine(settings_for(tmp_path, other.url), env={})
        listed = {m.name: m.detail for m in moved.list_models()}
        assert "not served by" in listed["manuals-ft"] and "--lora-modules manuals-lora=" in listed["manuals-ft"]
        with pytest.raises(ModelNotFoundError) as err:
            list(moved.generate(GenerationRequest(model="manuals-ft", prompt=Prompt("Question: x\nAnswer:", ()))))
        message = str(err.value)
        assert "fine-tuned variant 'manuals-ft' runs as model 'manuals-lora'" in message
        assert "--lora-modules manuals-lora=PATH" in message and "it serves gemma-3-270m" in message
        # finetuned never runs the base by mistake: nothing was generated
        assert other.requests_to("/v1/completions") == [] and other.requests_to("/v1/chat/completions") == []


def test_the_register_command_records_a_served_model(tmp_path: Path, fake: FakeOpenAIServer) -> None:
    env = {
        **os.environ,
        "DOMAINCHAT_DATA_DIR": str(tmp_path / "data"),
        "DOMAINCHAT_OPENAI_BASE_URL": fake.url,
        "OLLAMA_HOST": f"127.0.0.1:{free_port()}",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core", "finetune", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )

    done = cli("register", "--engine", "openai", "--served-model", "manuals-lora", "--name", "manuals-ft")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["served_model"] == "manuals-lora"
    listed = json.loads(cli("variants", "--engine", "openai").stdout)
    assert [(v["name"], v["engine"], v["served_model"], v["usable"]) for v in listed] == [
        ("manuals-ft", "openai", "manuals-lora", True)
    ]
    refused = cli("register", "--engine", "ollama", "--served-model", "manuals-lora", "--name", "other")
    assert refused.returncode != 0 and "--engine openai" in refused.stderr
    missing = cli("register", "--engine", "openai", "--served-model", "nope", "--name", "other")
    assert missing.returncode != 0 and "--lora-modules nope=PATH" in missing.stderr


def test_serve_commands_name_the_adapter_folder_the_lora_gguf_and_the_base(tmp_path: Path) -> None:
    job_dir = tmp_path / "data" / "finetune" / "jobs" / "ft-1"
    (job_dir / "adapter").mkdir(parents=True)
    (job_dir / "adapter" / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/cache/gemma 3", "r": 16}), encoding="utf-8"
    )
    (job_dir / "adapter.gguf").write_bytes(b"GGUF")
    config = TrainConfig(job_id="ft-1", data_dir=str(tmp_path / "data"), dataset="x", base_gguf="/models/base.gguf")
    (job_dir / "config.json").write_text(config.to_json(), encoding="utf-8")
    status = JobStatus(
        job_id="ft-1",
        kind="training",
        state="done",
        result={"adapter_dir": str(job_dir / "adapter"), "adapter_gguf": str(job_dir / "adapter.gguf")},
    )
    commands = serve_commands(status, "manuals-ft")
    assert commands["vllm"] == (
        f"vllm serve '/cache/gemma 3' --enable-lora --max-lora-rank 16 --lora-modules manuals-ft={job_dir}/adapter"
    )
    assert f"--lora-paths manuals-ft={job_dir}/adapter" in commands["sglang"]
    assert (
        commands["llama.cpp"] == f"llama-server -m /models/base.gguf --lora {job_dir}/adapter.gguf --alias manuals-ft"
    )
    assert commands["register"] == (
        "python -m core finetune register --engine openai --served-model manuals-ft --name manuals-ft"
    )
    assert serve_commands(JobStatus(job_id="ft-2", kind="training", state="failed")) == {}
