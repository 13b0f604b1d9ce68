"""The fine-tune service: training-set generation as a real background job against the Ollama-protocol server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import CollectionNotFoundError, FineTuneError
from core.index.embeddings import SentenceTransformerEmbedder
from core.library.service import UploadedFile
from core.services import Services, build_services
from tests.fakes.ollama_server import FakeOllamaServer

DOC = "\n\n".join(
    f"Section {i}. The Zorblax {i} casing is teal and it weighs {i + 3} kilograms. "
    "The warranty lasts seven years and covers the valve, the pump and the casing."
    for i in range(12)
)
REPLY = (
    '[{"question": "What colour is the Zorblax casing?", "answer": "teal"}, '
    '{"question": "How long is the warranty?", "answer": "seven years"}]'
)


@pytest.fixture
def svc(tmp_path: Path, ollama_server: FakeOllamaServer, embedder: SentenceTransformerEmbedder) -> Services:
    ollama_server.find("gemma3:270m").reply = REPLY  # type: ignore[union-attr]
    settings = Settings.from_env(
        env={},
        dotenv=None,
        data_dir=tmp_path / "data",
        engine="ollama",
        ollama_host=ollama_server.url,
        chunk_size=200,
        chunk_overlap=0,
    )
    services = build_services(settings, embedder=embedder)
    (result,) = services.library.ingest("zorblax", [UploadedFile("zorblax.txt", DOC.encode())])
    assert result.status == "indexed"
    yield services
    services.close()


def test_generation_runs_as_a_job_and_saves_the_training_set(svc: Services, ollama_server: FakeOllamaServer) -> None:
    ft = svc.finetune
    job_id = ft.start_generation("zorblax", "zorblax-qa", engine="ollama")
    assert ft.running_job() is not None and ft.running_job().job_id == job_id  # type: ignore[union-attr]
    seen_steps = set()
    deadline = time.monotonic() + 120
    while not (status := ft.job_status(job_id)).terminal and time.monotonic() < deadline:
        seen_steps.add(status.step)
        time.sleep(0.1)
    assert status.state == "done", status.message
    assert status.result["training_set"] == "zorblax-qa" and "training pairs" in status.message
    info = ft.training_set("zorblax-qa")
    assert (
        info.meta["collection"] == "zorblax"
        and info.meta["generator_model"] == "gemma3:270m"
        and info.meta["engine"] == "ollama"
    )
    assert info.stats.train_pairs >= 1 and info.stats.llm_calls > 1
    assert {p.answer for p in ft.training_pairs("zorblax-qa")} <= {"teal", "seven years"}
    # the questions were written by the model through /api/chat, from the job process
    assert any("Zorblax" in b["messages"][-1]["content"] for b in ollama_server.bodies("/api/chat"))
    assert ft.running_job() is None


def test_training_config_resolves_defaults_and_the_alpha_rule(svc: Services, tmp_path: Path) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    config = svc.finetune.training_config(
        "zorblax-qa", engine="embedded", base_gguf=base, base_model="b", lora_r=8, variant_name="z-ft"
    )
    assert config.lora_alpha == 16 and config.lora_r == 8  # alpha follows the rank (2 × r) unless given
    assert config.dataset.endswith("finetune/datasets/zorblax-qa") and config.register["name"] == "z-ft"  # type: ignore[index]
    assert svc.finetune.training_config("x", base_gguf=base, lora_r=8, lora_alpha=8).lora_alpha == 8


@pytest.mark.parametrize("name", ["docs", "tests", "data"])
def test_a_dataset_name_is_never_read_from_a_folder_of_the_working_directory(
    svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    work = tmp_path / "work"
    (work / name).mkdir(parents=True)
    (work / name / "train.jsonl").write_text('{"question": "q?", "answer": "a"}\n', encoding="utf-8")
    monkeypatch.chdir(work)
    config = svc.finetune.training_config(name, base_gguf=base, lora_r=8)
    assert Path(config.dataset) == svc.settings.data_dir / "finetune" / "datasets" / name
    with pytest.raises(FineTuneError, match=f"training set .*datasets/{name} does not exist"):
        svc.finetune.start_training(name, base_gguf=base, lora_r=8)  # not trained on ./{name}
    # Said as a path, the folder is meant.
    assert Path(svc.finetune.training_config(f"./{name}", base_gguf=base).dataset) == Path(f"./{name}")


def test_generation_refuses_a_missing_collection_before_starting(svc: Services) -> None:
    with pytest.raises(CollectionNotFoundError):
        svc.finetune.start_generation("nope", "x")
    assert svc.finetune.generation_jobs() == []
