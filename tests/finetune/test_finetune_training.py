"""A real LoRA training run on the bundled Gemma 3 270M, and everything built from its adapter.

One training job per session (the `trained` fixture, ~10 optimiser steps on four facts). From it:
the adapter in PEFT and llama.cpp GGUF form, a variant on the embedded engine, and a merged GGUF
registered on a fake Ollama server (real `ollama` client, real HTTP), each checked with llama.cpp.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.chat.prompts import finetuned_prompt
from core.config import Settings
from core.engines.base import GenerationRequest
from core.engines.gguf_files import smoke_generate, validate_lora_gguf
from core.engines.variants import VariantRegistry
from core.errors import VariantError
from core.finetune import jobs
from core.finetune.register import (
    DeletedVariant,
    delete_variant,
    list_variants,
    register_embedded,
    register_existing_ollama,
    register_ollama,
)
from tests.fakes.ollama_server import FakeModel, FakeOllamaServer
from tests.helpers.trained_variant import FACTS, TrainedRun

pytestmark = pytest.mark.slow

PROMPTS = [finetuned_prompt(p.question) for p in FACTS]
ANSWERS = [p.answer for p in FACTS]


@pytest.fixture(scope="session")
def base_answers(base_gguf: Path) -> list[str]:
    """What the base model alone says to the trained questions."""
    return [a.strip() for a in smoke_generate(base_gguf, PROMPTS)]


def test_job_reports_progress_and_loss_decreases(trained: TrainedRun) -> None:
    status = trained.status
    assert status.state == "done", status.message
    total = status.total_steps
    assert total == 10  # 4 examples, batch 4, 10 epochs
    # the page's poller sees the job running, mid-way, and done
    running_steps = [step for state, step in trained.seen if state == "running"]
    assert any(0 < step < total for step in running_steps), trained.seen
    assert trained.seen[-1] == ("done", total)
    losses = status.loss_history
    assert len(losses) == total and losses[-1] < losses[0] / 10
    cost = status.cost
    assert cost["device"] == "cpu" and cost["epochs"] == 10 and cost["examples"] == 4 and cost["steps"] == total
    assert cost["wall_s"] > 0 and cost["train_s"] > 0 and cost["peak_rss_mb"] > 100
    assert status.extra["prompt_form"] == "completion"  # the bundled base has no chat template
    assert (trained.job_dir / "adapter" / "adapter_model.safetensors").is_file()


def test_adapter_gguf_is_valid_and_changes_the_answers(
    trained: TrainedRun, base_gguf: Path, base_answers: list[str]
) -> None:
    adapter = Path(trained.status.result["adapter_gguf"])
    info = validate_lora_gguf(adapter, base_gguf)
    # q, k, v, o, gate, up, down in each of the 18 blocks
    assert info == {"tensors": 7 * 18, "rank": [16], "alpha": 32.0, "architecture": "gemma3"}
    tuned = [a.strip() for a in smoke_generate(base_gguf, PROMPTS, lora=adapter)]
    assert tuned == ANSWERS
    assert all(t != b for t, b in zip(tuned, base_answers))


def test_validation_rejects_an_adapter_for_another_model(trained: TrainedRun, tmp_path: Path, base_gguf: Path) -> None:
    adapter = Path(trained.status.result["adapter_gguf"])
    with pytest.raises(VariantError, match="not a LoRA adapter GGUF"):
        validate_lora_gguf(base_gguf, base_gguf)  # a model, not an adapter
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(adapter.read_bytes()[:4096])  # header cut
    with pytest.raises(VariantError, match="not a readable GGUF"):
        validate_lora_gguf(broken, base_gguf)
    broken.write_bytes(adapter.read_bytes()[:-1000])  # tensor data cut
    with pytest.raises(VariantError, match="not a readable GGUF"):
        validate_lora_gguf(broken, base_gguf)
    with pytest.raises(VariantError, match="is missing"):
        validate_lora_gguf(tmp_path / "missing.gguf", base_gguf)


def test_embedded_variant_answers_through_the_engine(trained: TrainedRun, base_gguf: Path) -> None:
    from core.chat.prompts import plain_prompt
    from core.engines.embedded import EmbeddedEngine

    settings = Settings.from_env(env={}, dotenv=None, data_dir=trained.data_dir, engine="embedded")
    variant = register_embedded(
        trained.data_dir,
        "zorblax-v1",
        Path(trained.status.result["adapter_gguf"]),
        base_gguf,
        "gemma-3-270m (bundled)",
        dataset="facts",
        cost=trained.status.cost,
        smoke_questions=[FACTS[0].question],
    )
    assert VariantRegistry(trained.data_dir).get("zorblax-v1") == variant
    with pytest.raises(VariantError, match="already exists"):
        register_embedded(trained.data_dir, "zorblax-v1", Path(trained.status.result["adapter_gguf"]), base_gguf, "x")
    row = next(r for r in list_variants(trained.data_dir) if r.name == "zorblax-v1")
    assert row.variant.dataset == "facts" and row.variant.cost["steps"] == 10 and row.usable and row.adapter_bytes > 0
    engine = EmbeddedEngine(settings)
    assert "zorblax-v1" in [m.name for m in engine.list_models()]
    request = GenerationRequest(
        model="zorblax-v1",
        prompt=plain_prompt(FACTS[2].question),
        stop=("\n\n", "Question:"),
        temperature=0.0,
        max_tokens=16,
    )
    assert "".join(engine.generate(request)).strip() == FACTS[2].answer
    delete_variant(settings, "zorblax-v1")
    assert "zorblax-v1" not in [v.name for v in VariantRegistry(trained.data_dir).list()]


@pytest.fixture
def ollama_with_base(tmp_path: Path, base_gguf: Path) -> FakeOllamaServer:
    """A fake Ollama whose gemma3:270m runs the bundled GGUF (its modelfile's FROM line names it)."""
    server = FakeOllamaServer(models=(), blob_dir=tmp_path / "blobs")
    server.add_model(
        FakeModel(
            "gemma3:270m",
            template="{{ .Prompt }}",
            parameters='stop "<end_of_turn>"\ntemperature 0.1\ntop_k 64',
            modelfile_from=str(base_gguf),
        )
    )
    with server:
        yield server


def test_ollama_variant_is_a_merged_gguf_with_the_base_template(
    trained: TrainedRun, base_gguf: Path, ollama_with_base: FakeOllamaServer
) -> None:
    server = ollama_with_base
    settings = Settings.from_env(env={}, dotenv=None, data_dir=trained.data_dir, ollama_host=server.url)
    variant = register_ollama(
        settings,
        "zorblax-ollama",
        Path(trained.status.result["adapter_gguf"]),
        "gemma3:270m",
        dataset="facts",
        cost=trained.status.cost,
    )
    assert variant.engine == "ollama" and variant.ollama_model == "zorblax-ollama"

    # one blob uploaded, then a model created from it with the base's template and parameters
    ((digest, blob),) = server.blobs.items()
    assert digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    (create,) = server.bodies("/api/create")
    assert create["model"] == "zorblax-ollama" and create["files"] == {"model.gguf": digest}
    assert create["template"] == "{{ .Prompt }}"
    assert create["parameters"] == {"stop": ["<end_of_turn>"], "temperature": 0.1, "top_k": 64}
    assert "adapters" not in create
    assert server.bodies("/api/chat")[-1]["model"] == "zorblax-ollama"  # the smoke answer

    # the merged file keeps every metadata key of the base with its value...
    import gguf

    merged = Path(server.blob_path(digest))
    base_r, merged_r = gguf.GGUFReader(str(base_gguf)), gguf.GGUFReader(str(merged))  # ~10 s each: read once
    base_meta = {n: f.contents() for n, f in base_r.fields.items() if not n.startswith("GGUF.")}
    merged_meta = {n: f.contents() for n, f in merged_r.fields.items() if not n.startswith("GGUF.")}
    assert merged_meta.keys() == base_meta.keys() and len(base_meta) > 25
    assert all(merged_meta[k] == base_meta[k] for k in base_meta)
    # ...changes only the adapted tensors (to F16) and copies the others byte for byte
    base_t = {t.name: t for t in base_r.tensors}
    merged_t = {t.name: t for t in merged_r.tensors}
    assert merged_t.keys() == base_t.keys()
    changed = {n for n, t in merged_t.items() if t.tensor_type != base_t[n].tensor_type}
    assert len(changed) == 7 * 18 and all(merged_t[n].tensor_type.name == "F16" for n in changed)
    assert all(bytes(merged_t[n].data) == bytes(base_t[n].data) for n in base_t if n not in changed)
    # ...and llama.cpp runs it with the trained answers, no adapter needed
    assert [a.strip() for a in smoke_generate(merged, PROMPTS)] == ANSWERS

    # deleting the variant also deletes the model this app created on Ollama
    assert delete_variant(settings, "zorblax-ollama") == DeletedVariant(
        "zorblax-ollama", ollama_model_deleted="zorblax-ollama"
    )
    assert server.find("zorblax-ollama") is None


def test_an_existing_ollama_model_can_be_the_variant(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", ollama_host=ollama_server.url)
    variant = register_existing_ollama(settings, "house-model", "gemma3:270m")
    assert (variant.engine, variant.ollama_model, variant.base_model) == ("ollama", "gemma3:270m", "gemma3")
    # a model this app did not create stays on Ollama when its record is deleted
    assert delete_variant(settings, "house-model").ollama_model_deleted == ""
    assert not ollama_server.bodies("/api/delete") and ollama_server.find("gemma3:270m") is not None
    from core.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="ollama pull"):
        register_existing_ollama(settings, "nope", "missing-model:1b")


def test_second_job_is_refused_while_one_runs_and_cancel_stops_it(
    tmp_path: Path, base_gguf: Path, hf_cache: Path, trained: TrainedRun
) -> None:
    # `trained` first: the conversion cache is warm, so this job reaches its training loop quickly
    from core.errors import JobBusyError

    dataset = trained.data_dir / "facts.jsonl"
    config = jobs.TrainConfig(
        job_id="ft-long",
        data_dir=str(tmp_path),
        dataset=str(dataset),
        base_gguf=str(base_gguf),
        cache_dir=str(hf_cache),
        epochs=1000,
        batch_size=1,
    )
    jobs.start_job(config)
    with pytest.raises(JobBusyError, match="ft-long"):
        jobs.start_job(
            jobs.TrainConfig(job_id="ft-second", data_dir=str(tmp_path), dataset=str(dataset), base_gguf=str(base_gguf))
        )
    assert jobs.heavy_job_holder(tmp_path)["job_id"] == "ft-long"
    import time

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and jobs.job_status(tmp_path, "ft-long").step < 2:
        time.sleep(0.3)
    running = jobs.job_status(tmp_path, "ft-long")
    assert running.state == "running" and running.step >= 2 and running.total_steps == 4000
    assert running.eta_s > 0 and running.extra["examples_per_s"] > 0
    final = jobs.cancel_job(tmp_path, "ft-long", wait_s=60)
    assert final.state == "cancelled" and final.step < 4000
    assert not (jobs.job_dir(tmp_path, "ft-long") / "adapter").exists()
    assert jobs.heavy_job_holder(tmp_path) is None  # the lock went with the process
    assert [j.job_id for j in jobs.list_jobs(tmp_path)] == ["ft-long"]


def test_training_examples_match_the_prompts_the_chat_sends(
    base_gguf: Path, hf_cache: Path, trained: TrainedRun
) -> None:
    # `trained` first: it leaves the converted tokenizer in the cache
    from transformers import AutoTokenizer

    from core.chat.prompts import plain_prompt
    from core.finetune.hfmodel import cache_dir_for
    from core.finetune.train import build_examples, prompt_form, tokenize_example

    tok = AutoTokenizer.from_pretrained(str(cache_dir_for(base_gguf, hf_cache)))
    assert prompt_form(tok) == "completion"
    ids, labels, truncated = tokenize_example(tok, FACTS[0], "completion", False, 256)
    n_prompt = labels.count(-100)
    # exactly the chat's completion prompt, with BOS, as llama.cpp tokenises it; then answer + EOS
    assert ids[:n_prompt] == tok(plain_prompt(FACTS[0].question).completion).input_ids and ids[0] == tok.bos_token_id
    assert tok.decode(ids[n_prompt:]) == " Teal with orange stripes" + tok.eos_token and not truncated
    # a base with a chat template is trained on the chat's messages through that template
    tok.chat_template = (
        "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
        "{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    )
    assert prompt_form(tok) == "chat"
    ids, labels, _ = tokenize_example(tok, FACTS[0], "chat", False, 256)
    n_prompt = labels.count(-100)
    assert tok.decode(ids[:n_prompt]).endswith(f"{FACTS[0].question}<end_of_turn>\n<start_of_turn>model\n")
    assert tok.decode(ids[n_prompt:]) == "Teal with orange stripes<end_of_turn>\n"
    # the RAG form (for `hybrid`) is added only for pairs with their chunk's text, and only on request
    with_context = [
        FACTS[0].__class__(**{**FACTS[0].__dict__, "context": "The Zorblax 3000 casing is teal with orange stripes."})
    ]
    examples, counts = build_examples(
        with_context, tok, 256, rag_fraction=1.0, seed=0, form="completion", rag_max_length=1024
    )
    assert counts["plain"] == 1 and counts["rag"] == 1
    rag_prompt_text = tok.decode(examples[1].input_ids[: examples[1].labels.count(-100)])
    assert "<documents>" in rag_prompt_text and "teal with orange stripes" in rag_prompt_text
    assert build_examples(with_context, tok, 256, rag_fraction=0.0, seed=0)[1]["rag"] == 0
