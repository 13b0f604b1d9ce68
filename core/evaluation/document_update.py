"""The document-update test: how fast each approach follows a changed document, measured on this machine.

    1. index the old version of a document in a fresh test collection of its own (never one of the user's);
    2. ask the changed-fact questions in each arm: the old figures are the right answers now;
    3. replace the document by its new version (same name, new bytes) and time the re-indexing;
    4. ask again: the new figures are the right answers now;
    5. set the re-indexing time against the cost of re-training the variant: the variant's recorded training
       time, else an estimate from this machine's measured training speed (said to be an estimate).

It measures whether each mode gives the old or the new figure before and after the change, the share giving the new
one with its 95% interval, and, for each retrieving answer without the new figure, whether the new passage was
retrieved (the reader missed it) or not (the retriever did). When the run ends
(done, failed or raised) the test collection is deleted, unless it is kept on request; a kept one is listed apart
from the user's collections (`library.list_test_collections`). The result, with the collection's name and whether it
was kept, is saved under `<data_dir>/evaluation/update-tests/` for the advisor.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from core.base.ahead import results_in_order
from core.base.files import write_bytes_atomic, write_text_atomic
from core.base.questions import read_questions
from core.chat.service import MODES, RETRIEVAL_MODES, VARIANT_MODES, Question
from core.engines.base import concurrency
from core.errors import AppError, FineTuneError
from core.evaluation.metrics import judge_containment, passage_contains
from core.evaluation.scoring import share_text
from core.evaluation.statistics import wilson_interval
from core.library.samples import SAMPLES_DIR
from core.library.service import TEST_COLLECTION_PREFIX, UploadedFile, is_test_collection, safe_display_name

DEFAULT_EPOCHS = 10  # the training defaults (core.finetune.jobs.TrainConfig)
DEFAULT_BATCH = 4
ASSUMED_PAIRS = 100  # when no training set exists to size the estimate, say so and assume this many pairs
PROBE_STEPS = 4

# Why a retrieving mode's answer after the change lacks the new figure: the reader's fault or the retriever's.
RETRIEVED_OLD = "retrieved_old_figure"
RETRIEVED_OTHER = "retrieved_not_used"
NOT_RETRIEVED = "not_retrieved"
UNKNOWN = "unknown"
MISSED_REASONS = {
    RETRIEVED_OLD: "the new passage was retrieved but the model gave the old figure (the reader, not the index)",
    RETRIEVED_OTHER: "the new passage was retrieved but the model gave neither figure (the reader, not the index)",
    NOT_RETRIEVED: "the new passage was not retrieved (the retriever, not the reader)",
    UNKNOWN: "unknown: this result was saved before the test recorded whether the new passage was retrieved",
}

ProgressFn = Callable[[str, int, int], None]  # (what is happening, done, total)


class UpdateTestError(AppError):
    """The document-update test cannot run as asked."""


@dataclass(frozen=True)
class ChangedFact:
    """A question whose answer the new version changed."""

    question: str
    answer: str  # in the new version
    old_answer: str  # in the old version
    page: int | None = None
    source: str = ""


@dataclass
class UpdateTestConfig:
    """What to run: the two versions, the questions about the changed facts, the arms and the engine."""

    old_file: Path
    new_file: Path
    questions: Path
    collection: str = ""  # the test collection to make; default: update-test-<UTC time>. Never an existing one.
    arms: list[str] = field(default_factory=lambda: list(MODES))
    engine: str | None = None
    variant: str | None = None  # default: the newest variant of the engine, if any
    probe_training: bool = True  # with no recorded training, run a few real steps to measure this machine's speed
    training_cache_dir: str = ""  # where the probe finds the base model's converted weights (default under data_dir)
    keep_collection: bool = False  # keep the test collection afterwards (to look at its documents)


@dataclass
class RetrainCost:
    """What re-training the variant costs: recorded for a real variant, else estimated from measured speed."""

    seconds: float | None
    estimated: bool
    basis: str  # how the figure was obtained, for people
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModeFigures:
    """How one mode answered the changed-fact questions: answers giving the old / new figure, before and after."""

    mode: str
    n: int  # questions asked in each phase
    before_old: int
    before_new: int
    after_old: int
    after_new: int

    @property
    def after_new_interval(self) -> tuple[float, float] | None:
        """The 95% Wilson interval of the share giving the new figure after the change (None: nothing was asked)."""
        return wilson_interval(self.after_new, self.n)


@dataclass(frozen=True)
class ChangedAnswer:
    """One mode's answers to one changed-fact question, before and after the update."""

    question: str
    old_answer: str  # the old version's figure
    answer: str  # the new version's figure
    mode: str
    before: str
    after: str
    why_missed: str | None = None  # a retrieving mode without the new figure after the change: `MISSED_REASONS` key


@dataclass
class UpdateTestResult:
    """Everything the test measured; `to_dict()` is what the CLI prints and what is saved, `from_dict` reads it back."""

    collection: str
    document: str
    engine: str
    base_model: str
    variant: str | None
    arms: list[str]
    reindex: dict[str, Any]
    retrain: RetrainCost
    # arm -> phase (before|after) -> answers giving the old / new figure, of n (+ intervals, why missed)
    summary: dict[str, dict[str, dict[str, Any]]]
    questions: list[dict[str, Any]]
    skipped: list[str]
    created: float = field(default_factory=time.time)
    collection_kept: bool = False  # whether the test collection is still there (kept on request) or was deleted

    @property
    def ratio(self) -> float | None:
        """How many times re-training costs more than re-indexing."""
        seconds = self.reindex.get("seconds") or 0
        return round(self.retrain.seconds / seconds, 1) if self.retrain.seconds and seconds else None

    @property
    def reindex_s(self) -> float:
        """Seconds it took to index the new version (its chunks embedded and stored, the old ones removed)."""
        return float(self.reindex.get("seconds") or 0.0)

    @property
    def reindex_chunks(self) -> int:
        """Chunks of the new version that were indexed."""
        return int(self.reindex.get("chunks") or 0)

    def figures(self) -> list[ModeFigures]:
        """Per mode: how many answers gave the old and the new figure, before and after the update."""
        return [
            ModeFigures(
                arm,
                int(phases["before"]["n"]),
                int(phases["before"]["old"]),
                int(phases["before"]["new"]),
                int(phases["after"]["old"]),
                int(phases["after"]["new"]),
            )
            for arm, phases in self.summary.items()
        ]

    def answers(self) -> list[ChangedAnswer]:
        """Every answer, per question and mode, before and after the update."""
        return [
            ChangedAnswer(
                q["question"],
                q["old_answer"],
                q["answer"],
                arm,
                before=q["before"][arm]["text"],
                after=q["after"][arm]["text"],
                why_missed=why_missed(arm, q["after"][arm]),
            )
            for q in self.questions
            for arm in self.arms
        ]

    def findings(self) -> list[str]:
        """What this run showed, one sentence per mode: the share giving the new figure after the change with its 95%
        interval ("5/6 · 83% (44–97%)"), and for a retrieving mode why the other answers lacked it (unknown for
        results saved before the test recorded what was retrieved)."""
        missed: dict[str, dict[str, int]] = {}
        for a in self.answers():
            if a.why_missed is not None:
                reasons = missed.setdefault(a.mode, {})
                reasons[a.why_missed] = reasons.get(a.why_missed, 0) + 1
        out = []
        for f in self.figures():
            share = share_text(f.after_new / f.n, f.n, f.after_new_interval) if f.n else "no question asked"
            sentence = f"{f.mode} gave the new figure after the change: {share}"
            if f.after_old:
                sentence += f", still the old figure in {f.after_old}"
            reasons = missed.get(f.mode) or {}
            if reasons:
                why = "; ".join(f"{n} where {MISSED_REASONS[code]}" for code, n in reasons.items())
                sentence += f". Not the new figure: {why}"
            out.append(sentence + ".")
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["retrain_vs_reindex"] = self.ratio
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "UpdateTestResult":
        """A saved result read back (`to_dict()`'s JSON; the ratio is recomputed from the figures it came from)."""
        retrain = raw.get("retrain") or {}
        return cls(
            collection=str(raw.get("collection") or ""),
            document=str(raw.get("document") or ""),
            engine=str(raw.get("engine") or ""),
            base_model=str(raw.get("base_model") or ""),
            variant=raw.get("variant") or None,
            arms=list(raw.get("arms") or []),
            reindex=dict(raw.get("reindex") or {}),
            retrain=RetrainCost(
                _float_or_none(retrain.get("seconds")),
                bool(retrain.get("estimated")),
                str(retrain.get("basis") or ""),
                dict(retrain.get("detail") or {}),
            ),
            summary=dict(raw.get("summary") or {}),
            questions=list(raw.get("questions") or []),
            skipped=list(raw.get("skipped") or []),
            created=float(raw.get("created") or 0.0),
            # results saved before test collections existed ran in a collection that was never deleted
            collection_kept=bool(raw.get("collection_kept", True)),
        )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def read_changed_facts(path: Path) -> list[ChangedFact]:
    """The changed-fact questions of a JSONL file (question, answer, old_answer; page and source optional)."""
    facts = []
    for number, item in enumerate(read_questions(Path(path)), 1):
        if not item.answer or not item.old_answer:
            raise UpdateTestError(
                f'{path}: question {number} needs both "answer" (the new version\'s) and "old_answer" (the old '
                "version's)."
            )
        facts.append(ChangedFact(item.question, item.answer, item.old_answer, item.page, item.source))
    if not facts:
        raise UpdateTestError(f"{path} holds no question: add one JSON object per changed fact.")
    return facts


def results_dir(data_dir: Path) -> Path:
    """Where finished update tests are saved."""
    return Path(data_dir) / "evaluation" / "update-tests"


def latest_result(data_dir: Path) -> dict[str, Any] | None:
    """The newest saved update test, or None."""
    folder = results_dir(data_dir)
    for path in sorted(folder.glob("update-*.json"), reverse=True) if folder.is_dir() else []:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # a torn file from a killed process: use the one before
    return None


class UpdateTestService:
    """Runs the document-update test with the app's own library, chat service and training jobs."""

    def __init__(self, services: Any) -> None:
        self.svc = services

    def run(self, config: UpdateTestConfig, progress: ProgressFn | None = None) -> UpdateTestResult:
        """Run the test end to end in a fresh test collection, delete that collection unless kept, save the result."""
        report = progress or (lambda _what, _done, _total: None)
        facts = read_changed_facts(config.questions)
        old, new = self._read(config.old_file), self._read(config.new_file)
        if hashlib.sha256(old.data).digest() == hashlib.sha256(new.data).digest():
            raise UpdateTestError(
                "The old and the new version have the same bytes: give two different versions of the document."
            )
        unknown = [a for a in config.arms if a not in MODES]
        if unknown or not config.arms:
            raise UpdateTestError(f"Unknown arms {unknown or '(none)'}: use some of {', '.join(MODES)}.")

        engines = self.svc.engines
        engine = engines.resolve(config.engine)
        base = engines.default_model(engine)
        variant = engines.variant_model(engine, config.variant or engines.newest_variant(engine) or "") or None
        arms = [a for a in config.arms if a not in VARIANT_MODES or variant]
        skipped = [
            f"{a}: no fine-tuned variant on the {engine.name} engine; build one on the Fine-tune page to measure it"
            for a in config.arms
            if a not in arms
        ]

        collection = self._new_test_collection(config.collection)
        try:
            report("Indexing the old version", 0, 1)
            name = self._index_old_version(collection, old)
            total = len(facts) * len(arms) * 2
            answers_before = self._answer_all(
                engine, collection, base, variant, arms, facts, "before", report, 0, total
            )
            report("Indexing the new version", len(facts) * len(arms), total)
            replaced = self.svc.library.replace_document(collection, UploadedFile(name, new.data))
            if replaced.status != "replaced":
                raise UpdateTestError(f"The new version was not indexed ({replaced.status}): {replaced.reason}")
            answers_after = self._answer_all(
                engine, collection, base, variant, arms, facts, "after", report, len(facts) * len(arms), total
            )
        except BaseException:  # also a rerun or stop of the page that ran it: nothing is left behind unasked
            if not config.keep_collection:
                self._remove(collection)  # the run's own error is the one to report
            raise
        kept = config.keep_collection or not self._remove(collection)
        report("Costing a re-training", total, total)
        retrain = self.retrain_cost(engine.name, variant, config, facts)

        rows, summary = _score(facts, arms, answers_before, answers_after)
        result = UpdateTestResult(
            collection=collection,
            document=name,
            engine=engine.name,
            base_model=base,
            variant=variant,
            arms=arms,
            reindex={
                "seconds": replaced.seconds,
                "chunks": replaced.chunks,
                "previous_chunks": replaced.previous_chunks,
                "pages": replaced.pages,
                "version": replaced.version,
            },
            retrain=retrain,
            summary=summary,
            questions=rows,
            skipped=skipped,
            collection_kept=kept,
        )
        self._save(result)
        return result

    def latest(self) -> UpdateTestResult | None:
        """The newest saved update test of this data directory, or None."""
        saved = latest_result(self.svc.settings.data_dir)
        return None if saved is None else UpdateTestResult.from_dict(saved)

    def run_uploads(
        self,
        old: UploadedFile,
        new: UploadedFile,
        questions: UploadedFile,
        arms: Sequence[str],
        engine: str | None = None,
        progress: ProgressFn | None = None,
        probe_training: bool = True,
        keep_collection: bool = False,
    ) -> UpdateTestResult:
        """Run the test on uploaded files (kept under the results folder, so the run can be repeated)."""
        if safe_display_name(old.name) != safe_display_name(new.name):
            raise UpdateTestError(
                f"The two versions must have the same file name (a new version replaces the old one): "
                f"got '{safe_display_name(old.name)}' and '{safe_display_name(new.name)}'."
            )
        folder = results_dir(self.svc.settings.data_dir) / "inputs" / time.strftime("%Y%m%d-%H%M%S")
        paths = []
        for sub, upload in (("old", old), ("new", new), ("questions", questions)):
            path = folder / sub / safe_display_name(upload.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, upload.data)
            paths.append(path)
        return self.run(
            UpdateTestConfig(
                paths[0],
                paths[1],
                paths[2],
                keep_collection=keep_collection,
                arms=list(arms),
                engine=engine,
                probe_training=probe_training,
            ),
            progress,
        )

    @staticmethod
    def sample_config(
        arms: Sequence[str], engine: str | None = None, probe_training: bool = True, keep_collection: bool = False
    ) -> UpdateTestConfig:
        """The test on the sample pair: the dishwasher manual, revision 3 then 4, with its changed-fact questions."""
        update = SAMPLES_DIR / "update"
        return UpdateTestConfig(
            SAMPLES_DIR / "aquaflow-dishwasher-manual.pdf",
            update / "aquaflow-dishwasher-manual.pdf",
            update / "changed-facts.questions.jsonl",
            keep_collection=keep_collection,
            arms=list(arms),
            engine=engine,
            probe_training=probe_training,
        )

    # --- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _read(path: Path) -> UploadedFile:
        try:
            return UploadedFile(Path(path).name, Path(path).read_bytes())
        except OSError as exc:
            raise UpdateTestError(f"Cannot read {path}: {exc.strerror}. Check the path.") from None

    def _new_test_collection(self, requested: str) -> str:
        """Create the run's own test collection: `requested`, else update-test-<UTC time>; never an existing one."""
        library = self.svc.library
        if requested and not is_test_collection(requested):
            if library.store.has_collection(requested):
                raise UpdateTestError(
                    f"'{requested}' is one of your collections, and the update test never writes into them: leave "
                    f"out the collection name (a fresh test collection is made), or give a new name starting with "
                    f"'{TEST_COLLECTION_PREFIX}'."
                )
            raise UpdateTestError(
                f"The update test runs in a test collection of its own, listed apart from yours: its name must start "
                f"with '{TEST_COLLECTION_PREFIX}' (e.g. '{TEST_COLLECTION_PREFIX}{requested}'), or leave it out."
            )
        name = requested
        if not name:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            name, n = f"{TEST_COLLECTION_PREFIX}{stamp}", 2
            while library.store.has_collection(name):  # two runs within one second
                name, n = f"{TEST_COLLECTION_PREFIX}{stamp}-{n}", n + 1
        return library.create_test_collection(name).name  # refuses one that exists (kept from an earlier run)

    def _index_old_version(self, collection: str, old: UploadedFile) -> str:
        """Index the old version in the run's fresh test collection; returns the document's name."""
        (result,) = self.svc.library.ingest(collection, [old])
        if result.status != "indexed":  # a fresh collection holds no duplicate: this is a rejection
            raise UpdateTestError(f"The old version could not be indexed: {result.reason}")
        return result.name

    def _remove(self, collection: str) -> bool:
        """Delete the run's test collection; False if it could not be (it stays listed apart, to delete by hand)."""
        with suppress(AppError):
            self.svc.library.delete_collection(collection)
            return True
        return False

    def _answer_all(
        self,
        engine: Any,
        collection: str,
        base: str,
        variant: str | None,
        arms: Sequence[str],
        facts: Sequence[ChangedFact],
        phase: str,
        report: ProgressFn,
        done: int,
        total: int,
    ) -> dict[tuple[int, str], dict[str, Any]]:
        settings = self.svc.settings

        def ask(fact: ChangedFact, arm: str) -> dict[str, Any]:
            question = Question(
                text=fact.question,
                mode=arm,  # type: ignore[arg-type]
                collection=collection if arm in RETRIEVAL_MODES else None,
                base_model=base,
                variant_model=variant,
                top_k=settings.top_k,
                temperature=0.0,
                retrieval=settings.retrieval,
                max_tokens=min(settings.max_answer_tokens, 96),
            )
            stream = self.svc.chat.ask(question, engine)
            for _ in stream:
                pass
            answer = stream.answer
            return {
                "text": answer.text,
                "total_ms": answer.timings.get("total_ms"),
                "error": answer.error,
                "sources": [f"{s.source} p.{s.page}" for s in answer.sources],
                # whether the new figure was in what the model read: tells a missed change's reader from its retriever
                "contains_new": any(passage_contains(s.text, fact.answer) for s in answer.sources)
                if arm in RETRIEVAL_MODES
                else None,
            }

        cells = [(i, arm) for i in range(len(facts)) for arm in arms]
        # on a batching server some answers are asked ahead of the one awaited; they are read in this order
        answers = results_in_order((partial(ask, facts[i], arm) for i, arm in cells), concurrency(engine), "update")
        out: dict[tuple[int, str], dict[str, Any]] = {}
        try:
            for i, arm in cells:
                report(f"Answering {phase} the change: {arm}, question {i + 1} of {len(facts)}", done, total)
                out[(i, arm)] = next(answers)
                done += 1
        finally:
            answers.close()  # a failed answer or a raising report: the answers asked ahead are stopped
        return out

    def retrain_cost(
        self, engine: str, variant: str | None, config: UpdateTestConfig, facts: Sequence[ChangedFact]
    ) -> RetrainCost:
        """The recorded cost of re-training `variant`, else an estimate from this machine's measured training speed."""
        if variant:
            record = next((v for v in self.svc.variants.list() if variant in (v.name, v.ollama_model)), None)
            wall = (record.cost or {}).get("wall_s") if record else None
            if wall:
                return RetrainCost(
                    float(wall),
                    False,
                    f"recorded: training variant {record.name} took {float(wall):.0f} s on this machine",  # type: ignore[union-attr]
                    dict(record.cost),  # type: ignore[union-attr]
                )
        speed = self._measured_speed()
        if speed is None and config.probe_training:
            speed = self._probe_speed(config, facts)
        if speed is None:
            return RetrainCost(
                None,
                True,
                "unknown: no training has run on this machine yet; train a variant (Fine-tune page) to record one",
            )
        pairs, pairs_basis = self._training_set_size()
        steps = math.ceil(pairs / DEFAULT_BATCH) * DEFAULT_EPOCHS
        seconds = speed["load_s"] + steps * speed["s_per_step"]
        basis = (
            f"estimate: {pairs} pairs ({pairs_basis}) × {DEFAULT_EPOCHS} epochs = {steps} steps at "
            f"{speed['s_per_step']:.2f} s per step + {speed['load_s']:.0f} s loading, measured {speed['source']}"
        )
        return RetrainCost(round(seconds, 1), True, basis, {"pairs": pairs, "steps": steps, **speed})

    def _measured_speed(self) -> dict[str, Any] | None:
        """Training speed recorded by an earlier job on this data directory (seconds per step, loading time)."""
        for status in self.svc.finetune.training_jobs():
            cost = status.cost
            if cost.get("s_per_step") and cost.get("steps"):
                return {
                    "s_per_step": float(cost["s_per_step"]),
                    "load_s": float(cost.get("load_s") or 0.0),
                    "source": f"by training job {status.job_id}",
                    "batch_size": cost.get("batch_size"),
                }
        return None

    def _probe_speed(self, config: UpdateTestConfig, facts: Sequence[ChangedFact]) -> dict[str, Any] | None:
        """Run a few real training steps (a short job on the changed facts) to measure this machine's speed."""
        finetune = self.svc.finetune
        folder = results_dir(self.svc.settings.data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        dataset = finetune.export_pairs([(f.question, f.old_answer) for f in facts], folder / "probe-pairs.jsonl")
        options: dict[str, Any] = {"max_steps": PROBE_STEPS, "epochs": DEFAULT_EPOCHS, "batch_size": DEFAULT_BATCH}
        if config.training_cache_dir:
            options["cache_dir"] = config.training_cache_dir
        try:
            job = finetune.start_training(dataset, engine="embedded", **options)
        except FineTuneError:
            return None  # another heavy job is running: leave the cost unknown rather than wait
        status = finetune.wait(job, timeout_s=900)
        cost = dict(status.extra.get("cost") or {})
        if status.state != "done" or not cost.get("s_per_step"):
            return None
        return {
            "s_per_step": float(cost["s_per_step"]),
            "load_s": float(cost.get("load_s") or 0.0),
            "source": f"now by a {cost.get('steps')}-step probe job ({job})",
            "batch_size": cost.get("batch_size"),
        }

    def _training_set_size(self) -> tuple[int, str]:
        for info in self.svc.finetune.training_sets():
            try:
                return len(self.svc.finetune.training_pairs(info.name)), f"the size of training set {info.name}"
            except (AppError, KeyError, ValueError, OSError):
                continue  # an unfinished or foreign folder: size the estimate from the next one
        return ASSUMED_PAIRS, "assumed: no training set saved yet"

    def _save(self, result: UpdateTestResult) -> Path:
        folder = results_dir(self.svc.settings.data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / time.strftime("update-%Y%m%d-%H%M%S.json", time.localtime(result.created))
        write_text_atomic(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
        return path


def why_missed(arm: str, given: Mapping[str, Any]) -> str | None:
    """Why a retrieving mode's answer after the change lacks the new figure (a `MISSED_REASONS` key); else None.

    Results saved before the test recorded what was retrieved (`contains_new`) get "unknown".
    """
    if arm not in RETRIEVAL_MODES or given.get("new"):
        return None
    retrieved = given.get("contains_new")
    if retrieved is None:
        return UNKNOWN
    if retrieved:
        return RETRIEVED_OLD if given.get("old") else RETRIEVED_OTHER
    return NOT_RETRIEVED


def share_interval(successes: int, n: int) -> list[float] | None:
    """The 95% Wilson interval of a share as saved with a result ([low, high], 4 decimals); None with nothing asked."""
    interval = wilson_interval(successes, n)
    return None if interval is None else [round(interval[0], 4), round(interval[1], 4)]


def _score(
    facts: Sequence[ChangedFact],
    arms: Sequence[str],
    before: dict[tuple[int, str], dict[str, Any]],
    after: dict[tuple[int, str], dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]:
    """Per question and arm: whether the answer gives the old or the new figure; per arm and phase: the counts.

    Before the update the old figure is the right answer, after it the new one. Each phase's share of answers giving
    that phase's right figure gets its 95% interval (`old_ci` before, `new_ci` after); a retrieving mode's answers
    after the change that lack the new figure are counted by why (`missed`: `MISSED_REASONS` keys).
    """
    summary: dict[str, dict[str, dict[str, Any]]] = {
        arm: {phase: {"old": 0, "new": 0, "n": len(facts)} for phase in ("before", "after")} for arm in arms
    }
    rows = []
    for i, fact in enumerate(facts):
        row: dict[str, Any] = {
            "question": fact.question,
            "old_answer": fact.old_answer,
            "answer": fact.answer,
            "before": {},
            "after": {},
        }
        for phase, answers in (("before", before), ("after", after)):
            for arm in arms:
                given = answers[(i, arm)]
                # strict containment: a list of candidate figures does not count as giving one
                gives_old = judge_containment(given["text"], fact.old_answer, fact.question).correct
                gives_new = judge_containment(given["text"], fact.answer, fact.question).correct
                row[phase][arm] = {**given, "old": gives_old, "new": gives_new}
                summary[arm][phase]["old"] += int(gives_old)
                summary[arm][phase]["new"] += int(gives_new)
                if phase == "after" and arm in RETRIEVAL_MODES:
                    why = why_missed(arm, row[phase][arm])
                    row[phase][arm]["why_missed"] = why
                    missed = summary[arm][phase].setdefault("missed", dict.fromkeys(MISSED_REASONS, 0))
                    missed.pop(UNKNOWN, None)  # a run that records what was retrieved always knows
                    if why is not None:
                        missed[why] += 1
        rows.append(row)
    for phases in summary.values():
        phases["before"]["old_ci"] = share_interval(phases["before"]["old"], len(facts))
        phases["after"]["new_ci"] = share_interval(phases["after"]["new"], len(facts))
    return rows, summary
