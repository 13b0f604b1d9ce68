"""The report's evidence sections, read by the advisor service from one fixed saved run: where the answers came from
(per mode and split, a table and in the HTML a stacked bar), how sure they were (per mode, with the run's threshold,
and in the HTML a reliability diagram), the question set's halves with what each asks, and each variant's recipe.

The run is written by hand as the app saves it (config.json with its threshold, status, summary.json holding every
figure), and its two variants are registered with their recipes, so every count in the report is known in advance.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.advisor.advice import ArmScore, Criteria, Evidence, advise, report_markdown
from core.advisor.costs import Volume
from core.advisor.report_html import report_html
from core.advisor.service import Advised, AdvisorService
from core.base.jobs import StatusWriter
from core.config import Settings
from core.engines.variants import Variant, VariantRegistry
from core.evaluation.answer_sources import diagnosis
from core.evaluation.runs import EvalConfig, run_dir
from core.services import build_services
from tests.advisor.test_costs import write_run

RUN_ID = "ev-20261207-100000-5e55"
ARMS = ["base", "rag", "finetuned:v1", "hybrid:v1", "hybrid:v2"]
TEAM = Criteria(team_skills="mixed", data_changes="monthly", budget="medium", hardware="gpu", labelled_pairs=500)
# right answers per arm on the three halves, 8 answerable questions each
RIGHT = {
    "base": (2, 1, 1),
    "rag": (5, 5, 6),
    "finetuned:v1": (8, 4, 0),
    "hybrid:v1": (6, 5, 5),
    "hybrid:v2": (8, 7, 7),
}
HALVES = ("verbatim", "reworded", "new")
# each arm's median whole-answer time as saved (the run kept no rows: the costs read these)
P50_MS = {"base": 300.0, "rag": 1000.0, "finetuned:v1": 400.0, "hybrid:v1": 3000.0, "hybrid:v2": 1500.0}
R = ("right_supported", "right_unsupported", "misread", "retrieval_miss", "declined", "no_answer")
P = ("right", "wrong", "declined", "no_answer")
COUNTS = {
    "rag": {
        "all": dict(zip(R, (14, 2, 5, 3, 0, 0))),
        "verbatim": dict(zip(R, (4, 1, 2, 1, 0, 0))),
        "reworded": dict(zip(R, (4, 1, 2, 1, 0, 0))),
        "new": dict(zip(R, (6, 0, 1, 1, 0, 0))),
    },
    "finetuned:v1": {
        "all": dict(zip(P, (12, 11, 1, 0))),
        "verbatim": dict(zip(P, (8, 0, 0, 0))),
        "reworded": dict(zip(P, (4, 3, 1, 0))),
        "new": dict(zip(P, (0, 8, 0, 0))),
    },
}


def band(low: float, n: int, mean: float | None, right: float | None) -> dict[str, Any]:
    return {"low": low, "high": round(low + 0.2, 1), "n": n, "mean_confidence": mean, "right": right}


def sure(
    right: int, marked: int, marked_right: int, auroc: float | None, bands: list[dict[str, Any]]
) -> dict[str, Any]:
    """An arm's confidence figures as a run saves them, on 24 answerable questions."""
    return {
        "answerable": 24,
        "accuracy": {"k": right, "n": 24},
        "sure_share": {"k": marked, "n": 24},
        "selective_accuracy": {"k": marked_right, "n": marked},
        "confidently_wrong": {"k": marked - marked_right, "n": 24},
        "auroc": auroc,
        "auroc_n": sum(b["n"] for b in bands),
        "reliability": bands,
    }


CONFIDENCE = {
    "rag": sure(16, 18, 14, 0.74, [band(0.0, 0, None, None), band(0.2, 4, 0.3, 0.25), band(0.4, 2, 0.5, 0.5),
                                   band(0.6, 8, 0.7, 0.625), band(0.8, 10, 0.9, 0.9)]),
    "hybrid:v2": sure(22, 20, 19, 0.8, [band(0.6, 4, 0.7, 0.75), band(0.8, 20, 0.92, 0.95)]),
    "base": sure(4, 24, 4, None, []),  # no answer carried a confidence
}  # fmt: skip


def summary() -> dict[str, Any]:
    """The run's summary.json: the grid, the paired comparison of the two hybrid variants, sources, confidence."""
    arms = {
        arm: {"all": {"n": 24, "answerable": 24, "correct": sum(right) / 24, "total_p50_ms": P50_MS[arm]}}
        | {h: {"n": 8, "answerable": 8, "correct": k / 8} for h, k in zip(HALVES, right)}
        for arm, right in RIGHT.items()
    }
    # hybrid:v2 right on 22, hybrid:v1 on 16 of the same 24 questions, every disagreement going v2's way
    pair = {"arm_a": "hybrid:v2", "arm_b": "hybrid:v1", "split": "all", "n": 24, "a_right": 22, "only_a": 6}
    return {
        "arms": arms,
        "by_source": {},
        "intervals": {"method": "Wilson score interval", "confidence": 0.95},
        "comparisons": [pair | {"only_b": 0}],
        "answer_sources": {"counts": COUNTS},
        "confidence": CONFIDENCE,
        "confidence_threshold": {"value": 0.6, "from": "run"},
        "complete": True,
    }


@pytest.fixture
def advisor(tmp_path: Path) -> Iterator[AdvisorService]:
    data = tmp_path / "data"
    folder = run_dir(data, RUN_ID)
    folder.mkdir(parents=True)
    config = EvalConfig(
        "manuals",
        ARMS,
        engine="openai",
        variant_models={"v1": "v1-lora", "v2": "v2-lora"},
        confidence_threshold=0.6,
        run_id=RUN_ID,
        data_dir=str(data),
    )
    questions = [{"question": f"Q{i}?", "answer": f"A{i}", "split": HALVES[i // 8]} for i in range(24)]
    (folder / "config.json").write_text(json.dumps({**asdict(config), "questions": questions}))
    (folder / "summary.json").write_text(json.dumps(summary()))
    StatusWriter(
        folder / "status.json",
        {"job_id": RUN_ID, "kind": "evaluation", "state": "done", "created": time.time(), "step": 120},
    ).update()
    registry = VariantRegistry(data)
    for name, recipe, seconds in (("v1", "plain", 119), ("v2", "read-passages", 140)):
        cost = {"pairs": 30, "epochs": 10, "wall_s": seconds}
        registry.register(Variant(name, "openai", "gemma", served_model=f"{name}-lora", cost=cost, recipe=recipe))
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data, confidence_threshold=0.5))
    try:
        yield svc.advisor
    finally:
        svc.close()


@pytest.fixture
def advised(advisor: AdvisorService) -> Advised:
    return advisor.advise(TEAM)


def section(text: str, title: str) -> str:
    """One section of the Markdown report, up to the next heading of the same or a higher level."""
    level = title.split(" ")[0]
    body = text.split(f"{title}\n")[1]
    ends = [body.index(f"\n{mark} ") for mark in ("#" * n for n in range(1, len(level) + 1)) if f"\n{mark} " in body]
    return body[: min(ends)] if ends else body


def test_where_the_answers_came_from_counts_each_mode_per_split(advised: Advised) -> None:
    part = section(advised.markdown, "## Where the answers came from")
    head = "| mode | questions | right, from a passage | right, from the weights | right | misread | missed | wrong |"
    assert head + " declined | no answer |" in part
    for row in (
        "| rag | all questions | 14 | 2 | – | 5 | 3 | – | 0 | 0 |",
        "| rag | trained questions, word for word | 4 | 1 | – | 2 | 1 | – | 0 | 0 |",
        "| rag | new documents | 6 | 0 | – | 1 | 1 | – | 0 | 0 |",
        "| finetuned · v1 | all questions | – | – | 12 | – | – | 11 | 1 | 0 |",
        "| finetuned · v1 | new documents | – | – | 0 | – | – | 8 | 0 | 0 |",
    ):
        assert row in part
    assert len([line for line in part.splitlines() if line.startswith("| rag |")]) == 4  # all, then the three halves
    # the run's own sentences, the named hybrid arm with none (the run saved no counts for it)
    assert "- rag: 5 of 8 wrong answers had the answer in a retrieved passage — the model misread them" in part
    assert "hybrid" not in part.split("| mode |")[0]
    # the HTML draws one stacked bar per row of the table, each segment titled with its count
    page = advised.html
    bars = page[
        page.index('aria-label="Where each mode') : page.index("</svg>", page.index('aria-label="Where each mode'))
    ]
    assert bars.count("answers</text>") == 8 and bars.count(">24 answers</text>") == 2
    assert "<title>misread: 5 of 24</title>" in bars and "<title>wrong: 8 of 8</title>" in bars


def test_how_sure_the_answers_were_lists_every_mode_at_the_runs_threshold(advised: Advised) -> None:
    part = section(advised.markdown, "## How sure the answers were")
    rows = {line.split(" | ")[0][2:]: line for line in part.splitlines() if line.startswith("| ") and "---" not in line}
    assert list(rows) == ["mode", "RAG (rag)", "Hybrid (hybrid · v2)", "base"]  # the weighed arms, then the others
    assert "| 18 of 24 | 14/18 · 78% (" in rows["RAG (rag)"] and rows["RAG (rag)"].endswith("| 4 of 24 | 0.74 |")
    assert rows["Hybrid (hybrid · v2)"].endswith("| 1 of 24 | 0.80 |")
    assert rows["base"].startswith("| base | 4/24 · 17% (") and rows["base"].endswith("| 20 of 24 | – |")
    assert "Answers were marked unsure below a confidence of 0.6 (saved with the run)." in part
    assert "No answer of base carried a confidence" in part
    settings = section(advised.markdown, "### How the run was made")
    assert "| confidence threshold (unsure below) | 0.6 (saved with the run) |" in settings
    # the reliability diagram: a dot per band that holds answers (4 of rag's, 2 of hybrid · v2's), base has none
    page = advised.html
    start = page.index('aria-label="Reliability diagram')
    diagram = page[start : page.index("</svg>", start)]
    assert diagram.count("<circle") == 6 and ">rag</text>" in diagram and ">hybrid · v2</text>" in diagram
    assert "rag, confidence 0.8–1: 10 answers, 90% right" in diagram and "base" not in diagram


def test_the_halves_are_named_with_what_they_ask_and_each_variant_with_its_recipe(advised: Advised) -> None:
    asked = section(advised.markdown, "### What the questions asked")
    assert asked.strip().splitlines() == [
        "- **trained questions, word for word** (8 answerable questions): memorisation",
        "- **trained facts, reworded** (8 answerable questions): knowledge of the trained facts",
        "- **new documents** (8 answerable questions): documents the fine-tune never saw",
    ]
    variants = section(advised.markdown, "### The variants scored")
    assert variants.strip().splitlines() == [
        "- v1: recipe plain, 30 pairs × 10 epochs, 119 s",
        "- v2: recipe read-passages, 30 pairs × 10 epochs, 140 s",
    ]
    assert "<li>v2: recipe read-passages, 30 pairs × 10 epochs, 140 s</li>" in advised.html
    assert "<strong>trained facts, reworded</strong> (8 answerable questions)" in advised.html
    # the advice names the hybrid variant it weighs, with its recipe
    (note,) = [m for m in advised.advice.moves if m.name == "which hybrid variant"]
    assert note.reason.startswith(
        "Of the run's 2 hybrid variants, hybrid with variant v2 (recipe read-passages) is weighed for Hybrid: it leads "
        "hybrid with variant v1 (recipe plain), a clear difference (hybrid:v2 − hybrid:v1 on all questions: +25 points"
    )


def test_the_costs_time_the_variant_the_advice_weighs(advisor: AdvisorService) -> None:
    costs = advisor.advise(TEAM, volume=Volume(100, documents=10, document_pages=5)).costs
    assert costs is not None
    hybrid, finetuned = costs.rates.answer_s["hybrid"], costs.rates.answer_s["finetuned"]
    # hybrid:v2 is weighed (it led v1 on the same questions), so its answers time hybrid, not v1's 3 s
    assert hybrid.measured and hybrid.value == 1.5 and "median of the hybrid:v2 answers" in hybrid.source
    assert finetuned.measured and finetuned.value == 0.4 and "finetuned:v1" in finetuned.source


def test_a_run_saved_without_a_threshold_lists_the_settings_threshold_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_run(data, RUN_ID, time.time(), {"rag": [900.0] * 5})  # a config.json from before the threshold was kept
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data, confidence_threshold=0.55))
    try:
        advised = svc.advisor.advise(TEAM)
    finally:
        svc.close()
    settings = section(advised.markdown, "### How the run was made")
    said = "0.55 (DOMAINCHAT_CONFIDENCE_THRESHOLD now: the run saved none of its own)"
    assert f"| confidence threshold (unsure below) | {said} |" in settings
    # no mode of this run is fine-tuned, and its questions carry no halves: each section says so in one line
    assert section(advised.markdown, "### The variants scored").strip() == (
        "The run scored no fine-tuned variant: it had no finetuned or hybrid mode."
    )
    assert (
        section(advised.markdown, "### What the questions asked")
        .strip()
        .startswith("The run's questions carry no halves")
    )


def test_a_run_that_answered_no_answerable_question_says_so_instead_of_a_table_of_zeros() -> None:
    zeros = {"rag": {"all": dict.fromkeys(R, 0)}}
    e = Evidence((ArmScore("rag", "", 0.0, 0),), "run test", sources=zeros, diagnosis=diagnosis(zeros))
    report = report_markdown(TEAM, e, advise(TEAM, e))
    assert section(report, "## Where the answers came from").strip().splitlines() == [
        "- rag: no answerable question was asked.",
        "",
        "No answerable question was answered in this run, so no answer has a source to count.",
    ]
    page = report_html(TEAM, e, advise(TEAM, e), [])
    assert "Where each mode" not in page and "no answer has a source to count" in page
