"""The evaluation service: what the Evaluate page and `python -m core eval` call.

Question sets come from the Fine-tune wing's held-out halves, the sample documents' question files or an
upload; a run is prepared (its folder written), then executed in this process (the command line) or as a
background job (the page); saved runs are listed, reloaded, compared and exported.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from core.config import Settings
from core.errors import EvaluationError
from core.evaluation.runner import ProgressFn, check_arms, run_evaluation
from core.evaluation.runs import (
    TERMINAL, EvalConfig, SavedRun, new_run_id, read_json, read_rows, run_dir, runs_root, write_json,
)
from core.evaluation.scoring import GRID_METRICS, grid_rows, summarise
from core.questions import EvalQuestion, read_finetune_halves, read_questions

SAMPLE_PREFIX = "sample:"
FINETUNE_PREFIX = "finetune:"


@dataclass(frozen=True)
class QuestionSetChoice:
    """A question set the user can pick: its reference (for `load_question_set`), a label and its size."""

    ref: str
    label: str
    count: int


class EvaluationService:
    """Scores the chat modes on a question set and keeps the runs."""

    def __init__(self, settings: Settings, chat: Any, embedder: Any, variants: Any) -> None:
        self.settings = settings
        self.chat = chat
        self.embedder = embedder
        self.variants = variants

    # ------------------------------------------------------------ question sets

    def question_sets(self) -> list[QuestionSetChoice]:
        """The Fine-tune wing's held-out halves (newest first), then the sample documents' question files."""
        from core.finetune.dataset import list_datasets
        from core.samples import sample_qa_files

        out = []
        for manifest in list_datasets(self.settings.data_dir):
            stats = manifest.get("stats") or {}
            n = int(stats.get("eval_seen") or 0) + int(stats.get("eval_new") or 0)
            if n:
                out.append(QuestionSetChoice(f"{FINETUNE_PREFIX}{manifest['name']}",
                                             f"Fine-tune halves of '{manifest['name']}' ({stats.get('eval_seen', 0)} seen facts + {stats.get('eval_new', 0)} new documents)", n))
        for path in sample_qa_files():
            n = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
            out.append(QuestionSetChoice(f"{SAMPLE_PREFIX}{path.name}", f"Sample: {path.name}", n))
        return out

    def load_question_set(self, ref: str) -> list[EvalQuestion]:
        """The questions of a set picked by reference (`finetune:NAME`, `sample:FILE`) or a file path."""
        from core.finetune.dataset import dataset_dir
        from core.samples import SAMPLES_DIR

        if ref.startswith(FINETUNE_PREFIX):
            return read_finetune_halves(dataset_dir(self.settings.data_dir, ref[len(FINETUNE_PREFIX):]))
        if ref.startswith(SAMPLE_PREFIX):
            name = Path(ref[len(SAMPLE_PREFIX):]).name
            return read_questions(SAMPLES_DIR / name)
        path = Path(ref)
        if path.is_dir():
            return read_finetune_halves(path)
        return read_questions(path)

    def read_upload(self, name: str, data: bytes) -> list[EvalQuestion]:
        """The questions of an uploaded CSV/JSONL file."""
        return read_questions(data, name)

    # ------------------------------------------------------------ runs

    def resolve(self, config: EvalConfig) -> EvalConfig:
        """The config with its engine, models and arms resolved and checked, and a run id: fails now, not per question."""
        from core.engines.select import choose_engine, default_model

        engine = choose_engine(self.settings, config.engine)
        variant = config.variant
        wants_variant = any(a in ("finetuned", "hybrid") for a in config.arms)
        if wants_variant and not variant:
            variant = self._newest_variant(engine.name)
        arms = check_arms(config.arms, variant, config.collection)
        if any(a in ("rag", "hybrid") for a in arms):
            self.chat.retriever.store.collection_info(config.collection)  # a missing collection fails here
        return replace(config, arms=arms, engine=engine.name, variant=variant if wants_variant else "",
                       base_model=config.base_model or default_model(engine, self.settings),
                       run_id=config.run_id or new_run_id(), data_dir=str(self.settings.data_dir), created=time.time())

    def execute(self, folder: Path, progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Run the run whose config.json and questions.jsonl are in `folder`; returns how it ended (state, message, step)."""
        from core.engines.select import engine_for_name

        config = EvalConfig.from_dict(read_json(folder / "config.json") or {})
        questions = read_questions(folder / "questions.jsonl")
        engine = engine_for_name(self.settings, config.engine)
        judge = engine_for_name(self.settings, "ollama") if config.judge_model else None
        return run_evaluation(self.chat, engine, self.embedder, config, questions, folder, progress, should_stop, judge)

    def run(self, config: EvalConfig, questions: Sequence[EvalQuestion], progress: Callable[[dict[str, Any]], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> SavedRun:
        """Resolve and run an evaluation in this process (the command line); `progress` gets the status (step, total_steps, eta_s…)."""
        from core.questions import write_questions

        if not questions:
            raise EvaluationError("The question set is empty: pick or upload a set with at least one question.")
        config = self.resolve(config)
        folder = run_dir(self.settings.data_dir, config.run_id)
        folder.mkdir(parents=True, exist_ok=False)
        write_json(folder / "config.json", asdict(config))
        write_questions(folder / "questions.jsonl", questions)
        started = time.time()
        status: dict[str, Any] = {"run_id": config.run_id, "state": "running", "step": 0, "total_steps": len(questions) * len(config.arms),
                                  "message": "Starting", "created": started, "started": started, "pid": os.getpid()}
        write_json(folder / "status.json", status)
        cancel_flag = folder / "cancel"

        def report(done: int, total: int, message: str) -> None:
            eta = (time.time() - started) / done * (total - done) if done else None
            status.update(step=done, total_steps=total, message=message, eta_s=None if eta is None else round(eta, 1), updated=time.time())
            write_json(folder / "status.json", status)
            if progress:
                progress(dict(status))

        final = self.execute(folder, report, lambda: cancel_flag.exists() or bool(should_stop and should_stop()))
        status.update(final, finished=time.time(), eta_s=0 if final["state"] == "done" else None)
        write_json(folder / "status.json", status)
        return self.load_run(config.run_id)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Ask a running run to stop after the answer it is writing; its finished answers are kept."""
        folder = run_dir(self.settings.data_dir, run_id)
        if not folder.is_dir():
            raise EvaluationError(f"No evaluation run {run_id!r}: list runs with `python -m core eval --list`.")
        (folder / "cancel").write_text(str(time.time()), encoding="utf-8")
        return self.status(run_id)

    def status(self, run_id: str) -> dict[str, Any]:
        """The run's progress: state, step/total_steps (answers), ETA seconds, message."""
        folder = run_dir(self.settings.data_dir, run_id)
        status = read_json(folder / "status.json")
        if status is None:
            raise EvaluationError(f"No evaluation run {run_id!r}: list runs with `python -m core eval --list`.")
        return {"run_id": run_id, **status}

    def list_runs(self) -> list[dict[str, Any]]:
        """Every saved run, newest first: id, label, arms, engine, question set, state, headline scores."""
        root = runs_root(self.settings.data_dir)
        out = []
        if root.is_dir():
            for folder in sorted(root.iterdir(), reverse=True):
                config = read_json(folder / "config.json")
                if not isinstance(config, dict):
                    continue
                status = read_json(folder / "status.json") or {}
                summary = read_json(folder / "summary.json") or {}
                headline = {arm: (splits.get("all") or {}).get("correct") for arm, splits in (summary.get("arms") or {}).items()}
                out.append({"run_id": folder.name, "label": config.get("label", ""), "created": config.get("created"),
                            "collection": config.get("collection"), "arms": config.get("arms"), "engine": config.get("engine"),
                            "variant": config.get("variant"), "question_set": config.get("question_set"),
                            "state": status.get("state"), "step": status.get("step"), "total_steps": status.get("total_steps"),
                            "correct": headline})
        return out

    def load_run(self, run_id: str) -> SavedRun:
        """A saved run with its rows; the summary is recomputed from the rows when it was not written (a killed run)."""
        folder = run_dir(self.settings.data_dir, run_id)
        raw = read_json(folder / "config.json")
        if not isinstance(raw, dict):
            raise EvaluationError(f"No evaluation run {run_id!r}: list runs with `python -m core eval --list`.")
        config = EvalConfig.from_dict(raw)
        rows = read_rows(folder)
        status = read_json(folder / "status.json") or {}
        summary = read_json(folder / "summary.json") if status.get("state") in TERMINAL else None
        if not isinstance(summary, dict):
            summary = {**summarise(rows, config.arms), "complete": False, "judge_model": config.judge_model or None}
        return SavedRun(run_id, config, {"run_id": run_id, **status}, summary, rows)

    def delete_run(self, run_id: str) -> None:
        """Remove a saved run that is not running."""
        import shutil

        if self.status(run_id).get("state") == "running":
            raise EvaluationError(f"Run {run_id} is still running: cancel it first.")
        shutil.rmtree(run_dir(self.settings.data_dir, run_id))

    # ------------------------------------------------------------ views and exports

    @staticmethod
    def grid(run: SavedRun) -> list[dict[str, Any]]:
        """The grid table: one row per arm and split."""
        return grid_rows(run.summary)

    @staticmethod
    def side_by_side(run: SavedRun, disagreements_only: bool = False) -> list[dict[str, Any]]:
        """One row per question with every arm's answer and verdict; optionally only where the arms disagree."""
        by_q: dict[int, dict[str, Any]] = {}
        for r in run.rows:
            entry = by_q.setdefault(int(r.get("i", 0)), {"question": r["question"], "reference": r["reference"] or "(unanswerable)",
                                                          "split": r.get("split") or "", "source": r.get("source") or ""})
            entry[f"{r['arm']} answer"] = r["answer"]
            entry[f"{r['arm']} ok"] = r["refused"] if r.get("unanswerable") else r.get("correct")
        rows = [by_q[i] for i in sorted(by_q)]
        if disagreements_only:
            rows = [e for e in rows if len({v for k, v in e.items() if k.endswith(" ok")}) > 1]
        return rows

    @staticmethod
    def compare(a: SavedRun, b: SavedRun) -> list[dict[str, Any]]:
        """Run A vs run B: each metric of each arm and split present in both, with the difference B − A."""
        out = []
        for arm, splits in a.summary.get("arms", {}).items():
            for split, values in splits.items():
                other = (b.summary.get("arms", {}).get(arm) or {}).get(split)
                if not other:
                    continue
                for key, label in GRID_METRICS.items():
                    va, vb = values.get(key), other.get(key)
                    if va is None and vb is None:
                        continue
                    diff = round(vb - va, 4) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
                    out.append({"arm": arm, "split": split, "metric": label, "run A": va, "run B": vb, "B − A": diff})
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
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v for k, v in r.items()})
        return buf.getvalue().encode("utf-8")

    @staticmethod
    def run_json(run: SavedRun) -> bytes:
        """The whole run (config, status, summary, rows) as JSON."""
        return json.dumps(run.to_dict(), indent=2, ensure_ascii=False, default=str).encode("utf-8")

    def _newest_variant(self, engine: str) -> str:
        variants = self.variants.list(engine)
        if not variants:
            return ""
        return variants[0].name if engine == "embedded" else (variants[0].ollama_model or variants[0].name)
