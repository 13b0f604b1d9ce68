"""The cost table: projections on fixed rates worked by hand, the static / fast-changing contrast, rates read from a
data directory written the way the app writes it, and estimates that name their assumption."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from core.advisor.advice import AdvisorInputError, Criteria, advise
from core.advisor.costs import MeasuredRates, Rate, Volume, cost_moves, costs_markdown, measured_rates, project
from core.base.files import write_json_atomic
from core.base.jobs import StatusWriter
from core.evaluation.document_update import RetrainCost, UpdateTestResult, results_dir
from core.evaluation.runs import EvalConfig, append_row, read_rows, run_dir
from core.evaluation.scoring import summarise
from core.finetune import jobs as training
from core.library.catalog import Catalog, DocumentRecord


def measured(value: float, unit: str, source: str = "hand-made") -> Rate:
    return Rate(value, unit, source, True)


def fixed_rates(**changes: object) -> MeasuredRates:
    """Round rates, all measured: rag 2.0 s, finetuned 0.5 s, hybrid 2.5 s an answer; 0.5 s a page; 10 pages/MB;
    2 chunks a page; 0.25 s per pair and epoch, 10 epochs, 50 s loading."""
    rates = MeasuredRates(
        answer_s={
            "rag": measured(2.0, "s", "run R"),
            "finetuned": measured(0.5, "s", "run R"),
            "hybrid": measured(2.5, "s", "run R"),
        },
        answer_p50_s={"rag": measured(1.8, "s"), "finetuned": measured(0.4, "s"), "hybrid": measured(2.2, "s")},
        answer_p95_s={"rag": measured(3.0, "s"), "finetuned": measured(0.9, "s"), "hybrid": measured(3.5, "s")},
        index_s_per_page=measured(0.5, "s/page", "update test U"),
        pages_per_mb=measured(10.0, "pages/MB", "catalog C"),
        chunks_per_page=measured(2.0, "chunks/page", "catalog C"),
        train_s_per_pair_epoch=measured(0.25, "s per pair and epoch", "training job T"),
        train_load_s=measured(50.0, "s per run", "training job T"),
        epochs=measured(10.0, "epochs", "training job T"),
        hardware="2-core x86_64 CPU",
    )
    return replace(rates, **changes)  # type: ignore[arg-type]


def test_hours_a_month_worked_by_hand() -> None:
    volume = Volume(
        questions_per_day=50,
        documents=40,
        document_pages=10,
        data_changes="weekly",
        changed_per_update=2,
        training_pairs=100,
        cpu_hour_price=0.5,
        gpu_hour_price=3.0,
    )
    table = project(volume, fixed_rates())
    rag, ft, hybrid = (table.approaches[a] for a in ("rag", "finetuning", "hybrid"))
    # 50 questions/day × 30 days × 2.0 s = 3000 s = 0.83 h
    assert rag["answer_hours_per_month"].value == pytest.approx(0.8333, abs=1e-4)
    assert ft["answer_hours_per_month"].value == pytest.approx(50 * 30 * 0.5 / 3600)
    assert hybrid["answer_hours_per_month"].value == pytest.approx(50 * 30 * 2.5 / 3600)
    # 52/12 changes a month × 2 documents × 10 pages × 0.5 s = 43.3 s
    assert rag["index_upkeep_hours_per_month"].value == pytest.approx(52 / 12 * 2 * 10 * 0.5 / 3600)
    # one training: 100 pairs × 10 epochs × 0.25 s + 50 s loading = 300 s; 52/12 of them a month = 1300 s
    assert ft["training_hours_once"].value == pytest.approx(300 / 3600)
    assert ft["variant_upkeep_hours_per_month"].value == pytest.approx(1300 / 3600)
    assert hybrid["variant_upkeep_hours_per_month"].value == ft["variant_upkeep_hours_per_month"].value
    # 40 documents × 10 pages × 0.5 s = 200 s, once
    assert rag["indexing_hours_once"].value == pytest.approx(200 / 3600)
    assert rag["total_hours_per_month"].value == pytest.approx((3000 + 52 / 12 * 10) / 3600)
    assert hybrid["total_hours_per_month"].value == pytest.approx((3750 + 52 / 12 * 10 + 1300) / 3600)
    # what does not apply is not in the table
    assert "variant_upkeep_hours_per_month" not in rag and "index_upkeep_hours_per_month" not in ft
    assert (ft["answer_p50_s"].value, ft["answer_p95_s"].value) == (0.4, 0.9)
    # money: answering and indexing on CPU at 0.5, training on GPU at 3.0 (the hours as measured on this CPU)
    assert rag["money_per_month"].value == pytest.approx((3000 + 52 / 12 * 10) / 3600 * 0.5)
    assert ft["money_per_month"].value == pytest.approx(750 / 3600 * 0.5 + 1300 / 3600 * 3.0)
    assert ft["money_once"].value == pytest.approx(300 / 3600 * 3.0)
    assert any("GPU hour price" in note and "upper bound" in note for note in table.notes)
    # every figure says where it came from and that it was measured
    assert rag["answer_hours_per_month"].measured and rag["answer_hours_per_month"].source == "run R"
    assert ft["training_hours_once"].source == "training job T"
    assert "50 questions/day × 30 days × 2 s" in rag["answer_hours_per_month"].how
    assert any("2-core x86_64 CPU" in note and "one question at a time" in note for note in table.notes)


def test_size_in_mb_becomes_pages_and_pairs_are_generated_from_chunks() -> None:
    table = project(Volume(10, documents=4, document_mb=2.0, data_changes="monthly"), fixed_rates())
    # 4 documents × 2 MB × 10 pages/MB × 2 chunks/page × 3 pairs/chunk = 480 pairs → 480 × 10 × 0.25 + 50 = 1250 s
    assert table.approaches["finetuning"]["training_hours_once"].value == pytest.approx(1250 / 3600)
    assert table.approaches["rag"]["indexing_hours_once"].value == pytest.approx(4 * 2 * 10 * 0.5 / 3600)
    assert "catalog C" in table.approaches["finetuning"]["training_hours_once"].source
    assert "money_per_month" not in table.approaches["rag"]  # no price given, no money


def test_static_corpus_and_few_questions_against_weekly_changes_and_many() -> None:
    rates = fixed_rates(pages_per_mb=measured(20.0, "pages/MB", "catalog C"))
    static = project(Volume(50, documents=40, document_mb=2, data_changes="static"), rates).approaches
    weekly = project(
        Volume(5000, documents=40, document_mb=2, data_changes="weekly", changed_per_update=4), rates
    ).approaches
    ft = static["finetuning"]
    assert ft["variant_upkeep_hours_per_month"].value == 0 == static["rag"]["index_upkeep_hours_per_month"].value
    assert ft["variant_upkeep_hours_per_month"].measured  # a zero no rate enters is not an estimate
    assert (
        ft["total_hours_per_month"].value == ft["answer_hours_per_month"].value == pytest.approx(50 * 30 * 0.5 / 3600)
    )

    ft = weekly["finetuning"]
    # 40 documents × 2 MB × 20 pages/MB × 2 chunks × 3 pairs = 9,600 pairs: 9,600 × 10 × 0.25 s + 50 s = 24,050 s a
    # training, 52/12 of them a month = 28.9 h, against 5,000 × 30 × 0.5 s = 20.8 h of answering
    assert ft["variant_upkeep_hours_per_month"].value == pytest.approx(52 / 12 * 24050 / 3600)
    assert ft["answer_hours_per_month"].value == pytest.approx(5000 * 30 * 0.5 / 3600)
    assert ft["variant_upkeep_hours_per_month"].value > ft["total_hours_per_month"].value / 2
    # RAG re-indexes 4 documents a change: 52/12 × 4 × 40 pages × 0.5 s = 347 s a month; its answering dominates
    rag = weekly["rag"]
    assert rag["index_upkeep_hours_per_month"].value == pytest.approx(52 / 12 * 4 * 40 * 0.5 / 3600)
    assert rag["index_upkeep_hours_per_month"].value < rag["total_hours_per_month"].value / 100
    assert weekly["hybrid"]["total_hours_per_month"].value == pytest.approx(
        (5000 * 30 * 2.5 + 52 / 12 * 4 * 40 * 0.5 + 52 / 12 * 24050) / 3600
    )


def write_run(data: Path, run_id: str, created: float, times_ms: dict[str, list[float]]) -> None:
    """A finished evaluation run as the app saves it: config, status, rows, summary."""
    folder = run_dir(data, run_id)
    folder.mkdir(parents=True)
    config = EvalConfig(
        "manuals", list(times_ms), engine="embedded", run_id=run_id, data_dir=str(data), created=created
    )
    n = max(len(t) for t in times_ms.values())
    questions = [{"question": f"Q{i}?", "answer": f"A{i}"} for i in range(n)]
    write_json_atomic(folder / "config.json", {**asdict(config), "questions": questions})
    for arm, times in times_ms.items():
        for i, ms in enumerate(times):
            append_row(folder, {"i": i, "arm": arm, "question": f"Q{i}?", "correct": True, "total_ms": ms})
    write_json_atomic(folder / "summary.json", {**summarise(read_rows(folder), config.arms), "complete": True})
    StatusWriter(
        folder / "status.json",
        {"job_id": run_id, "kind": "evaluation", "state": "done", "created": created, "step": n, "total_steps": n},
    ).update()


@pytest.fixture
def measured_dir(tmp_path: Path) -> tuple[Path, Catalog]:
    data = tmp_path / "data"
    now = time.time()
    write_run(data, "ev-20261101-100000-aaaa", now - 3600, {"rag": [9000.0, 9000.0]})  # older: not the one read
    write_run(
        data,
        "ev-20261201-100000-bbbb",
        now,
        {"rag": [1000.0, 2000.0, 6000.0], "finetuned": [400.0, 500.0, 600.0], "hybrid": [2000.0, 3000.0, 4000.0]},
    )
    folder = training.job_dir(data, "ft-20261130-090000-cccc")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    cost: dict[str, Any] = {"wall_s": 130.0, "train_s": 72.0, "load_s": 58.0, "examples": 30, "pairs": 30, "epochs": 10}
    cost |= {"epochs_run": 10, "steps": 80, "batch_size": 4, "s_per_step": 0.9, "device": "cpu"}
    StatusWriter(
        folder / "status.json",
        {"job_id": "ft-20261130-090000-cccc", "kind": "training", "state": "done", "created": now, "cost": cost},
    ).update()
    update = UpdateTestResult(
        collection="update-test-x",
        document="manual.pdf",
        engine="embedded",
        base_model="gemma",
        variant=None,
        arms=["rag"],
        reindex={"seconds": 12.8, "chunks": 19, "pages": 8, "version": 2},
        retrain=RetrainCost(None, True, "unknown"),
        summary={},
        questions=[],
        skipped=[],
        created=now,
    )
    results_dir(data).mkdir(parents=True)
    (results_dir(data) / "update-20261201-110000.json").write_text(json.dumps(update.to_dict()), encoding="utf-8")
    catalog = Catalog(data / "catalog.sqlite3")
    for i, (collection, pages, chunks, size) in enumerate(
        [("manuals", 10, 25, 512 * 1024), ("manuals", 30, 50, 1536 * 1024), ("update-test-x", 500, 900, 1024)]
    ):
        catalog.upsert(
            DocumentRecord(collection, f"d{i}", f"d{i}.pdf", "pdf", pages, chunks, size, now, "indexed", "", "")
        )
    return data, catalog


def test_rates_are_read_from_what_the_data_directory_measured(measured_dir: tuple[Path, Catalog]) -> None:
    data, catalog = measured_dir
    rates = measured_rates(data, catalog)
    rag = rates.answer_s["rag"]
    assert rag.measured and rag.value == pytest.approx(3.0)  # the mean of 1, 2 and 6 s: a month adds answers up
    assert "evaluation run ev-20261201-100000-bbbb" in rag.source and "mean of 3 rag answers" in rag.source
    assert rates.answer_p50_s["rag"].value == pytest.approx(2.0) and rates.answer_p50_s["rag"].measured
    assert rates.answer_p95_s["finetuned"].measured and rates.answer_s["finetuned"].value == pytest.approx(0.5)
    assert rates.index_s_per_page.value == pytest.approx(12.8 / 8) and rates.index_s_per_page.measured
    assert rates.index_s_per_page.source.startswith("document-update test of ") and "(8 pages)" in (
        rates.index_s_per_page.source
    )
    # the test collection's 500 pages are not the team's documents
    assert rates.pages_per_mb.value == pytest.approx(40 / 2.0) and "2 indexed documents, 40 pages" in (
        rates.pages_per_mb.source
    )
    assert rates.chunks_per_page.value == pytest.approx(75 / 40)
    assert rates.train_s_per_pair_epoch.value == pytest.approx(0.9 / 4)
    assert rates.train_s_per_pair_epoch.source == "training job ft-20261130-090000-cccc, 80 steps of 4"
    assert (rates.train_load_s.value, rates.epochs.value) == (58.0, 10.0)
    assert all(r.measured for r in (rates.train_load_s, rates.epochs, rates.pages_per_mb, rates.chunks_per_page))
    assert "training on cpu" in rates.hardware

    # an older run asked for by id is read instead
    older = measured_rates(data, catalog, run_id="ev-20261101-100000-aaaa")
    assert older.answer_s["rag"].value == pytest.approx(9.0) and not older.answer_s["hybrid"].measured

    table = project(Volume(100, documents=10, document_mb=1, data_changes="monthly"), rates)
    assert all(f.measured for figures in table.approaches.values() for f in figures.values())
    assert not any(note.startswith("Estimated") for note in table.notes)


def test_a_missing_measurement_is_an_estimate_that_names_its_assumption(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_run(data, "ev-20261201-100000-dddd", time.time(), {"rag": [1500.0, 2500.0]})  # no variant scored yet
    rates = measured_rates(data)
    assert rates.answer_s["rag"].measured
    ft = rates.answer_s["finetuned"]
    assert not ft.measured and ft.source.startswith("estimated: no measurement, assumed 0.3 s")
    assert "no finetuned answers in evaluation run ev-20261201-100000-dddd" in ft.source
    assert "docs/measurements/answer-quality.md" in ft.source
    assert not rates.index_s_per_page.measured and "no document-update test yet" in rates.index_s_per_page.source
    assert not rates.train_s_per_pair_epoch.measured and "no training has run here yet" in (
        rates.train_s_per_pair_epoch.source
    )
    assert "no document catalog read" in rates.pages_per_mb.source
    assert "twice the median" in rates.answer_p95_s["hybrid"].source

    table = project(Volume(50, documents=40, document_mb=2, data_changes="weekly"), rates)
    answering = table.approaches["rag"]["answer_hours_per_month"]
    assert answering.measured and answering.value == pytest.approx(50 * 30 * 2.0 / 3600)
    training = table.approaches["finetuning"]["training_hours_once"]
    assert not training.measured and "assumed 0.22 s per pair and epoch" in training.source
    (note,) = [n for n in table.notes if n.startswith("Estimated")]
    assert "finetuned answer time" in note and "rag answer time" not in note
    text = costs_markdown(table)
    assert "| answering, hours a month | 50 min |" in text and "(est.)" in text
    assert "| training time per pair and epoch | 0.22 s per pair and epoch | estimated: no measurement" in text


def test_a_run_scoring_only_named_variants_times_the_variant_the_advice_weighs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_id = "ev-20261201-100000-eeee"
    write_run(
        data, run_id, time.time(), {"rag": [1000.0] * 2, "finetuned:v1": [2000.0] * 2, "finetuned:v2": [500.0] * 2}
    )
    # no plain finetuned arm: the run's first variant of the mode stands for it, not an estimate
    first = measured_rates(data).answer_s["finetuned"]
    assert first.measured and first.value == pytest.approx(2.0) and "mean of 2 finetuned:v1 answers" in first.source
    # the variant the advice weighs, when it says which
    weighed = measured_rates(data, arms={"finetuned": "finetuned:v2"})
    assert weighed.answer_s["finetuned"].value == pytest.approx(0.5)
    assert "finetuned:v2 questions" in weighed.answer_p50_s["finetuned"].source
    assert not weighed.answer_s["hybrid"].measured  # no hybrid arm of any variant: still an estimate


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"questions_per_day": -1}, "cannot be negative"),
        ({"document_mb": None}, "in MB or in pages"),
        ({"document_mb": 0}, "more than 0"),
        ({"changed_per_update": 41}, "at most the number of documents"),
        ({"cpu_hour_price": -0.1}, "CPU hour price"),
        ({"data_changes": "hourly"}, "pick one of those"),
    ],
)
def test_bad_volumes_say_what_to_give(bad: dict[str, object], says: str) -> None:
    good: dict[str, object] = {"questions_per_day": 50, "documents": 40, "document_mb": 2.0}
    with pytest.raises(AdvisorInputError, match=says):
        Volume(**{**good, **bad})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- how the costs move the advice

MIXED_SMALL_CPU = Criteria(
    team_skills="mixed", data_changes="static", budget="small", hardware="cpu", labelled_pairs=1000
)


def docs_like_rates() -> MeasuredRates:
    """The rates docs/guide/advisor.md's two teams were costed on: rag 0.52 s, a variant alone 0.3 s an answer,
    20 pages/MB, 2.4 chunks a page, 0.22 s per pair and epoch, 10 epochs, 58 s loading."""
    return fixed_rates(
        answer_s={
            "rag": measured(0.52, "s", "run R"),
            "finetuned": measured(0.3, "s", "run R"),
            "hybrid": measured(0.52, "s", "run R"),
        },
        pages_per_mb=measured(20.0, "pages/MB", "catalog C"),
        chunks_per_page=measured(2.4, "chunks/page", "catalog C"),
        train_s_per_pair_epoch=measured(0.22, "s per pair and epoch", "training job T"),
        train_load_s=measured(58.0, "s per run", "training job T"),
    )


def test_a_static_team_asking_little_is_not_held_back_by_budget_or_cpu() -> None:
    table = project(Volume(50, documents=40, document_mb=2, data_changes="static"), docs_like_rates())
    moves = {m.name: m for m in cost_moves(MIXED_SMALL_CPU, table)}
    assert set(moves) == {"budget", "training hardware"}
    # minutes a month for every approach: a small budget is not strained, and the variant never needs re-training
    assert moves["budget"].points == {} and "does not decide" in moves["budget"].reason
    assert moves["budget"].reason.startswith("From your volume's costs: RAG 13 min, Fine-tuning 8 min")
    assert moves["training hardware"].points == {}
    assert "7.1 h once and 0 h a month" in moves["training hardware"].reason
    # the rules of thumb alone (small budget, CPU only: RAG +3) picked RAG; the hours pick fine-tuning
    assert advise(MIXED_SMALL_CPU).recommendation == "rag"
    costed = advise(MIXED_SMALL_CPU, cost_moves=list(moves.values()))
    assert costed.recommendation == "finetuning"
    assert [m.reason for m in costed.moves if m.name == "budget"] == [moves["budget"].reason]


def test_weekly_changes_and_many_questions_make_the_budget_and_cpu_favour_rag() -> None:
    weekly = replace(MIXED_SMALL_CPU, data_changes="weekly")
    table = project(Volume(5000, documents=40, document_mb=2, data_changes="weekly"), docs_like_rates())
    moves = {m.name: m for m in cost_moves(weekly, table)}
    # 21.7 h a month for RAG against 43.1 h for fine-tuning (30.6 h of it re-training) and 52.3 h for hybrid
    assert moves["budget"].points == {"rag": 2.0}
    assert "RAG 21.7 h, Fine-tuning 43.1 h, Hybrid 52.3 h a month" in moves["budget"].reason
    assert "Fine-tuning and Hybrid cost more than 1.5× RAG's 21.7 h" in moves["budget"].reason
    assert moves["training hardware"].points == {"rag": 2}
    assert "30.6 h a month to keep it current (data changes: weekly), above the 8 h" in (
        moves["training hardware"].reason
    )
    costed = advise(weekly, cost_moves=list(moves.values()))
    assert costed.recommendation == "rag" and costed.totals["rag"] == 7
    # a medium budget is strained only at 3× the cheapest: 43.1 h against 21.7 h is not
    medium = {m.name: m for m in cost_moves(replace(weekly, budget="medium"), table)}
    assert medium["budget"].points == {}
    # a GPU: the hardware keeps its rule, with the hours in its reason
    gpu = {m.name: m for m in cost_moves(replace(weekly, hardware="gpu"), table)}
    assert gpu["training hardware"].points == {"finetuning": 1} and "7.1 h once" in gpu["training hardware"].reason


def test_without_a_volume_the_rules_of_thumb_say_so() -> None:
    by_name = {m.name: m for m in advise(MIXED_SMALL_CPU).moves}
    assert by_name["budget"].points == {"rag": 2} and "Rule of thumb: give your volume" in by_name["budget"].reason
    assert "Rule of thumb" in by_name["training hardware"].reason
