"""What each approach costs a team, in its own units: hours a month, and money when it gives prices.

The team says how much it asks and how much it indexes (`Volume`); the rates come from what this data directory
measured (`measured_rates`): the newest finished evaluation run for the time per answer of each mode, the
document-update test for indexing a changed document, training jobs (or variants) for the time per training pair
and epoch, the catalog for pages per MB and chunks per page. A rate nothing measured is an estimate whose assumption
is named, never a silent default. `project` turns both into a `CostTable`: per approach, the hours to answer, to
keep the index current, to keep a variant current, the one-off indexing and training, and the answer times, each
marked measured or estimated with where it came from.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from core.advisor.advice import (
    APPROACHES,
    ARM_OF,
    CHANGE_LABELS,
    CHANGES_PER_YEAR,
    LABELS,
    AdvisorInputError,
    Criteria,
    DataChanges,
    Move,
    newest_finished_run,
)
from core.engines.variants import VariantRegistry
from core.evaluation.document_update import DEFAULT_EPOCHS, latest_result
from core.evaluation.runs import read_json, read_rows, run_dir, split_arm
from core.finetune.dataset import DatasetOptions
from core.finetune.jobs import list_jobs as training_jobs
from core.library.catalog import Catalog
from core.library.service import is_test_collection

DAYS_PER_MONTH = 30
MONTHS_PER_YEAR = 12
MB = 1024 * 1024

# What an estimate assumes when nothing here measured a rate: the figures recorded in docs/measurements on the
# project's 2-core machine, each with where it is written, so a reader can check it.
ASSUMED_ANSWER_S = {
    "rag": (0.52, "rag's median whole answer on the sample questions, docs/measurements/answer-quality.md, 2026-12-05"),
    "finetuned": (
        0.3,
        "the base model alone's median answer (a variant alone reads the same short prompt), "
        "docs/measurements/answer-quality.md, November 2026",
    ),
    "hybrid": (
        0.52,
        "as rag (the same prompt, with the adapter), docs/measurements/answer-quality.md, 2026-12-05",
    ),
}
ASSUMED_P95_OVER_P50 = 2.0
ASSUMED_INDEX_S_PER_PAGE = (
    0.1,
    "9.9 pages/s, the sample documents' ingestion, docs/measurements/performance.md, 2026-12-05",
)
ASSUMED_PAGES_PER_MB = (
    20.0,
    "about 50 KB a page, a text PDF with its fonts; scanned pages are far larger, so give pages when you know them",
)
ASSUMED_CHUNKS_PER_PAGE = (
    2.4,
    "19 chunks in 8 pages, the sample manual in the document-update test, docs/measurements/evaluation-runs.md",
)
ASSUMED_TRAIN_S_PER_PAIR_EPOCH = (
    0.22,
    "0.88 s per step of 4 short pairs, docs/measurements/fine-tuning.md, November 2026",
)
ASSUMED_LOAD_S = (58.0, "the first job's model loading and conversion, docs/measurements/fine-tuning.md")


# --------------------------------------------------------------------------- inputs and rates


@dataclass(frozen=True)
class Volume:
    """What the team asks and indexes: the inputs of the cost table."""

    questions_per_day: float
    documents: int
    document_mb: float | None = None  # average size of a document; pages are used instead when given
    document_pages: float | None = None
    data_changes: DataChanges = "static"
    changed_per_update: int = 1  # documents that change at each change
    training_pairs: int | None = None  # pairs the variant trains on; None: as many as the app would generate
    cpu_hour_price: float | None = None
    gpu_hour_price: float | None = None  # given: training runs on a GPU at this price

    def __post_init__(self) -> None:
        if self.data_changes not in CHANGES_PER_YEAR:
            raise AdvisorInputError(
                f"Data changes {self.data_changes!r} is not one of {', '.join(CHANGES_PER_YEAR)}: pick one of those."
            )
        if self.questions_per_day < 0 or self.documents < 0 or self.changed_per_update < 0:
            raise AdvisorInputError(
                "Questions per day, documents and changed documents cannot be negative: give 0 or more."
            )
        if self.document_pages is None and self.document_mb is None:
            raise AdvisorInputError(
                "Give the documents' average size, in MB or in pages, to cost indexing and training."
            )
        if (self.document_pages is not None and self.document_pages <= 0) or (
            self.document_mb is not None and self.document_mb <= 0
        ):
            raise AdvisorInputError("A document's average size must be more than 0 (MB or pages).")
        if self.changed_per_update > self.documents:
            raise AdvisorInputError(
                f"{self.changed_per_update} changed documents per change is more than the {self.documents} documents: "
                "give at most the number of documents."
            )
        if self.training_pairs is not None and self.training_pairs < 0:
            raise AdvisorInputError(
                "Training pairs cannot be negative: leave it empty to estimate it from the documents."
            )
        for name, price in (("CPU", self.cpu_hour_price), ("GPU", self.gpu_hour_price)):
            if price is not None and price < 0:
                raise AdvisorInputError(f"The {name} hour price cannot be negative: give 0 or more, or leave it empty.")


@dataclass(frozen=True)
class Rate:
    """One rate with where it came from: measured here, or estimated with its assumption named."""

    value: float
    unit: str
    source: str
    measured: bool


@dataclass(frozen=True)
class MeasuredRates:
    """The rates the cost table multiplies, each with its source."""

    answer_s: Mapping[str, Rate]  # arm -> mean seconds per whole answer (what a month of answers adds up to)
    answer_p50_s: Mapping[str, Rate]
    answer_p95_s: Mapping[str, Rate]
    index_s_per_page: Rate  # indexing a (changed) document: parse, chunk, embed, store
    pages_per_mb: Rate
    chunks_per_page: Rate
    train_s_per_pair_epoch: Rate
    train_load_s: Rate  # per training run: loading (and converting) the model
    epochs: Rate
    hardware: str  # what the rates were measured on, for "hours on hardware like this"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _estimated(value: float, unit: str, assumption: str) -> Rate:
    return Rate(value, unit, f"estimated: no measurement, assumed {value:g} {unit} ({assumption})", False)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def measured_rates(
    data_dir: Path, catalog: Catalog | None = None, run_id: str | None = None, arms: Mapping[str, str] | None = None
) -> MeasuredRates:
    """The rates this data directory measured (the newest finished evaluation run, or `run_id`), else estimates.

    `arms`: per mode, the arm whose answer times to read (the variant the advice weighs: `hybrid` → `hybrid:v2`).
    """
    update = latest_result(data_dir)
    answer, p50, p95 = _answer_rates(Path(data_dir), run_id, arms)
    pages_per_mb, chunks_per_page = _catalog_rates(catalog, update)
    train, load, epochs, device = _training_rates(Path(data_dir), update)
    hardware = f"{os.cpu_count()}-core {platform.machine()} CPU" + (f", training on {device}" if device else "")
    return MeasuredRates(
        answer, p50, p95, _index_rate(update), pages_per_mb, chunks_per_page, train, load, epochs, hardware
    )


def _answer_rates(
    data_dir: Path, run_id: str | None, arms: Mapping[str, str] | None = None
) -> tuple[dict[str, Rate], dict[str, Rate], dict[str, Rate]]:
    wanted = run_id or newest_finished_run(data_dir)  # the run the advice takes its evidence from
    summary: Mapping[str, Any] = {}
    rows: list[dict[str, Any]] = []
    label = ""
    if wanted:
        folder = run_dir(data_dir, wanted)
        raw_summary = read_json(folder / "summary.json")
        summary = raw_summary if isinstance(raw_summary, dict) else {}
        rows = read_rows(folder)
        config = read_json(folder / "config.json")
        created = float(config.get("created") or 0) if isinstance(config, dict) else 0.0
        label = f"evaluation run {wanted}" + (f" of {_when(created)}" if created else "")
    answer: dict[str, Rate] = {}
    p50: dict[str, Rate] = {}
    p95: dict[str, Rate] = {}
    scored = list(summary.get("arms") or {})
    for mode in ARM_OF.values():
        arm = _timed_arm(mode, scored, arms or {})
        block = ((summary.get("arms") or {}).get(arm) or {}).get("all") or {}
        # a month's answering time is the sum of its answers: their mean, not their median, times their number
        times = [
            float(r["total_ms"]) / 1000
            for r in rows
            if r.get("arm") == arm and not r.get("error") and r.get("total_ms") is not None
        ]
        median, slow = block.get("total_p50_ms"), block.get("total_p95_ms")
        assumed, why = ASSUMED_ANSWER_S[mode]
        missing = f"no {mode} answers {'in ' + label if label else 'scored yet'}"
        if times:
            answer[mode] = Rate(sum(times) / len(times), "s", f"{label}, mean of {len(times)} {arm} answers", True)
        elif median is not None:
            answer[mode] = Rate(
                float(median) / 1000, "s", f"{label}, median of the {arm} answers (no rows saved)", True
            )
        else:
            answer[mode] = _estimated(assumed, "s", f"{missing}; {why}")
        count = f"{block.get('n', len(times))} {arm} questions"
        p50[mode] = (
            Rate(float(median) / 1000, "s", f"{label}, {count}", True)
            if median is not None
            else _estimated(assumed, "s", f"{missing}; {why}")
        )
        p95[mode] = (
            Rate(float(slow) / 1000, "s", f"{label}, {count}", True)
            if slow is not None
            else _estimated(p50[mode].value * ASSUMED_P95_OVER_P50, "s", f"{missing}; twice the median")
        )
    return answer, p50, p95


def _timed_arm(mode: str, scored: Sequence[str], arms: Mapping[str, str]) -> str:
    """The arm whose answer times stand for `mode`: the one the advice weighs (`arms`), else the plain mode, else the
    run's first variant of it (`finetuned:v1`): a run scoring only named variants still timed the mode."""
    if mode in arms:
        return arms[mode]
    if mode in scored:
        return mode
    return next((a for a in scored if split_arm(a)[0] == mode), mode)


def _index_rate(update: Mapping[str, Any] | None) -> Rate:
    update = update or {}
    reindex = update.get("reindex") or {}
    seconds, pages = reindex.get("seconds"), reindex.get("pages")
    if seconds and pages:
        return Rate(
            float(seconds) / float(pages),
            "s/page",
            f"document-update test of {_when(float(update.get('created') or 0))}: {float(seconds):.1f} s to index "
            f"{update.get('document') or 'a document'} ({int(pages)} pages)",
            True,
        )
    value, why = ASSUMED_INDEX_S_PER_PAGE
    return _estimated(value, "s/page", f"no document-update test yet; {why}")


def _catalog_rates(catalog: Catalog | None, update: Mapping[str, Any] | None) -> tuple[Rate, Rate]:
    docs = [
        d
        for d in (catalog.with_status("indexed") if catalog is not None else [])
        if not is_test_collection(d.collection) and d.pages > 0
    ]
    pages = sum(d.pages for d in docs)
    size_mb = sum(d.size for d in docs) / MB
    chunks = sum(d.chunks for d in docs)
    what = f"the catalog: {len(docs)} indexed documents, {pages} pages"
    none = "no indexed document yet" if catalog is not None else "no document catalog read"
    per_mb = (
        Rate(pages / size_mb, "pages/MB", f"{what} in {size_mb:.2f} MB", True)
        if docs and size_mb > 0
        else _estimated(ASSUMED_PAGES_PER_MB[0], "pages/MB", f"{none}; {ASSUMED_PAGES_PER_MB[1]}")
    )
    reindex = (update or {}).get("reindex") or {}
    if docs and chunks:
        per_page = Rate(chunks / pages, "chunks/page", f"{what}, {chunks} chunks", True)
    elif reindex.get("chunks") and reindex.get("pages"):
        per_page = Rate(
            float(reindex["chunks"]) / float(reindex["pages"]),
            "chunks/page",
            f"document-update test of {_when(float((update or {}).get('created') or 0))}: {reindex['chunks']} chunks "
            f"in {reindex['pages']} pages",
            True,
        )
    else:
        per_page = _estimated(ASSUMED_CHUNKS_PER_PAGE[0], "chunks/page", f"{none}; {ASSUMED_CHUNKS_PER_PAGE[1]}")
    return per_mb, per_page


def _seconds_per_pair_epoch(cost: Mapping[str, Any]) -> float | None:
    """Training seconds per example and epoch, from a training job's (or variant's) recorded cost."""
    if cost.get("s_per_step") and cost.get("batch_size"):
        return float(cost["s_per_step"]) / float(cost["batch_size"])  # every step trains one batch
    if cost.get("train_s") and cost.get("examples") and cost.get("epochs_run"):
        return float(cost["train_s"]) / (float(cost["examples"]) * float(cost["epochs_run"]))
    return None


def _training_rates(data_dir: Path, update: Mapping[str, Any] | None) -> tuple[Rate, Rate, Rate, str]:
    recorded: list[tuple[Mapping[str, Any], str]] = [
        (s.cost, f"training job {s.job_id}") for s in training_jobs(data_dir) if s.state == "done" and s.cost
    ]
    recorded += [(v.cost, f"variant {v.name}'s training") for v in VariantRegistry(data_dir).list() if v.cost]
    retrain = (update or {}).get("retrain") or {}
    if retrain.get("detail"):
        when = _when(float((update or {}).get("created") or 0))
        recorded.append((retrain["detail"], f"the training speed the document-update test of {when} used"))
    for cost, source in recorded:
        per = _seconds_per_pair_epoch(cost)
        if per is None:
            continue
        steps = f"{cost.get('steps')} steps of {cost.get('batch_size')}" if cost.get("steps") else "its steps"
        rate = Rate(per, "s per pair and epoch", f"{source}, {steps}", True)
        load = (
            Rate(float(cost["load_s"]), "s per run", source, True)
            if cost.get("load_s") is not None
            else _estimated(ASSUMED_LOAD_S[0], "s per run", f"{source} recorded no loading time; {ASSUMED_LOAD_S[1]}")
        )
        epochs = (
            Rate(float(cost["epochs"]), "epochs", source, True)
            if cost.get("epochs")
            else _estimated(float(DEFAULT_EPOCHS), "epochs", "the app's default training")
        )
        return rate, load, epochs, str(cost.get("device") or "")
    why = "no training has run here yet"
    return (
        _estimated(
            ASSUMED_TRAIN_S_PER_PAIR_EPOCH[0], "s per pair and epoch", f"{why}; {ASSUMED_TRAIN_S_PER_PAIR_EPOCH[1]}"
        ),
        _estimated(ASSUMED_LOAD_S[0], "s per run", f"{why}; {ASSUMED_LOAD_S[1]}"),
        _estimated(float(DEFAULT_EPOCHS), "epochs", "the app's default training"),
        "",
    )


# --------------------------------------------------------------------------- the projection


@dataclass(frozen=True)
class Figure:
    """One figure of the cost table: its value, how it was worked out, and whether every rate in it was measured."""

    value: float
    unit: str
    measured: bool
    source: str
    how: str = ""


@dataclass(frozen=True)
class CostTable:
    """Per approach (rag, finetuning, hybrid): its figures by name, with the volume, rates and notes behind them."""

    volume: Volume
    rates: MeasuredRates
    approaches: dict[str, dict[str, Figure]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Approach -> figure name -> {value, unit, measured, source, how}: the `costs` of `python -m core advise`."""
        return {a: {name: asdict(f) for name, f in figures.items()} for a, figures in self.approaches.items()}

    def basis(self) -> dict[str, Any]:
        """What the table rests on: the team's volume, the rates with their sources, and the notes."""
        return {"volume": asdict(self.volume), "rates": self.rates.to_dict(), "notes": self.notes}


def _figure(value: float, unit: str, rates: Sequence[Rate], how: str) -> Figure:
    sources = list(dict.fromkeys(r.source for r in rates))
    return Figure(value, unit, all(r.measured for r in rates), "; ".join(sources) or "your inputs", how)


def _sum(figures: Sequence[Figure], unit: str) -> Figure:
    return Figure(
        sum(f.value for f in figures),
        unit,
        all(f.measured for f in figures),
        "; ".join(dict.fromkeys(s for f in figures for s in f.source.split("; "))),
        " + ".join(f"{f.value:.3g}" for f in figures),
    )


def _pages(volume: Volume, rates: MeasuredRates) -> tuple[float, list[Rate], str]:
    """Pages per document: as the team gave them, or its MB at the measured pages per MB."""
    if volume.document_pages is not None:
        return volume.document_pages, [], f"{volume.document_pages:g} pages"
    mb = volume.document_mb or 0.0
    return mb * rates.pages_per_mb.value, [rates.pages_per_mb], f"{mb:g} MB × {rates.pages_per_mb.value:.3g} pages/MB"


def training_pairs(volume: Volume, rates: MeasuredRates) -> tuple[float, list[Rate], str]:
    """How many pairs the variant trains on: the team's, else what the app would generate from the documents."""
    if volume.training_pairs:
        return float(volume.training_pairs), [], f"{volume.training_pairs} pairs"
    pages, used, how = _pages(volume, rates)
    per_chunk = DatasetOptions().pairs_per_chunk
    pairs = volume.documents * pages * rates.chunks_per_page.value * per_chunk
    return (
        pairs,
        [*used, rates.chunks_per_page],
        f"{volume.documents} documents × {how} × {rates.chunks_per_page.value:.3g} chunks/page × {per_chunk} "
        "pairs/chunk",
    )


def project(volume: Volume, rates: MeasuredRates) -> CostTable:
    """Per month and per approach: hours to answer, to keep the index and the variant current, one-off indexing and
    training, answer times, and money when prices are given."""
    per_month = CHANGES_PER_YEAR[volume.data_changes] / MONTHS_PER_YEAR
    questions = volume.questions_per_day * DAYS_PER_MONTH
    pages, page_rates, pages_how = _pages(volume, rates)
    pairs, pair_rates, pairs_how = training_pairs(volume, rates)
    train_s = rates.train_load_s.value + pairs * rates.epochs.value * rates.train_s_per_pair_epoch.value
    train_rates = [*pair_rates, rates.train_s_per_pair_epoch, rates.epochs, rates.train_load_s]
    train_how = (
        f"({pairs_how}) × {rates.epochs.value:g} epochs × {rates.train_s_per_pair_epoch.value:.3g} s "
        f"+ {rates.train_load_s.value:.0f} s loading"
    )
    changes_how = f"{per_month:.3g} changes a month ({volume.data_changes})"

    def upkeep(hours: float, used: Sequence[Rate], how: str) -> Figure:
        if per_month == 0:  # nothing to keep current: no rate enters this zero, so none makes it an estimate
            return Figure(0.0, "h", True, "your inputs: the documents never change", how)
        return _figure(hours, "h", used, how)

    table: dict[str, dict[str, Figure]] = {}
    for approach in APPROACHES:
        arm = ARM_OF[approach]
        answer = rates.answer_s[arm]
        figures: dict[str, Figure] = {
            "answer_hours_per_month": _figure(
                questions * answer.value / 3600,
                "h",
                [answer],
                f"{volume.questions_per_day:g} questions/day × {DAYS_PER_MONTH} days × {answer.value:.3g} s",
            )
        }
        if approach in ("rag", "hybrid"):
            changed_pages = per_month * volume.changed_per_update * pages
            figures["index_upkeep_hours_per_month"] = upkeep(
                changed_pages * rates.index_s_per_page.value / 3600,
                [*page_rates, rates.index_s_per_page],
                f"{changes_how} × {volume.changed_per_update} documents × {pages_how} × "
                f"{rates.index_s_per_page.value:.3g} s/page",
            )
        if approach in ("finetuning", "hybrid"):
            # a change re-trains the variant on the whole training set, as the app does
            figures["variant_upkeep_hours_per_month"] = upkeep(
                per_month * train_s / 3600, train_rates, f"{changes_how} × {train_how}"
            )
        figures["total_hours_per_month"] = _sum(list(figures.values()), "h")
        if approach in ("rag", "hybrid"):
            figures["indexing_hours_once"] = _figure(
                volume.documents * pages * rates.index_s_per_page.value / 3600,
                "h",
                [*page_rates, rates.index_s_per_page],
                f"{volume.documents} documents × {pages_how} × {rates.index_s_per_page.value:.3g} s/page",
            )
        if approach in ("finetuning", "hybrid"):
            figures["training_hours_once"] = _figure(train_s / 3600, "h", train_rates, train_how)
        figures["answer_p50_s"] = _figure(rates.answer_p50_s[arm].value, "s", [rates.answer_p50_s[arm]], "")
        figures["answer_p95_s"] = _figure(rates.answer_p95_s[arm].value, "s", [rates.answer_p95_s[arm]], "")
        figures.update(_money(volume, figures))
        table[approach] = figures
    return CostTable(volume, rates, table, _notes(volume, rates))


def _money(volume: Volume, figures: Mapping[str, Figure]) -> dict[str, Figure]:
    cpu, gpu = volume.cpu_hour_price, volume.gpu_hour_price
    if cpu is None and gpu is None:
        return {}
    out: dict[str, Figure] = {}
    for span, names in (
        ("per_month", ("answer_hours_per_month", "index_upkeep_hours_per_month", "variant_upkeep_hours_per_month")),
        ("once", ("indexing_hours_once", "training_hours_once")),
    ):
        parts: list[Figure] = []
        how: list[str] = []
        for name in names:
            hours = figures.get(name)
            if hours is None:
                continue
            training = name.startswith(("variant", "training"))
            price = gpu if training and gpu is not None else cpu
            if price is None:
                continue  # a GPU price alone prices the training only
            parts.append(Figure(hours.value * price, "money", hours.measured, hours.source))
            how.append(f"{hours.value:.3g} h × {price:g} ({'GPU' if training and gpu is not None else 'CPU'})")
        if parts:
            total = _sum(parts, "money")
            out[f"money_{span}"] = Figure(
                total.value, "in the currency of your prices", total.measured, total.source, " + ".join(how)
            )
    return out


def _notes(volume: Volume, rates: MeasuredRates) -> list[str]:
    notes = [
        f"Hours on hardware like the one measured on ({rates.hardware}), answering one question at a time; a faster "
        "CPU, a GPU or a server that answers several questions at once needs fewer.",
        f"A month is {DAYS_PER_MONTH} days; a change re-indexes the changed documents (RAG, hybrid) and re-trains the "
        "variant on its whole training set (fine-tuning, hybrid).",
    ]
    if volume.gpu_hour_price is not None:
        notes.append(
            "Training is priced at the GPU hour price for the hours measured on this CPU: an upper bound, since a GPU "
            "trains faster; answering and indexing stay on CPU."
        )
    estimated = [name.split(" (")[0] for name, used in named_rates(rates) if not all(r.measured for r in used)]
    if estimated:
        notes.append(f"Estimated, not measured here: {', '.join(estimated)}; run the missing tests to measure them.")
    return notes


def named_rates(rates: MeasuredRates) -> list[tuple[str, list[Rate]]]:
    """The rates by name as a reader looks them up: an arm's three answer times together (mean, median, 95% within)."""
    named = [
        (f"{arm} answer time (mean · median · 95% within)", [r, rates.answer_p50_s[arm], rates.answer_p95_s[arm]])
        for arm, r in rates.answer_s.items()
    ]
    return named + [
        ("indexing time per page", [rates.index_s_per_page]),
        ("pages per MB", [rates.pages_per_mb]),
        ("chunks per page", [rates.chunks_per_page]),
        ("training time per pair and epoch", [rates.train_s_per_pair_epoch]),
        ("model loading per training run", [rates.train_load_s]),
        ("epochs", [rates.epochs]),
    ]


# --------------------------------------------------------------------------- the Markdown table

_ROWS = (
    ("answer_hours_per_month", "answering, hours a month"),
    ("index_upkeep_hours_per_month", "keeping the index current, hours a month"),
    ("variant_upkeep_hours_per_month", "keeping the variant current, hours a month"),
    ("total_hours_per_month", "**total, hours a month**"),
    ("indexing_hours_once", "indexing the documents, once"),
    ("training_hours_once", "training the variant, once"),
    ("answer_p50_s", "answer time, median"),
    ("answer_p95_s", "answer time, 95% within"),
    ("money_per_month", "money a month"),
    ("money_once", "money once"),
)


def shown(f: Figure) -> str:
    """A figure as the table reads it: hours as s, min or h, answer times in s, money; "(est.)" when estimated."""
    if f.unit == "h":
        seconds = f.value * 3600
        text = (
            "0"
            if seconds == 0
            else f"{seconds:.0f} s"
            if seconds < 60
            else f"{seconds / 60:.0f} min"
            if seconds < 3600
            else f"{f.value:,.1f} h"
        )
    elif f.unit == "s":
        text = f"{f.value:.2f} s"
    else:
        text = f"{f.value:,.2f}" if f.value >= 1 else f"{f.value:.2g}"
    return text if f.measured else f"{text} (est.)"


ROW_TITLES = dict(_ROWS)
HOURS_BY_KIND = (  # the monthly hours a chart stacks, by kind
    ("answer_hours_per_month", "answering"),
    ("index_upkeep_hours_per_month", "keeping the index current"),
    ("variant_upkeep_hours_per_month", "keeping the variant current"),
)


def volume_text(volume: Volume) -> str:
    """The team's volume in one sentence, as the report states it."""
    size = f"{volume.document_pages:g} pages" if volume.document_pages is not None else f"{volume.document_mb:g} MB"
    given = (("CPU", volume.cpu_hour_price), ("GPU", volume.gpu_hour_price))
    priced = [f"{name} hour {price:g}" for name, price in given if price is not None]
    return (
        f"{volume.questions_per_day:g} questions a day; {volume.documents} documents of {size} on average; "
        f"{volume.changed_per_update} changed at each change, {CHANGE_LABELS[volume.data_changes]}"
        + (f"; prices: {', '.join(priced)}" if priced else "")
        + "."
    )


def rates_markdown(table: CostTable) -> str:
    """The rates behind the table with where each came from, then the notes, as Markdown."""
    lines = ["| rate | value | from |", "|---|---|---|"]
    for name, used in named_rates(table.rates):
        value = " · ".join(f"{r.value:.3g}" for r in used) + f" {used[0].unit}"
        sources = "; ".join(dict.fromkeys(r.source for r in used))
        lines.append(f"| {name} | {value} | {sources.replace('|', '/')} |")
    lines += [""] + [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def costs_markdown(table: CostTable) -> str:
    """The cost table as Markdown: one row per figure, one column per approach, then the rates and their sources."""
    lines = [f"For your volume: {volume_text(table.volume)}", ""]
    lines += ["| | " + " | ".join(_label(a) for a in APPROACHES) + " |", "|---|---|---|---|"]
    for name, title in _ROWS:
        cells = [table.approaches[a].get(name) for a in APPROACHES]
        if any(cells):
            lines.append(f"| {title} | " + " | ".join(shown(c) if c else "—" for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + rates_markdown(table)


# --------------------------------------------------------------------------- how the costs move the advice

# A small budget is strained by an approach that costs more than 1.5× the cheapest and at least 5 hours a month more
# (below that, a difference of minutes decides nothing); a medium budget only by 3× and 20 hours more.
BUDGET_LIMITS = {"small": (1.5, 5.0, 2.0), "medium": (3.0, 20.0, 1.0)}  # ratio, hours more, points
# Keeping a variant current on a CPU alone is impractical above a working day of training a month, and training it
# once above two days.
CPU_RETRAIN_LIMIT_H = 8.0
CPU_TRAINING_ONCE_LIMIT_H = 48.0
FROM_VOLUME = "From your volume's costs: "


def _label(approach: str) -> str:
    return LABELS[approach].split(" (")[0]


def _hours(h: float) -> str:
    return shown(Figure(h, "h", True, "")) if h > 0 else "0 h"


def cost_moves(criteria: Criteria, table: CostTable) -> list[Move]:
    """The budget and training-hardware moves worked out from the team's hours (they replace the rules of thumb)."""
    total = {a: table.approaches[a]["total_hours_per_month"].value for a in APPROACHES}
    cheapest = min(APPROACHES, key=lambda a: (total[a], APPROACHES.index(a)))
    listing = ", ".join(f"{_label(a)} {_hours(total[a])}" for a in APPROACHES) + " a month"
    moves: list[Move] = []

    if criteria.budget == "large":
        dearest = max(APPROACHES, key=lambda a: total[a])
        moves.append(
            Move(
                "criterion",
                "budget",
                {"finetuning": 1, "hybrid": 1},
                f"{FROM_VOLUME}{listing}. A large budget covers even {_label(dearest)}'s "
                f"{_hours(total[dearest])} a month, training and its upkeep included.",
            )
        )
    else:
        ratio, more, points = BUDGET_LIMITS[criteria.budget]
        dear = [a for a in APPROACHES if total[a] > ratio * total[cheapest] and total[a] - total[cheapest] >= more]
        fits = [a for a in APPROACHES if a not in dear]
        if dear:
            moves.append(
                Move(
                    "criterion",
                    "budget",
                    {a: points for a in fits},
                    f"{FROM_VOLUME}{listing}. On a {criteria.budget} budget "
                    f"{' and '.join(_label(a) for a in dear)} cost{'s' if len(dear) == 1 else ''} more "
                    f"than {ratio:g}× {_label(cheapest)}'s {_hours(total[cheapest])} and at least "
                    f"{more:g} h a month more: the budget favours {' and '.join(_label(a) for a in fits)}.",
                )
            )
        else:
            moves.append(
                Move(
                    "criterion",
                    "budget",
                    {},
                    f"{FROM_VOLUME}{listing}. No approach costs more than {ratio:g}× the cheapest and {more:g} h a "
                    f"month more, so a {criteria.budget} budget does not decide between them.",
                )
            )

    upkeep = table.approaches["finetuning"]["variant_upkeep_hours_per_month"].value
    once = table.approaches["finetuning"]["training_hours_once"].value
    training = f"training the variant takes {_hours(once)} once and {_hours(upkeep)} a month to keep it current"
    changes = CHANGE_LABELS[table.volume.data_changes]
    if criteria.hardware == "cpu":
        if upkeep > CPU_RETRAIN_LIMIT_H:
            reindex = table.approaches["rag"]["index_upkeep_hours_per_month"].value
            move = Move(
                "criterion",
                "training hardware",
                {"rag": 2},
                f"{FROM_VOLUME}on CPU only, {training} (data changes: {changes}), above the "
                f"{CPU_RETRAIN_LIMIT_H:g} h a month a CPU can spare; RAG re-indexes in {_hours(reindex)} a month.",
            )
        elif once > CPU_TRAINING_ONCE_LIMIT_H:
            move = Move(
                "criterion",
                "training hardware",
                {"rag": 1},
                f"{FROM_VOLUME}on CPU only, {training}: the first training alone is above "
                f"{CPU_TRAINING_ONCE_LIMIT_H:g} h.",
            )
        else:
            move = Move(
                "criterion",
                "training hardware",
                {},
                f"{FROM_VOLUME}on CPU only, {training} (data changes: {changes}): within "
                f"{CPU_RETRAIN_LIMIT_H:g} h a month, so CPU-only training does not move the advice.",
            )
    else:
        gpus: dict[str, float] = {"finetuning": 1} if criteria.hardware == "gpu" else {"finetuning": 1, "hybrid": 1}
        move = Move(
            "criterion",
            "training hardware",
            gpus,
            f"{FROM_VOLUME}on this CPU {training}; a GPU trains faster, so fine-tuning is practical.",
        )
    moves.append(move)
    return moves
