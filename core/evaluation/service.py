"""The evaluation service: what the Evaluate page and `python -m core eval` call.

Question sets come from the Fine-tune wing's held-out halves, the sample documents' question files or an
upload; a run is a background job (core/jobs.py) that the page polls and the command line follows; saved runs are
listed, reloaded, compared and exported.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

from core.base import jobs
from core.base.jobs import JobStatus
from core.base.questions import EvalQuestion, read_finetune_halves, read_questions
from core.chat.service import RETRIEVAL_MODES, VARIANT_MODES
from core.config import Settings
from core.errors import AppError, EvaluationError, JobBusyError
from core.evaluation import answer_sources as sources
from core.evaluation.job import EVAL_JOB
from core.evaluation.recorded import record_retrievals
from core.evaluation.runner import check_arms, with_confidence, with_statistics
from core.evaluation.runs import (
    EvalConfig,
    RunRecord,
    SavedRun,
    read_json,
    read_rows,
    run_dir,
    run_threshold,
    split_arm,
)
from core.evaluation.scoring import (
    ALL,
    GRID_METRICS,
    GridRow,
    SourceRow,
    grid_rows,
    shown_answer,
    source_rows,
    summarise,
)
from core.evaluation.statistics import (
    UNSPLIT,
    PairedComparison,
    paired_comparisons,
    smallest_detectable_difference,
)
from core.finetune.service import FineTuneService
from core.library.samples import SAMPLES_DIR, sample_qa_files

SAMPLE_PREFIX = "sample:"
# What a paired comparison counts, in one line for a reader (the Evaluate page, the Advisor and its report).
PAIRED_EXPLAINED = (
    "Two modes answered the same questions; only the questions where one was right and the other wrong count. "
    "A difference is clear when its 95% interval leaves out zero and the exact McNemar test agrees (p below 0.05); "
    "otherwise it may be chance."
)
FINETUNE_PREFIX = "finetune:"
# Where answers came from, in the order a chart stacks them and a filter lists them: right, wrong, then no verdict.
SOURCE_ORDER = (
    sources.RIGHT_SUPPORTED,
    sources.RIGHT_UNSUPPORTED,
    sources.RIGHT,
    sources.MISREAD,
    sources.RETRIEVAL_MISS,
    sources.WRONG,
    sources.DECLINED,
    sources.NO_ANSWER,
)


@dataclass(frozen=True)
class RunPlan:
    """What a question set can tell apart before it is run: its smallest part and the smallest difference it detects."""

    questions: int  # answerable questions in the smallest part (the whole set when it is not split)
    parts: int  # how many parts the set is split into (trained facts, new documents…); 1: not split
    detectable: float | None  # the smallest difference in correctness, in points, it tells apart (None: none)

    def sentence(self) -> str:
        """One line for the New run tab."""
        where = "" if self.parts <= 1 else " per half" if self.parts == 2 else " in its smallest part"
        many = f"{self.questions} answerable question{'' if self.questions == 1 else 's'}{where}"
        if self.detectable is None:
            return (
                f"With {many} no difference between two modes can be told apart (at 95% confidence, 80% power): "
                "use a set with more questions."
            )
        return (
            f"With {many} you can tell apart only differences above ~{self.detectable:.0f} points "
            "(at 95% confidence, 80% power)."
        )


@dataclass(frozen=True)
class QuestionSetChoice:
    """A question set the user can pick: its reference (for `load_question_set`), a label and its size."""

    ref: str
    label: str
    count: int


class EvaluationService:
    """Scores the chat modes on a question set and keeps the runs."""

    def __init__(self, settings: Settings, chat: Any, embedder: Any, engines: Any, finetune: FineTuneService) -> None:
        self.settings = settings
        self.chat = chat
        self.embedder = embedder
        self.engines = engines
        self.finetune = finetune  # the Fine-tune wing's training sets hold held-out question halves

    # ------------------------------------------------------------ question sets

    def question_sets(self) -> list[QuestionSetChoice]:
        """The Fine-tune wing's held-out halves (newest first), then the sample documents' question files."""
        out = []
        for info in self.finetune.training_sets():
            seen, new = info.stats.eval_seen, info.stats.eval_new
            if seen + new:
                out.append(
                    QuestionSetChoice(
                        f"{FINETUNE_PREFIX}{info.name}",
                        f"Fine-tune halves of '{info.name}' ({info.stats.halves_label()})",
                        seen + new,
                    )
                )
        for path in sample_qa_files():
            n = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
            out.append(QuestionSetChoice(f"{SAMPLE_PREFIX}{path.name}", f"Sample: {path.name}", n))
        return out

    def load_question_set(self, ref: str) -> list[EvalQuestion]:
        """The questions of a set picked by reference (`finetune:NAME`, `sample:FILE`) or a file path."""
        if ref.startswith(FINETUNE_PREFIX):
            return read_finetune_halves(self.finetune.training_set_dir(ref[len(FINETUNE_PREFIX) :]))
        if ref.startswith(SAMPLE_PREFIX):
            name = Path(ref[len(SAMPLE_PREFIX) :]).name
            return read_questions(SAMPLES_DIR / name)
        path = Path(ref)
        if path.is_dir():
            return read_finetune_halves(path)
        return read_questions(path)

    def read_upload(self, name: str, data: bytes) -> list[EvalQuestion]:
        """The questions of an uploaded CSV/JSONL file."""
        return read_questions(data, name)

    @staticmethod
    def first_questions(questions: Sequence[EvalQuestion], n: int) -> list[EvalQuestion]:
        """A quick trial's questions: the first `n` of each half when the set has halves (the first `n` of the file
        would all be trained questions word for word, and the halves could not be compared), else the first `n`;
        all of them for n ≤ 0. The file's order is kept."""
        if n <= 0:
            return list(questions)
        taken: dict[str, int] = {}
        chosen = []
        for q in questions:
            part = q.split or UNSPLIT
            if taken.get(part, 0) < n:
                taken[part] = taken.get(part, 0) + 1
                chosen.append(q)
        return chosen

    @staticmethod
    def plan(questions: Sequence[EvalQuestion]) -> RunPlan:
        """How small a difference in correctness the set can tell apart, judged by its smallest part.

        Modes are compared per part (trained facts, new documents…), on the answerable questions only, so the smallest
        part decides what the run can show.
        """
        counts: dict[str, int] = {}
        for q in questions:
            if not q.unanswerable:
                counts[q.split or UNSPLIT] = counts.get(q.split or UNSPLIT, 0) + 1
        n = min(counts.values()) if len(counts) > 1 else sum(counts.values())
        return RunPlan(n, max(len(counts), 1), smallest_detectable_difference(n))

    # ------------------------------------------------------------ runs

    def resolve(self, config: EvalConfig) -> EvalConfig:
        """The config with its engine, models and arms resolved and checked, and a run id: fails now, not per
        question."""
        engine = self.engines.resolve(config.engine)
        wants_variant = any(a in VARIANT_MODES for a in config.arms)  # the plain arms run the run's variant
        variant = (config.variant or self.engines.newest_variant(engine) or "") if wants_variant else ""
        named = list(dict.fromkeys(split_arm(a)[1] for a in config.arms if split_arm(a)[1]))
        arms = check_arms(config.arms, variant, config.collection, self._variant_names(engine) if named else None)
        if _retrieves(arms):
            self.chat.retriever.store.collection_info(config.collection)  # a missing collection fails here
        return replace(
            config,
            arms=arms,
            engine=engine.name,
            variant=self.engines.variant_model(engine, variant) if variant else "",
            variant_models={
                name: self.engines.variant_model(engine, name) for name in ([variant] if variant else []) + named
            },
            base_model=config.base_model or self.engines.default_model(engine),
            # saved with the run, so its figures are read at the threshold its answers were marked at
            confidence_threshold=(
                self.settings.confidence_threshold
                if config.confidence_threshold is None
                else float(config.confidence_threshold)
            ),
            run_id=config.run_id or EVAL_JOB.new_job_id(),
            data_dir=str(self.settings.data_dir),
            created=time.time(),
        )

    def _variant_names(self, engine: Any) -> list[str]:
        """The variants an arm may name on `engine`: those registered for it and, on a server, any model it serves."""
        names = [v.name for v in self.engines.variants_for(engine)]
        if engine.name in ("ollama", "openai"):  # a model trained elsewhere is its own variant, as in the Chat page
            try:
                names += [m.name for m in engine.list_models() if m.name not in names]
            except AppError:
                pass  # the server's list is a convenience: the registered variants still count
        return names

    def variant_lines(self, run: SavedRun) -> list[str]:
        """One line per variant the run scored, with its recipe and training: "v1: recipe plain, 30 pairs × 10 epochs,
        119 s" (a variant deleted since, or trained elsewhere without a record, reads as its name alone)."""
        return [line for _, line in self.variant_recipes(run).values()]

    def variant_recipes(self, run: SavedRun) -> dict[str, tuple[str, str]]:
        """Per variant the run scored, by name: its recipe ('' without a record of its training) and its line."""
        used = [split_arm(a)[1] for a in run.config.arms if split_arm(a)[1]]
        if run.config.variant and any(a in VARIANT_MODES for a in run.config.arms):
            used.insert(0, run.config.variant_name)
        if not used:
            return {}
        infos = self.finetune.variants(run.config.engine or None)
        out = {}
        for name in dict.fromkeys(used):
            # a run saved before variant names were kept names an Ollama or served variant by the model it ran
            info = next((i for i in infos if i.name == name), None) or next(
                (i for i in infos if name in (i.variant.ollama_model, i.variant.served_model)), None
            )
            out[name] = (
                (info.recipe, info.recipe_line())
                if info
                else ("", f"{name}: no record of its training on this machine")
            )
        return out

    def start(self, config: EvalConfig, questions: Sequence[EvalQuestion]) -> str:
        """Start a run as a background job (it goes on when the page is left or the tab closed); returns its id.

        Retrieval for the rag/hybrid arms is recorded here, where the index is open (see core/evaluation/recorded.py).
        JobBusyError when another heavy job (training, evaluation) runs.
        """
        if not questions:
            raise EvaluationError("The question set is empty: pick or upload a set with at least one question.")
        config = self.resolve(config)
        holder = jobs.heavy_job_holder(self.settings.data_dir)
        if holder is not None:  # say so before spending time on retrieval (start_job checks again, atomically)
            raise JobBusyError(
                f"Another heavy job is running ({holder.get('what', 'job')} {holder.get('job_id', '?')}): this machine "
                "runs one at a time. Wait for it to finish or cancel it, then start the evaluation."
            )
        retrieval: list[dict[str, Any]] = []
        if _retrieves(config.arms):
            retrieval = record_retrievals(
                self.chat.retriever, config.collection, [q.question for q in questions], config.top_k, config.retrieval
            )
        payload = {**asdict(config), "questions": [q.to_record() for q in questions], "recorded_retrieval": retrieval}
        total = len(questions) * len(config.arms)
        return jobs.start_job(
            self.settings.data_dir,
            EVAL_JOB,
            payload,
            job_id=config.run_id,
            status={"total_steps": total, "message": f"Starting: {len(questions)} questions × {len(config.arms)} arms"},
        )

    def run(
        self,
        config: EvalConfig,
        questions: Sequence[EvalQuestion],
        progress: Callable[[JobStatus], None] | None = None,
        poll_s: float = 1.0,
    ) -> SavedRun:
        """Start a run and follow it to its end (the command line); Ctrl-C cancels it, keeping the finished answers."""
        run_id = self.start(config, questions)
        last: tuple[Any, ...] = ()
        try:
            while True:
                status = self.status(run_id)
                mark = (status.state, status.step, status.message)
                if progress and mark != last:
                    progress(status)
                    last = mark
                if status.terminal:
                    break
                time.sleep(poll_s)
        except KeyboardInterrupt:
            self.cancel(run_id, wait_s=60)
        return self.load_run(run_id)

    def cancel(self, run_id: str, wait_s: float = 0.0) -> JobStatus:
        """Ask a running run to stop after the answer it is writing; its finished answers are kept."""
        run_dir(self.settings.data_dir, run_id)  # checks the id
        return jobs.cancel_job(self.settings.data_dir, EVAL_JOB, run_id, wait_s)

    def status(self, run_id: str) -> JobStatus:
        """The run's progress, as every background job reports it: state, step/total_steps (answers), eta_s, message."""
        run_dir(self.settings.data_dir, run_id)
        return jobs.job_status(self.settings.data_dir, EVAL_JOB, run_id)

    def running(self) -> str | None:
        """The id of the run in progress, if any."""
        return next((s.job_id for s in jobs.list_jobs(self.settings.data_dir, EVAL_JOB) if not s.terminal), None)

    def list_runs(self) -> list[RunRecord]:
        """Every saved run, newest first: its config (label, arms, engine, question set…), status and summary."""
        out = []
        for status in jobs.list_jobs(self.settings.data_dir, EVAL_JOB):
            folder = run_dir(self.settings.data_dir, status.job_id)
            raw = read_json(folder / "config.json")
            raw = raw if isinstance(raw, dict) else {}
            # a config.json caught while its starter writes it reads as empty: list the run all the same
            config = EvalConfig.from_dict({"collection": "", "arms": [], "created": 0.0, **raw})
            summary = read_json(folder / "summary.json")
            out.append(
                RunRecord(
                    status.job_id,
                    config,
                    status,
                    summary if isinstance(summary, dict) else {},
                    len(raw.get("questions") or []),
                )
            )
        return out

    def load_run(self, run_id: str) -> SavedRun:
        """A saved run with its rows; the summary is recomputed from the rows while the run has not ended.

        Runs saved before the intervals and paired comparisons were kept get them here, from their rows. The confidence
        figures are read at the run's own threshold; a run saved without one is read at the settings' threshold, and
        its summary's `confidence_threshold` says so.
        """
        folder = run_dir(self.settings.data_dir, run_id)
        raw = read_json(folder / "config.json")
        if not isinstance(raw, dict):
            raise EvaluationError(f"No evaluation run {run_id!r}: list runs with `python -m core eval --list`.")
        config = EvalConfig.from_dict(raw)
        rows = read_rows(folder)
        status = self.status(run_id)
        summary = read_json(folder / "summary.json") if status.terminal else None
        if not isinstance(summary, dict):
            summary = {**summarise(rows, config.arms), "complete": False, "judge_model": config.judge_model or None}
        threshold, source = run_threshold(config, self.settings.confidence_threshold)
        if not {"comparisons", "intervals", "answer_sources", "confidence"} <= summary.keys():
            summary = with_statistics(summary, rows, config.arms, threshold, source)
        elif (summary.get("confidence_threshold") or {}).get("value") != threshold:
            summary = with_confidence(summary, rows, threshold, source)
        return SavedRun(run_id, config, status, summary, rows)

    def delete_run(self, run_id: str) -> None:
        """Remove a saved run that has ended."""
        import shutil

        if not self.status(run_id).terminal:
            raise EvaluationError(f"Run {run_id} is still running: cancel it first.")
        shutil.rmtree(run_dir(self.settings.data_dir, run_id))

    # ------------------------------------------------------------ views and exports

    @staticmethod
    def grid(run: SavedRun) -> list[GridRow]:
        """The grid table: one row per arm and split."""
        return grid_rows(run.summary)

    @staticmethod
    def by_source(run: SavedRun) -> list[SourceRow]:
        """The grid per source document: one row per arm and source file."""
        return source_rows(run.summary)

    @staticmethod
    def side_by_side(
        run: SavedRun, disagreements_only: bool = False, kinds: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """One row per question with every arm's answer, verdict and where the answer came from; optionally only where
        the arms disagree, or only questions where some arm's answer is of one of `kinds` (`answer_sources`)."""
        by_q: dict[int, dict[str, Any]] = {}
        found: dict[int, set[str | None]] = {}
        for r in run.rows:
            entry = by_q.setdefault(
                int(r.get("i", 0)),
                {
                    "question": r["question"],
                    "reference": r["reference"] or "(unanswerable)",
                    "split": r.get("split") or "",
                    "source": r.get("source") or "",
                },
            )
            entry[f"{r['arm']} answer"] = shown_answer(r)  # "no answer: <reason>" rather than an empty cell
            entry[f"{r['arm']} ok"] = r["refused"] if r.get("unanswerable") else r.get("correct")
            kind = _answer_kind(r)
            entry[f"{r['arm']} answer was"] = sources.CATEGORY_LABELS[kind] if kind else "–"  # "–": unanswerable
            found.setdefault(int(r.get("i", 0)), set()).add(kind)
        rows = [by_q[i] for i in sorted(by_q) if not kinds or found[i] & set(kinds)]
        if disagreements_only:
            rows = [e for e in rows if len({v for k, v in e.items() if k.endswith(" ok")}) > 1]
        return rows

    @staticmethod
    def answer_sources(run: SavedRun) -> tuple[list[str], list[dict[str, Any]]]:
        """Where each mode's answers came from: its diagnosis sentences, and one chart row per mode and category of
        all its answerable questions (`arm`, `category`, `label`, `answers`, `share`, `order`), in `SOURCE_ORDER`."""
        saved = run.summary.get("answer_sources") or {}
        counts: Mapping[str, Any] = saved.get("counts") or sources.source_counts(run.rows, run.config.arms)
        chart = []
        for arm, splits in counts.items():
            whole: Mapping[str, int] = splits.get(ALL) or {}
            total = sum(whole.values())
            for category in sorted(whole, key=SOURCE_ORDER.index):
                n = whole[category]
                chart.append(
                    {
                        "arm": arm,
                        "category": category,
                        "label": sources.CATEGORY_LABELS[category],
                        "answers": n,
                        "share": n / total if total else 0.0,
                        "order": SOURCE_ORDER.index(category),
                    }
                )
        said = saved.get("diagnosis") or sources.diagnosis(counts)
        return [str(said[arm]) for arm in counts if arm in said], chart

    @staticmethod
    def comparisons(run: SavedRun) -> list[str]:
        """The paired comparisons of the run's modes (as saved with it) as Markdown lines, the clear ones first."""
        return comparison_lines(run.summary.get("comparisons") or [])

    @staticmethod
    def compare(a: SavedRun, b: SavedRun) -> list[dict[str, Any]]:
        """Run A vs run B: each metric of each arm and split present in both, with the difference B − A.

        Correctness is also paired: the two runs' answers to the same question (same text) in the same mode and split,
        with the interval of B − A and the exact test, as `paired` (a sentence), `paired questions` and `clear`.
        """
        out = []
        for arm, splits in a.summary.get("arms", {}).items():
            paired = _paired_runs(a, b, arm, list(splits))
            for split, values in splits.items():
                other = (b.summary.get("arms", {}).get(arm) or {}).get(split)
                if not other:
                    continue
                for key, label in GRID_METRICS.items():
                    va, vb = values.get(key), other.get(key)
                    if va is None and vb is None:
                        continue
                    diff = round(vb - va, 4) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
                    pair = paired.get(split) if key == "correct" else None
                    out.append(
                        {
                            "arm": arm,
                            "split": split,
                            "metric": label,
                            "run A": va,
                            "run B": vb,
                            "B − A": diff,
                            "paired questions": pair.n if pair else None,
                            "paired": pair.sentence() if pair else "",
                            "clear": pair.clear if pair else None,
                        }
                    )
        return out

    @staticmethod
    def rows_csv(run: SavedRun) -> bytes:
        """The per-question rows as CSV (lists and passages as JSON text)."""
        if not run.rows:
            return b""
        keys = list(dict.fromkeys(k for r in run.rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        for r in run.rows:
            writer.writerow(
                {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for k, v in r.items()}
            )
        return buf.getvalue().encode("utf-8")

    @staticmethod
    def run_json(run: SavedRun) -> bytes:
        """The whole run (config, status, summary, rows) as JSON."""
        return json.dumps(run.to_dict(), indent=2, ensure_ascii=False, default=str).encode("utf-8")


def _answer_kind(row: Mapping[str, Any]) -> str | None:
    """Where a row's answer came from: as saved, or classified now for a row saved before the field existed."""
    return row["answer_source"] if "answer_source" in row else sources.answer_source(row)


def _retrieves(arms: Iterable[str]) -> bool:
    """Whether any arm retrieves passages (rag, hybrid, hybrid:NAME)."""
    return any(split_arm(a)[0] in RETRIEVAL_MODES for a in arms)


def comparison_lines(comparisons: Iterable[Mapping[str, Any]]) -> list[str]:
    """Saved comparisons (`PairedComparison.to_dict()`) as Markdown lines, clear first: "**clear**: rag − base …"."""
    ordered = sorted(comparisons, key=lambda c: not c.get("clear"))
    return [f"{'**clear**' if c.get('clear') else 'not clear'}: {c.get('sentence', '')}" for c in ordered]


def _paired_runs(a: SavedRun, b: SavedRun, arm: str, splits: Sequence[str]) -> dict[str, PairedComparison]:
    """Run B against run A in one mode, per split: their answers paired on the same question text."""
    rows = [{**r, "arm": name} for name, run in (("run A", a), ("run B", b)) for r in run.rows if r.get("arm") == arm]
    found = paired_comparisons(rows, ["run B", "run A"], [s for s in splits if s != ALL])
    return {c.split: c for c in found}
