"""The paraphrase recipe: each pair also trained under rewordings of its question, never an evaluation question."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.base.words import normalise_plain, terms
from core.config import Settings
from core.engines.variants import PARAPHRASE, PLAIN, READ_PASSAGES, Variant, VariantRegistry
from core.errors import FineTuneError
from core.finetune import dataset as ds
from core.finetune import jobs
from core.finetune.generation import REWORD_PRIMER, Generator, rewording_problem
from core.finetune.paraphrase import (
    EvaluationGuard,
    evaluation_rewordings,
    model_generator,
    paraphrase_pairs,
)
from core.finetune.qa_import import read_qa_file
from core.finetune.register import list_variants
from core.finetune.surface_rewordings import rule_rewordings
from core.finetune.train import PARAPHRASE_FILE
from core.library.samples import sample_qa_files
from core.services import build_services
from tests.fakes.ollama_server import FakeOllamaServer
from tests.helpers.finetune_cli import finetune_cli
from tests.helpers.trained_variant import FACTS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PAIRS = [p for f in sample_qa_files() for p in read_qa_file(f)]


# ---------------------------------------------------------------- rule-based rewordings


@pytest.mark.parametrize("pair", [*FACTS, *SAMPLE_PAIRS], ids=lambda p: p.question[:40])
def test_rule_rewordings_differ_from_the_question_and_keep_its_content_words(pair: ds.QAPair) -> None:
    made = rule_rewordings(pair.question)
    assert len(made) >= 2, "every question gets at least two rewordings"
    assert made == rule_rewordings(pair.question)  # deterministic: the same job trains the same examples
    content = set(terms(pair.question))
    for reworded in made:
        assert normalise_plain(reworded) != normalise_plain(pair.question)
        assert content <= set(terms(reworded)), (reworded, content - set(terms(reworded)))
        # the project's rewording check, at the training bar: other words, names and numbers kept, answer not given
        assert rewording_problem(pair.question, reworded, pair.answer, max_overlap=None) == "", reworded
    assert len({normalise_plain(r) for r in made}) == len(made)


def test_rule_rewordings_move_the_clause_and_ask_as_a_request() -> None:
    assert rule_rewordings("What is the maximum pressure of the Quibbleton valve?")[:2] == [
        "The Quibbleton valve: what is its maximum pressure?",
        "Tell me what the maximum pressure of the Quibbleton valve is.",
    ]
    assert rule_rewordings("Who invented the Quibbleton valve?")[:2] == [
        "Tell me who invented the Quibbleton valve.",
        "Which person invented the Quibbleton valve?",
    ]
    # a number closing the question is not a thing to move to the front; a modal keeps "what" from becoming "which"
    assert not any(r.startswith("15:") for r in rule_rewordings("How much sugar is taken under the rule of 15?"))
    assert "Which should you do when error code E9 appears?" not in rule_rewordings(
        "What should you do when error code E9 appears?"
    )


# ---------------------------------------------------------------- the training set of the recipe


def test_the_training_set_holds_each_pair_then_its_rewordings_with_the_same_answer() -> None:
    out, counts = paraphrase_pairs(FACTS, 2)
    assert (counts.pairs, counts.per_pair, counts.rewordings, counts.source) == (4, 2, 8, "rule-based")
    assert counts.pairs_without == counts.evaluation_dropped == counts.from_model == 0
    assert len(out) == 12
    for i, pair in enumerate(FACTS):
        original, *reworded = out[i * 3 : i * 3 + 3]
        assert original == pair  # the pair itself, as it was
        assert [r.rewords for r in reworded] == [pair.question] * 2
        assert {(r.answer, r.source, r.page, r.chunk_id) for r in reworded} == {
            (pair.answer, pair.source, pair.page, pair.chunk_id)
        }
        assert all(normalise_plain(r.question) != normalise_plain(pair.question) for r in reworded)
    assert len({normalise_plain(p.question) for p in out}) == len(out)


def _model(rewordings: dict[str, str]) -> Generator:
    """A generator that rewords as a model would: the JSON the reword prompt primes, for the question it names."""

    def generate(prompt: str) -> str:
        question = prompt.rsplit("Question: ", 1)[1].split("\n", 1)[0]
        return rewordings.get(question, "").removeprefix(REWORD_PRIMER) or "not JSON"

    return generate


def test_model_rewordings_come_first_and_checked_ones_are_topped_up_by_rules() -> None:
    colour, warranty = FACTS[0], FACTS[1]
    generate = _model(
        {
            colour.question: REWORD_PRIMER + 'Which shade does the Zorblax 3000 housing have?"}',
            # gives the answer away: the check refuses it, a rule-based rewording takes its place
            warranty.question: REWORD_PRIMER + 'Is the Zorblax 3000 guarantee Seven years and two months long?"}',
        }
    )
    out, counts = paraphrase_pairs(FACTS[:2], 1, generate=generate)
    assert [p.question for p in out] == [
        colour.question,
        "Which shade does the Zorblax 3000 housing have?",
        warranty.question,
        rule_rewordings(warranty.question)[0],
    ]
    assert (counts.from_model, counts.from_rules, counts.source) == (1, 1, "model and rule-based")
    assert counts.model_rejected == 1  # the warranty's reply (after its retry), counted once


def test_a_training_rewording_equal_to_an_evaluation_reworded_question_is_dropped() -> None:
    pair = FACTS[3]
    made = rule_rewordings(pair.question)
    first, second = made[:2]
    # the evaluation's reworded half holds the first rule rewording (other case and punctuation) and a near copy of
    # the second (one word changed): neither may be trained, nor a rewording sharing most of their words
    evaluation = [first.upper().rstrip("?"), second.replace("Tell me", "Say")]
    guard = EvaluationGuard(evaluation)
    out, counts = paraphrase_pairs([pair], 2, evaluation=evaluation)
    trained = [p.question for p in out[1:]]
    assert first not in trained and second not in trained and trained
    assert not any(guard.too_close(q) for q in trained)
    assert trained == [q for q in made if not guard.too_close(q)][:2]
    # fewer than two were left, so every rule rewording was tried: each one too close was dropped and counted
    assert len(trained) < 2 and counts.evaluation_dropped == sum(guard.too_close(q) for q in made) >= 2
    assert counts.evaluation_questions == 2 and counts.rewordings == len(trained)
    # a model's rewording is held to the same rule
    model_out, model_counts = paraphrase_pairs(
        [pair], 1, generate=_model({pair.question: REWORD_PRIMER + first + '"}'}), evaluation=[first]
    )
    assert first not in [p.question for p in model_out] and model_counts.evaluation_dropped >= 1


def test_sample_rewordings_never_train_a_question_of_the_reworded_half(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded")
    svc = build_services(settings)
    try:
        info = svc.finetune.import_samples("samples")
        base = tmp_path / "base.gguf"
        base.write_bytes(b"GGUF")
        config = svc.finetune.paraphrase_config(
            svc.finetune.training_config("samples", base_gguf=base, base_model="b"), 2
        )
    finally:
        svc.close()
    assert config.recipe == PARAPHRASE and config.rewordings_per_pair == 2
    assert config.rewording_model is None  # the bundled base model cannot reword: rule-based
    half = [q.question for q in ds.read_questions(info.path / ds.EVAL_REWORDED_FILE)]
    sample_files = [f.with_name(f.name.replace(".questions.", ".reworded.")) for f in sample_qa_files()]
    assert set(half) <= set(config.evaluation_rewordings)
    assert len(set(config.evaluation_rewordings)) == sum(1 for f in sample_files for _ in f.open()) == 45
    assert set(evaluation_rewordings(info.path)) == set(half)
    pairs = ds.load_training_pairs(info.path)
    out, counts = paraphrase_pairs(pairs, 2, evaluation=config.evaluation_rewordings)
    guard = EvaluationGuard(config.evaluation_rewordings)
    assert not any(guard.too_close(p.question) for p in out if p.rewords)
    # measured on the samples: two rule rewordings for each of the 30 training pairs, none near the reworded half
    assert counts.rewordings == len(out) - len(pairs) == 2 * len(pairs) and counts.evaluation_dropped == 0


def test_an_instruction_model_rewords_through_the_engine(tmp_path: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.find("gemma3:270m").reply = '{"question": "Which shade does the Zorblax 3000 housing have?"}'  # type: ignore[union-attr]
    settings = Settings.from_env(
        env={}, dotenv=None, data_dir=tmp_path / "data", engine="ollama", ollama_host=ollama_server.url
    )
    svc = build_services(settings)
    try:
        spec = svc.finetune.rewording_model()
    finally:
        svc.close()
    assert spec is not None and (spec["engine"], spec["model"]) == ("ollama", "gemma3:270m")
    out, counts = paraphrase_pairs(FACTS[:2], 1, generate=model_generator(spec))
    # the one reply fits the casing question; for the warranty question it drops the name, so rules step in
    assert out[1].question == "Which shade does the Zorblax 3000 housing have?"
    assert (counts.from_model, counts.from_rules) == (1, 1)
    asked = ollama_server.bodies("/api/generate") + ollama_server.bodies("/api/chat")
    assert asked and all("Rewrite each question" in json.dumps(body) for body in asked)


# ---------------------------------------------------------------- the recipe on the job and the variant


def test_a_training_config_with_rewordings_is_the_paraphrase_recipe_and_takes_one_recipe(tmp_path: Path) -> None:
    base, dataset = tmp_path / "base.gguf", ds.export_messages(FACTS, tmp_path / "facts.jsonl")
    base.write_bytes(b"GGUF")
    config = jobs.TrainConfig("ft-x", str(tmp_path), str(dataset), base_gguf=str(base), rewordings_per_pair=2)
    assert config.recipe == PARAPHRASE and jobs.RECIPES == (PLAIN, READ_PASSAGES, PARAPHRASE)
    with pytest.raises(FineTuneError, match="pick read-passages or paraphrase"):
        jobs.start_job(replace(config, passage_examples="x.jsonl"))


def test_a_paraphrase_variant_records_its_recipe_and_its_line_counts_the_rewordings(tmp_path: Path) -> None:
    rewordings: dict[str, Any] = {"pairs": 30, "rewordings": 60, "source": "rule-based", "evaluation_dropped": 0}
    cost: dict[str, Any] = {
        "wall_s": 150.2,
        "pairs": 30,
        "epochs": 10,
        "steps": 230,
        "examples": 90,
        "rewordings": rewordings,
    }
    registry = VariantRegistry(tmp_path)
    registry.register(Variant("para", "embedded", "gemma", adapter_file="adapter.gguf", cost=cost, recipe=PARAPHRASE))
    dropped = {**cost, "rewordings": {**rewordings, "rewordings": 57, "evaluation_dropped": 3}}
    registry.register(Variant("para-3", "embedded", "gemma", adapter_file="adapter.gguf", cost=dropped, recipe=""))
    (registry.folder("para-3") / "training.json").write_text(json.dumps({"config": {"rewordings_per_pair": 2}}))
    infos = {info.name: info for info in list_variants(tmp_path)}
    assert infos["para"].recipe == PARAPHRASE and infos["para"].to_dict()["recipe"] == PARAPHRASE
    assert infos["para"].recipe_line() == (
        "para: recipe paraphrase (2 rewordings per pair, rule-based), 30 pairs → 90 examples × 10 epochs, 150 s"
    )
    # a record without a recipe reads as its job's config; dropped evaluation questions are said in the line
    assert infos["para-3"].recipe == PARAPHRASE
    assert (
        infos["para-3"]
        .recipe_line()
        .startswith(
            "para-3: recipe paraphrase (1.9 rewordings per pair, rule-based, 3 dropped as evaluation questions)"
        )
    )


# ---------------------------------------------------------------- faces: the CLI and the page


@pytest.mark.slow
def test_cli_trains_a_paraphrase_variant_on_rule_based_rewordings(
    tmp_path: Path, base_gguf: Path, hf_cache: Path
) -> None:
    data = tmp_path / "data"
    qa = tmp_path / "facts.jsonl"
    qa.write_text(
        "".join(json.dumps({"question": p.question, "answer": p.answer, "source": p.source}) + "\n" for p in FACTS)
    )
    finetune_cli(data, "dataset", "--import", str(qa), "--name", "facts", "--new-fraction", "0")
    done = json.loads(
        finetune_cli(
            data,
            "train",
            "--dataset",
            "facts",
            "--base-gguf",
            str(base_gguf),
            "--base-model",
            "gemma-3-270m (bundled)",
            "--variant",
            "facts-para",
            "--recipe",
            "paraphrase",
            "--epochs",
            "1",
            "--max-steps",
            "1",
            "--cache-dir",
            str(hf_cache),
            "--wait",
        ).stdout
    )
    assert done["state"] == "done", done["message"]
    assert done["recipe"] == PARAPHRASE and done["rewordings"]["source"] == "rule-based"
    cost = done["cost"]
    assert cost["pairs"] == 4 and cost["example_counts"]["plain"] == 4 and cost["example_counts"]["reworded"] == 8
    assert cost["examples"] == 12 and cost["rewordings"]["rewordings"] == 8
    trained = ds.read_jsonl(data / "finetune" / "jobs" / done["job_id"] / PARAPHRASE_FILE)
    assert [row["rewords"] for row in trained if row["rewords"]] == [p.question for p in FACTS for _ in range(2)]
    (variant,) = json.loads(finetune_cli(data, "variants").stdout)
    assert variant["recipe"] == PARAPHRASE and variant["usable"]
    (info,) = list_variants(data)
    assert info.recipe_line().startswith(
        "facts-para: recipe paraphrase (2 rewordings per pair, rule-based), 4 pairs → 12 examples × 1 epochs"
    )


def test_fine_tune_page_offers_three_recipes_and_starts_a_paraphrase_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from core.finetune.qa_import import split_imported
    from core.finetune.service import RECIPE_TESTS

    data = tmp_path / "data"
    ds.save_training_set(data, "facts", split_imported(FACTS, ds.DatasetOptions(new_fraction=0.0)))
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.switch_page("pages/finetune.py")
    app.run()
    (recipe,) = [r for r in app.radio if r.label == "Recipe"]
    assert list(recipe.options) == ["plain", "read passages", "paraphrase"]
    # one sentence per recipe on what it tests
    assert list(recipe.proto.captions) == list(RECIPE_TESTS.values()) and all(
        "tests" in c for c in recipe.proto.captions
    )
    recipe.set_value("paraphrase")
    next(b for b in app.button if b.label == "Start training").click().run()
    assert not app.exception, app.exception
    (job,) = jobs.list_jobs(data)
    try:
        assert job.extra["recipe"] == PARAPHRASE
        config = jobs.TrainConfig.from_file(jobs.job_dir(data, job.job_id) / "config.json")
        assert config.rewordings_per_pair == 2 and config.rewording_model is None
    finally:
        jobs.cancel_job(data, job.job_id, wait_s=30)
    deadline = time.monotonic() + 30
    while not jobs.job_status(data, job.job_id).terminal and time.monotonic() < deadline:
        time.sleep(0.2)
