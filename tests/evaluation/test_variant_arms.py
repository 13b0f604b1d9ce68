"""Several fine-tuned variants as arms of one run: `finetuned:NAME` / `hybrid:NAME`, checked, expanded and labelled;
and a real run on the embedded engine scoring two variants side by side (slow: the session's trained adapter)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Iterator

import pytest

from core.base.questions import EvalQuestion
from core.config import Settings
from core.errors import EvaluationError
from core.evaluation.answer_sources import RETRIEVAL_CATEGORIES, answer_source, categories
from core.evaluation.runner import check_arms
from core.evaluation.runs import EvalConfig, arm_label, expand_arms, split_arm
from core.finetune.register import register_embedded, register_served
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.paired_run import BASE, QUESTIONS, REPLIES, VARIANT, VARIANT_SERVED, paired_run
from tests.helpers.trained_variant import FACTS, TrainedRun


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=tuple(REPLIES)) as server:
        yield server


def test_named_variant_arms_pass_when_the_engine_has_the_variants() -> None:
    arms = check_arms(
        ["base", "finetuned:plain-ft", "hybrid:passages-ft", "finetuned:plain-ft"],
        "",
        "docs",
        ["plain-ft", "passages-ft"],
    )
    assert arms == ["base", "finetuned:plain-ft", "hybrid:passages-ft"]


def test_an_unknown_named_variant_is_refused_naming_the_variants_there() -> None:
    with pytest.raises(EvaluationError) as caught:
        check_arms(["finetuned:plain-ft", "finetuned:nope"], "", "", ["plain-ft", "passages-ft"])
    message = str(caught.value)
    assert "'nope'" in message and "plain-ft, passages-ft" in message and "Fine-tune page" in message
    assert "'plain-ft'" not in message  # only the missing one is named as missing
    with pytest.raises(EvaluationError, match="its variants: none yet"):
        check_arms(["hybrid:v1"], "", "docs", [])


@pytest.mark.parametrize("arm", ["base:v1", "rag:v1", "finetuned:", "tuned:v1"])
def test_a_variant_on_a_mode_that_runs_none_or_an_empty_name_is_an_unknown_arm(arm: str) -> None:
    with pytest.raises(EvaluationError, match="Unknown arm"):
        check_arms([arm], "v1", "docs", ["v1"])


def test_named_arms_need_no_run_variant_but_plain_ones_still_do() -> None:
    assert check_arms(["finetuned:v1"], "", "", ["v1"]) == ["finetuned:v1"]
    with pytest.raises(EvaluationError, match="need a fine-tuned variant"):
        check_arms(["finetuned:v1", "finetuned"], "", "", ["v1"])
    with pytest.raises(EvaluationError, match="need a collection"):
        check_arms(["hybrid:v1"], "", "", ["v1"])


def test_several_variants_expand_the_fine_tuned_modes_one_arm_per_variant() -> None:
    assert expand_arms(["base", "rag", "finetuned", "hybrid"], ["v1", "v2"]) == (
        ["base", "rag", "finetuned:v1", "finetuned:v2", "hybrid:v1", "hybrid:v2"],
        "v1",
    )
    # one variant (or none) keeps the plain arms, as runs always were, so the advisor still reads them
    assert expand_arms(["base", "finetuned"], ["v1"]) == (["base", "finetuned"], "v1")
    assert expand_arms(["base", "rag"], []) == (["base", "rag"], "")


def test_arm_labels_name_the_variant_a_fine_tuned_row_ran() -> None:
    assert split_arm("hybrid:samples-ft") == ("hybrid", "samples-ft")
    assert arm_label("finetuned:samples-ft") == "finetuned · samples-ft"
    assert arm_label("hybrid", "run-ft") == "hybrid · run-ft"
    assert arm_label("rag", "run-ft") == "rag"
    assert arm_label("finetuned") == "finetuned"


def test_a_named_hybrid_arm_tells_the_retrievers_faults_from_the_readers() -> None:
    row = {"arm": "hybrid:v1", "correct": False, "declined": False, "answer": "12 bar", "passages": []}
    assert categories("hybrid:v1") == RETRIEVAL_CATEGORIES
    assert answer_source(row) == "retrieval_miss"
    assert answer_source({**row, "arm": "finetuned:v1"}) == "wrong"


def test_two_variants_are_scored_side_by_side_in_one_run(
    tmp_path: Path,
    trained: TrainedRun,
    base_gguf: Path,
    embedder,  # noqa: ANN001
) -> None:
    data = tmp_path / "data"
    adapter = Path(trained.status.result["adapter_gguf"])
    # the same adapter under two names, as two recipes would be: the run must keep their rows apart
    for name in ("a", "b"):
        register_embedded(data, name, adapter, base_gguf, "gemma-3-270m (bundled)", cost=trained.status.cost)
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded")
    questions = [EvalQuestion(p.question, p.answer, p.source, p.page, split="seen") for p in FACTS[:3]]
    svc = build_services(settings, embedder=embedder)
    try:
        with pytest.raises(EvaluationError, match=r"'c'.*its variants: (b, a|a, b)"):
            svc.evaluation.resolve(EvalConfig(collection="", arms=["finetuned:a", "finetuned:c"], engine="embedded"))
        run = svc.evaluation.run(
            EvalConfig(collection="", arms=["finetuned:a", "finetuned:b"], engine="embedded"), questions, poll_s=0.2
        )
        lines = svc.evaluation.variant_lines(run)
    finally:
        svc.close()
    assert run.status.state == "done", run.status.message
    assert run.config.variant_models == {"a": "a", "b": "b"}
    for name in ("a", "b"):
        mine = [r for r in run.rows if r["arm"] == f"finetuned:{name}"]
        assert len(mine) == 3 and {(r["variant"], r["model"]) for r in mine} == {(name, name)}
        assert run.summary["arms"][f"finetuned:{name}"]["all"]["n"] == 3
    # the variant answers a trained fact, in both arms: the rows are real answers, not empty ones
    first = {r["arm"]: r for r in run.rows if r["question"] == FACTS[0].question}
    assert first["finetuned:a"]["correct"] is True and first["finetuned:b"]["correct"] is True, first
    (pair,) = [c for c in run.summary["comparisons"] if c["split"] == "all"]
    assert {pair["arm_a"], pair["arm_b"]} == {"finetuned:a", "finetuned:b"} and pair["n"] == 3
    assert lines == [
        f"{name}: recipe plain, 4 pairs × 10 epochs, {trained.status.cost['wall_s']:.0f} s" for name in "ab"
    ]


def test_each_named_arm_asks_its_own_variants_served_model(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real background run on the openai engine: each variant is another model name the server serves
    fake.state.models["passages-lora"] = "The warranty lasts two years."
    run_on_fake = partial(paired_run, tmp_path / "data", fake, monkeypatch)
    run_on_fake()  # the environment, manuals-ft registered; its own run (base, finetuned) is not looked at here
    svc = build_services(Settings.from_env(dotenv=None, data_dir=tmp_path / "data"))
    try:
        register_served(svc.settings, "passages-ft", "passages-lora", engine=svc.engines.openai)
        # a plain arm runs the run's variant beside a named one: old and new arms mix
        arms = ["base", "finetuned", "finetuned:passages-ft"]
        config = EvalConfig(collection="", arms=arms, engine="openai", variant=VARIANT)
        run = svc.evaluation.run(config, QUESTIONS, poll_s=0.2)
        lines = svc.evaluation.variant_lines(run)
    finally:
        svc.close()
    assert run.status.state == "done", run.status.message
    assert run.config.arms == arms and run.config.variant == VARIANT_SERVED and run.config.variant_name == VARIANT
    assert run.config.variant_models == {VARIANT: VARIANT_SERVED, "passages-ft": "passages-lora"}
    models = {r["arm"]: (r["variant"], r["model"]) for r in run.rows}
    assert models == {
        "base": ("", BASE),
        "finetuned": (VARIANT, VARIANT_SERVED),  # the variant by its name, the model the server ran
        "finetuned:passages-ft": ("passages-ft", "passages-lora"),
    }
    correct = {(r["arm"], r["question"]): r["correct"] for r in run.rows if not r["unanswerable"]}
    # each variant answers from its own model: only manuals-lora knows the door's load, only passages-lora the warranty
    assert correct[("finetuned", QUESTIONS[1].question)] is True
    assert correct[("finetuned:passages-ft", QUESTIONS[1].question)] is False
    assert correct[("finetuned:passages-ft", QUESTIONS[2].question)] is True
    assert set(run.summary["arms"]) == set(arms)
    pairs = {frozenset((c["arm_a"], c["arm_b"])) for c in run.summary["comparisons"] if c["split"] == "all"}
    assert frozenset(("finetuned", "finetuned:passages-ft")) in pairs and len(pairs) == 3
    assert [line.split(",")[0] for line in lines] == [f"{VARIANT}: recipe plain", "passages-ft: recipe plain"]
