"""docs/scale-out/compose.yaml: every app setting it sets is a real one, and the services' ports line up."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docs" / "scale-out" / "compose.yaml"


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # compose also takes ["NAME=value", …]
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _flag(command: list[str], name: str) -> str:
    return str(command[command.index(name) + 1])


def _exposed(service: dict[str, Any]) -> set[int]:
    ports = [str(p) for p in service.get("expose", [])]
    ports += [str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])]  # the container's side
    return {int(p) for p in ports}


def test_every_setting_the_compose_file_sets_is_a_real_setting_and_the_ports_line_up() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert set(services) == {"app", "chroma", "vllm"}
    known = {f.metadata["env"] for f in fields(Settings)}
    ours = {
        (name, var)
        for name, service in services.items()
        for var in _environment(service)
        if var.startswith(("DOMAINCHAT_", "CHROMA_"))
    }
    assert ours and {var for _, var in ours} <= known, sorted(var for _, var in ours if var not in known)
    assert {name for name, _ in ours} == {"app"}  # the other services' settings are their own

    app = _environment(services["app"])
    # the values are ones Settings accepts (a typo such as ENGINE=vllm fails here, not in the container)
    settings = Settings.from_env(env=app, dotenv=None)
    assert settings.engine == "openai" and settings.chroma_host == "chroma"
    assert app["CHROMA_HOST"] in services and settings.chroma_port in _exposed(services[app["CHROMA_HOST"]])

    url = urlsplit(app["DOMAINCHAT_OPENAI_BASE_URL"])
    vllm = services[str(url.hostname)]
    command = [str(c) for c in vllm["command"]]
    assert url.path == "/v1" and url.port == int(_flag(command, "--port")) and url.port in _exposed(vllm)
    assert app["DOMAINCHAT_OPENAI_MODEL"] == _flag(command, "--model")
    # the variant is a LoRA module on the same base, so --enable-lora must be on
    assert "--enable-lora" in command and "=" in _flag(command, "--lora-modules")
    gpus = vllm["deploy"]["resources"]["reservations"]["devices"][0]["count"]
    assert int(_flag(command, "--tensor-parallel-size")) == gpus

    app_command = [str(c) for c in services["app"]["command"]]
    assert int(_flag(app_command, "--server.port")) in _exposed(services["app"])
    build = services["app"]["build"]
    assert (COMPOSE.parent / build["context"] / "app.py").is_file()
    assert "pip install -r requirements.txt && pip install -e ." in build["dockerfile_inline"]
    assert set(services["app"]["depends_on"]) == {"chroma", "vllm"}
