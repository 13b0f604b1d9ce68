"""The advisor: RAG, fine-tuning or hybrid, from a team's answers to five questions and the measured evidence.

Every criterion and every measurement adds points to one or more approaches and says why, so the page can
show how each one moved the recommendation. The criteria alone and the measurements alone are also ranked
separately: when they point to different approaches the advice says so plainly instead of averaging it away.
When there is no evidence yet, the advice lists the runs that would provide it.

The rules follow the usual practitioner guidance: RAG suits teams of application engineers, data that
changes, small budgets and little labelled data; fine-tuning suits static knowledge, ML teams with GPUs and
many labelled examples, and answers that must come fast (no retrieval, short prompts); hybrid is for teams
that can afford both and need the variant's behaviour with current facts.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, get_args

from core.base import jobs
from core.base.questions import SPLIT_GLOSSES, SPLIT_LABELS
from core.chat.service import MODES
from core.errors import AppError
from core.evaluation import answer_sources as sources
from core.evaluation.confidence_metrics import Band, Share
from core.evaluation.job import EVAL_JOB
from core.evaluation.runner import reversed_comparison
from core.evaluation.runs import EvalConfig, arm_label, read_json, run_dir, split_arm
from core.evaluation.scoring import ALL, share_text
from core.evaluation.service import PAIRED_EXPLAINED, SOURCE_ORDER, comparison_lines
from core.evaluation.statistics import (
    UNSPLIT,
    PairedComparison,
    fisher_exact_p,
    newcombe_independent_interval,
    paired_comparison,
    questions_needed,
    signed_points,
    wilson_interval,
)

Approach = Literal["rag", "finetuning", "hybrid"]
APPROACHES: tuple[Approach, ...] = ("rag", "finetuning", "hybrid")  # also the tie-break order: cheapest first
LABELS = {"rag": "RAG", "finetuning": "Fine-tuning", "hybrid": "Hybrid (fine-tuned model + RAG)"}
ARM_OF: dict[str, str] = {
    "rag": "rag",
    "finetuning": "finetuned",
    "hybrid": "hybrid",
}  # the grid mode measuring each approach; a run may score it with several variants (`hybrid:NAME`)
APPROACH_OF = {mode: approach for approach, mode in ARM_OF.items()}

Skills = Literal["app_engineering", "mixed", "nlp_dl"]
DataChanges = Literal["static", "yearly", "monthly", "weekly", "daily"]
Budget = Literal["small", "medium", "large"]
Hardware = Literal["cpu", "gpu", "cluster"]
SKILL_LABELS: dict[Skills, str] = {
    "app_engineering": "application engineering",
    "mixed": "both",
    "nlp_dl": "NLP / deep learning",
}
CHANGE_LABELS: dict[DataChanges, str] = {
    "static": "static (never changes)",
    "yearly": "about once a year",
    "monthly": "about monthly",
    "weekly": "weekly",
    "daily": "daily",
}
CHANGES_PER_YEAR = {"static": 0, "yearly": 1, "monthly": 12, "weekly": 52, "daily": 365}
BUDGET_LABELS: dict[Budget, str] = {"small": "small", "medium": "medium", "large": "large"}
HARDWARE_LABELS: dict[Hardware, str] = {"cpu": "CPU only", "gpu": "a GPU", "cluster": "several GPUs"}
# what a wrong answer costs the team: False little, True a lot (the advice then weighs the answers it was sure of)
WRONG_COST_LABELS: dict[bool, str] = {False: "little (a user re-asks)", True: "a lot (legal, medical, safety)"}
WRONG_COST_HELP = (
    "A lot: a wrong answer the user acts on does harm (legal, medical, safety). The advice then also compares the "
    "accuracy of the answers each approach was sure of (the others reach the user marked 'Unsure'), from the "
    "confidence figures the latest grid run saved; only a clear difference moves it. Little: a user who gets a wrong "
    "answer re-asks, and that comparison is left out."
)

MIN_QUESTIONS = 5  # fewer scored questions than this per arm and split are too few to move anything
# arms closer than 3 points of correctness are level: even a real difference this small should not decide the approach
LEVEL_GAP = 0.03
CLEAR_POINTS = 2.0  # what a lead moves when its paired comparison is clear (the interval and the exact test agree)
# what the budget and hardware moves say when no volume is given (with one, costs.cost_moves weighs them in hours)
RULE_OF_THUMB = " (Rule of thumb: give your volume to weigh this in hours.)"
PLAN = "95% confidence, 80% power"  # the level and power of the questions-needed figure (statistics' defaults)


class AdvisorInputError(AppError):
    """An advisor input is missing or outside the allowed values."""


def _check_choice(name: str, value: str, kind: Any) -> None:
    allowed = get_args(kind)
    if value not in allowed:
        raise AdvisorInputError(f"{name} {value!r} is not one of {', '.join(allowed)}: pick one of those.")


@dataclass(frozen=True)
class Criteria:
    """The practitioner's five questions, as the team answers them."""

    team_skills: Skills = "app_engineering"
    data_changes: DataChanges = "monthly"
    budget: Budget = "medium"
    hardware: Hardware = "cpu"
    labelled_pairs: int = 0  # question/answer pairs the team has (or can write) for training
    max_answer_s: float | None = None  # how fast a whole answer must come; None: no requirement
    wrong_answers_costly: bool = False  # a wrong answer costs a lot (legal, medical, safety), not just a re-ask

    def __post_init__(self) -> None:
        _check_choice("Team skills", self.team_skills, Skills)
        _check_choice("Data changes", self.data_changes, DataChanges)
        _check_choice("Budget", self.budget, Budget)
        _check_choice("Hardware", self.hardware, Hardware)
        if self.labelled_pairs < 0:
            raise AdvisorInputError("The number of labelled pairs cannot be negative: give 0 if there are none.")
        if self.max_answer_s is not None and self.max_answer_s <= 0:
            raise AdvisorInputError(
                "The answer-time target must be a positive number of seconds, or left empty for no requirement."
            )


@dataclass(frozen=True)
class ArmScore:
    """One cell of the scored grid: an arm on a split, with its correctness and latency."""

    arm: str  # base | rag | finetuned | hybrid
    split: str  # "seen" (facts the variant was trained on), "new" (documents it never saw) or "" (the whole set)
    correct: float  # share of questions answered correctly, 0..1
    n: int
    p50_ms: float | None = None  # whole answer, median
    p95_ms: float | None = None
    ci: tuple[float, float] | None = None  # the 95% Wilson interval of `correct`, as saved with the run

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% Wilson interval of `correct`: as saved, else from the cell's count (None: no question)."""
        return self.ci or wilson_interval(round(self.correct * self.n), self.n)

    @property
    def shown(self) -> str:
        """The cell as the grid reads it: "8/15 · 53% (30–75%)"."""
        return share_text(self.correct, self.n, self.interval)


@dataclass(frozen=True)
class UpdateEvidence:
    """What the document-update test measured."""

    reindex_s: float  # seconds to index the changed document
    retrain_s: float | None  # seconds to re-train the variant (recorded, or estimated)
    retrain_estimated: bool
    current_after: dict[str, float] = field(
        default_factory=dict
    )  # arm -> share answering the new facts after the update
    n: int = 0  # changed-fact questions
    when: str = ""


@dataclass(frozen=True)
class RunSettings:
    """The exact settings of the grid run the evidence comes from, so a reader can repeat it."""

    run_id: str
    engine: str
    base_model: str
    variant: str
    retrieval: str
    top_k: int
    temperature: float
    max_tokens: int
    collection: str
    question_set: str
    questions: int
    questions_hash: str  # sha256 of the questions and references as the run saved them (first 12 hex digits)
    # below which confidence an answer was marked unsure, and whether the run saved it ("0.5 (saved with the run)")
    confidence_threshold: str = ""

    def rows(self) -> list[tuple[str, str]]:
        """The settings as (name, value) pairs for a report."""
        threshold = [("confidence threshold (unsure below)", self.confidence_threshold)]
        return [
            ("run", self.run_id),
            ("engine", self.engine),
            ("model", self.base_model or "the engine's default"),
            ("variant (fine-tuned arms)", self.variant or "none"),
            ("retrieval", f"{self.retrieval}, k = {self.top_k}"),
            ("temperature · max tokens", f"{self.temperature:g} · {self.max_tokens}"),
            ("collection", self.collection),
            ("question set", self.question_set or "not named"),
            ("questions · sha256", f"{self.questions} · {self.questions_hash or 'not saved'}"),
        ] + (threshold if self.confidence_threshold else [])


def newest_finished_run(data_dir: Path) -> str | None:
    """The run the advice and the cost rates read when none is named: the newest one done or cancelled."""
    return next(
        (s.job_id for s in jobs.list_jobs(data_dir, EVAL_JOB) if s.state in ("done", "cancelled")),
        None,
    )


def run_settings(data_dir: Path, run_id: str) -> RunSettings | None:
    """The settings a saved grid run was made with, and a hash of its questions (None: no such run)."""
    raw = read_json(run_dir(data_dir, run_id) / "config.json")
    if not isinstance(raw, dict):
        return None
    config = EvalConfig.from_dict({"collection": "", "arms": [], **raw})
    saved = raw.get("questions")
    questions: list[Any] = saved if isinstance(saved, list) else []
    # canonical JSON: the same questions hash the same whatever order their keys were written in
    digest = hashlib.sha256(json.dumps(questions, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return RunSettings(
        run_id,
        config.engine,
        config.base_model,
        config.variant,
        config.retrieval,
        config.top_k,
        config.temperature,
        config.max_tokens,
        config.collection,
        config.question_set,
        len(questions),
        digest[:12] if questions else "",
    )


@dataclass(frozen=True)
class SureAnswers:
    """How sure one arm's answers were, as its run saved them (denominators: core/evaluation/confidence_metrics.py)."""

    arm: str
    accuracy: Share  # right / answerable
    sure_share: Share  # marked sure / answerable
    selective_accuracy: Share  # right / marked sure: the accuracy of the answers the app stood behind
    confidently_wrong: Share  # wrong with no mark at all / answerable
    auroc: float | None = None
    judged: int | None = None  # answers that carried a confidence (None: not saved); 0: the figures judge nothing
    reliability: tuple[Band, ...] = ()  # per band of confidence: answers, their mean confidence, the share right


@dataclass(frozen=True)
class VariantRecipe:
    """A fine-tuned variant a run scored, with how it was trained, for a reader."""

    name: str
    recipe: str  # plain, read-passages, paraphrase…; "" when this machine has no record of its training
    line: str  # "v1: recipe plain, 30 pairs × 10 epochs, 119 s" (the Evaluate page's line)


@dataclass(frozen=True)
class VariantPick:
    """Which of a run's variants is weighed for an approach, and the paired comparison it was picked by."""

    approach: str
    arm: str  # finetuned, finetuned:NAME…
    others: tuple[str, ...] = ()  # the approach's other arms, best first
    comparison: PairedComparison | None = None  # the pick against the next best on all questions (pick − next)


@dataclass(frozen=True)
class Evidence:
    """The latest measurements the advice can use; empty when nothing was run yet."""

    scores: tuple[ArmScore, ...] = ()
    run: str = ""  # which grid run the scores come from, for people
    update: UpdateEvidence | None = None
    comparisons: tuple[PairedComparison, ...] = ()  # the run's arms paired on the same questions, per split
    settings: RunSettings | None = None  # how the grid run was made
    # where each arm's answers came from, as the run saved them: {arm: {half: {category: n}}} and {arm: sentence}
    sources: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    diagnosis: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, SureAnswers] = field(default_factory=dict)  # arm -> how sure its answers were
    run_variant: str = ""  # the variant the plain finetuned / hybrid arms ran, by name
    variants: dict[str, VariantRecipe] = field(default_factory=dict)  # the variants the run scored, by name

    def score(self, arm: str, split: str) -> ArmScore | None:
        """The grid cell of `arm` on `split`, if measured."""
        return next((s for s in self.scores if s.arm == arm and s.split == split), None)

    @property
    def comparison_lines(self) -> list[str]:
        """The paired comparisons as Markdown lines for a reader, the clear ones first."""
        return comparison_lines(c.to_dict() for c in self.comparisons)

    def comparison(self, arm_a: str, arm_b: str, split: str) -> PairedComparison | None:
        """`arm_a` against `arm_b` on `split` ("" for the whole set), read as A − B, if the run paired them."""
        key = split or ALL
        for c in self.comparisons:
            if c.split == key and (c.arm_a, c.arm_b) == (arm_a, arm_b):
                return c
            if c.split == key and (c.arm_a, c.arm_b) == (arm_b, arm_a):
                return reversed_comparison(c)
        return None

    def arms_of(self, approach: str) -> list[str]:
        """The grid's arms measuring `approach`, in the run's order: `hybrid`, or `hybrid:v1`, `hybrid:v2`…"""
        mode = ARM_OF[approach]
        return list(dict.fromkeys(s.arm for s in self.scores if split_arm(s.arm)[0] == mode))

    def pick(self, approach: str) -> VariantPick | None:
        """The arm weighed for `approach`: its only one, else the variant the run's paired comparisons put first (the
        most arms led on the same questions, then the largest summed lead; without a comparison, the correctness over
        all its questions). None: the grid has no arm for it."""
        arms = self.arms_of(approach)
        if len(arms) <= 1:
            return VariantPick(approach, arms[0]) if arms else None

        def lead(a: str, b: str) -> float:
            c = self.comparison(a, b, "")
            return (c.a_right - c.b_right) / c.n if c is not None and c.n else self.pooled(a) - self.pooled(b)

        def rank(a: str) -> tuple[int, float, int]:
            leads = [lead(a, b) for b in arms if b != a]
            return (-sum(x > 0 for x in leads), -sum(leads), arms.index(a))

        ranked = sorted(arms, key=rank)
        return VariantPick(approach, ranked[0], tuple(ranked[1:]), self.comparison(ranked[0], ranked[1], ""))

    def arm_for(self, approach: str) -> str:
        """The arm weighed for `approach` (its plain mode when the grid has none)."""
        picked = self.pick(approach)
        return picked.arm if picked else ARM_OF[approach]

    def arm_name(self, arm: str) -> str:
        """An arm as the advice's sentences name it: "hybrid", or with its variant and recipe when the run scored
        it with a named or with several variants: "hybrid with variant v2 (recipe read-passages)"."""
        mode, variant = split_arm(arm)
        approach = APPROACH_OF.get(mode)
        if not variant and approach is not None and len(self.arms_of(approach)) > 1:
            variant = self.run_variant
        if not variant:
            return arm
        known = self.variants.get(variant)
        return f"{mode} with variant {variant}" + (f" (recipe {known.recipe})" if known and known.recipe else "")

    def mode_label(self, arm: str) -> str:
        """An arm in a table: "finetuned · v1" (a plain fine-tuned arm with the run's variant)."""
        return arm_label(arm, self.run_variant)

    def pooled(self, arm: str) -> float:
        """The arm's correctness over all its scored questions (its cells pooled)."""
        cells = [s for s in self.scores if s.arm == arm]
        n = sum(s.n for s in cells)
        return sum(s.correct * s.n for s in cells) / n if n else 0.0

    @property
    def splits(self) -> list[str]:
        """The splits the grid has, named splits first."""
        found = {s.split for s in self.scores}
        # a verbatim split asks the training questions as taught: memorisation, which moves no advice
        return [s for s in ("reworded", "seen", "new", "") if s in found]


@dataclass(frozen=True)
class Move:
    """How one criterion or one measurement moved the recommendation."""

    kind: Literal["criterion", "measurement"]
    name: str
    points: dict[str, float]  # approach -> points added (negative: taken away)
    reason: str

    @property
    def favours(self) -> Approach | None:
        """The approach this move helps most (None if it moves nothing)."""
        if not self.points or max(self.points.values()) <= 0:
            return None
        return _best({a: self.points.get(a, 0.0) for a in APPROACHES})


@dataclass(frozen=True)
class Advice:
    """The recommendation, how every input moved it, where measurements disagree, and what is missing."""

    recommendation: Approach
    totals: dict[str, float]
    from_criteria: Approach
    from_evidence: Approach | None
    moves: list[Move]
    conflicts: list[str]
    missing: list[str]
    summary: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        for move, raw in zip(self.moves, out["moves"]):
            raw["favours"] = move.favours
        return out


def _best(points: dict[str, float]) -> Approach:
    top = max(points.values())
    return next(a for a in APPROACHES if points.get(a, 0.0) == top)


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


# --------------------------------------------------------------------------- the criteria


def criteria_moves(c: Criteria) -> list[Move]:
    """How each of the five criteria moves the recommendation."""
    moves: list[Move] = []
    skills = {
        "app_engineering": (
            {"rag": 2},
            "Application engineers can build and run RAG (indexing, retrieval, prompts); fine-tuning "
            "also needs people who build training sets, tune and evaluate models.",
        ),
        "mixed": (
            {"rag": 1, "hybrid": 1},
            "A team with both skills can run RAG and take on a fine-tuned variant where it pays.",
        ),
        "nlp_dl": (
            {"finetuning": 2, "hybrid": 1},
            "An NLP/deep-learning team can build, evaluate and maintain a fine-tuned model.",
        ),
    }[c.team_skills]
    moves.append(Move("criterion", "team skills", dict(skills[0]), skills[1]))

    per_year = CHANGES_PER_YEAR[c.data_changes]
    data = {
        "static": ({"finetuning": 2}, "Static knowledge can be trained into the model once; it never goes stale."),
        "yearly": ({"finetuning": 1}, "Knowledge that changes about once a year means re-training about once a year."),
        "monthly": (
            {"rag": 1, "hybrid": 1},
            "Documents that change monthly mean re-training a variant 12 times a year; "
            "retrieval picks a change up as soon as the document is re-indexed.",
        ),
        "weekly": (
            {"rag": 2, "hybrid": 1},
            f"Documents that change weekly would need {per_year} re-trainings a year; "
            "retrieval answers from the current version at once.",
        ),
        "daily": (
            {"rag": 3, "hybrid": 1},
            "Documents that change daily cannot be kept in a model's weights; retrieval "
            "answers from what is indexed now.",
        ),
    }[c.data_changes]
    moves.append(Move("criterion", "data changes", dict(data[0]), data[1]))

    budget = {
        "small": ({"rag": 2}, "A small budget: RAG needs no training compute and no labelled data, only indexing."),
        "medium": ({}, "A medium budget allows either approach; it does not move the recommendation."),
        "large": (
            {"finetuning": 1, "hybrid": 1},
            "A large budget can pay for training runs, labelled data and their upkeep.",
        ),
    }[c.budget]
    moves.append(Move("criterion", "budget", dict(budget[0]), budget[1] + RULE_OF_THUMB))

    hardware = {
        "cpu": (
            {"rag": 1},
            "Training on CPU only is slow (minutes for a small model, impractical for large ones); RAG needs no "
            "training.",
        ),
        "gpu": ({"finetuning": 1}, "A GPU makes LoRA fine-tuning practical."),
        "cluster": ({"finetuning": 1, "hybrid": 1}, "Several GPUs make fine-tuning larger models practical."),
    }[c.hardware]
    moves.append(Move("criterion", "training hardware", dict(hardware[0]), hardware[1] + RULE_OF_THUMB))

    if c.labelled_pairs < 100:
        labelled = (
            {"rag": 2},
            f"{c.labelled_pairs} labelled pairs are too few to fine-tune reliably (hundreds are the usual minimum); "
            "RAG needs none.",
        )
    elif c.labelled_pairs < 1000:
        labelled = ({}, f"{c.labelled_pairs} labelled pairs are enough to try fine-tuning, not enough to favour it.")
    else:
        labelled = ({"finetuning": 1, "hybrid": 1}, f"{c.labelled_pairs} labelled pairs are enough to fine-tune well.")
    moves.append(Move("criterion", "labelled data", dict(labelled[0]), labelled[1]))

    speed: tuple[dict[str, float], str]
    if c.max_answer_s is None:
        speed = ({}, "No answer-time requirement: speed does not move the recommendation.")
    elif c.max_answer_s <= 1.0:
        speed = (
            {"finetuning": 2},
            f"Answers within {c.max_answer_s:g} s favour a fine-tuned model alone: no retrieval step and a short "
            "prompt.",
        )
    elif c.max_answer_s <= 3.0:
        speed = (
            {"finetuning": 1},
            f"Answers within {c.max_answer_s:g} s leave little room for retrieval and a long prompt.",
        )
    else:
        speed = ({}, f"Answers within {c.max_answer_s:g} s leave room for retrieval.")
    moves.append(Move("criterion", "response time", dict(speed[0]), speed[1]))
    return moves


# ------------------------------------------------------------------------ the measurements


def evidence_moves(c: Criteria, e: Evidence) -> list[Move]:
    """How each measurement moves the recommendation."""
    moves: list[Move] = []
    splits = [s for s in e.splits if s] or [s for s in e.splits]  # the whole set only when there are no named splits
    for split in splits:
        move = _correctness_move(e, split)
        if move:
            moves.append(move)
    if c.max_answer_s is not None:
        move = _latency_move(c, e)
        if move:
            moves.append(move)
    if e.update is not None:
        moves.extend(_update_moves(c, e.update))
    if c.wrong_answers_costly and e.scores:
        moves.append(_sure_move(e))
    moves.extend(_source_notes(e))
    return _pick_notes(e) + moves


def _pick_notes(e: Evidence) -> list[Move]:
    """Which variant is weighed for an approach the run scored with several, and why, as notes that move nothing:
    the correctness moves weigh the pick against the other approaches, and only on clear leads."""
    notes = []
    for a in APPROACHES:
        picked = e.pick(a)
        if picked is not None and picked.others:
            notes.append(Move("measurement", f"which {ARM_OF[a]} variant", {}, _pick_reason(e, picked)))
    return notes


def _pick_reason(e: Evidence, p: VariantPick) -> str:
    """Why `p` is the variant weighed: its paired comparison with the next best, clear or not."""
    head = (
        f"Of the run's {len(p.others) + 1} {ARM_OF[p.approach]} variants, {e.arm_name(p.arm)} is weighed for "
        f"{_short(p.approach)}"
    )
    nxt, c = e.arm_name(p.others[0]), p.comparison
    if c is None:
        return (
            f"{head}: it was right on {_pct(e.pooled(p.arm))} of its questions against {_pct(e.pooled(p.others[0]))} "
            f"for {nxt}; the run saved no paired comparison of the two."
        )
    if c.only_a == c.only_b:
        return f"{head}: on the {c.n} questions both answered it and {nxt} are level, so either may be the better one."
    if c.clear:
        return f"{head}: it leads {nxt}, a clear difference ({c.sentence()})."
    return (
        f"{head}, as it was right more often, but its lead over {nxt} is not clear ({c.sentence()}): either may be "
        "the better variant."
    )


def _source_notes(e: Evidence) -> list[Move]:
    """Where each approach's answers came from, as notes that move nothing: the correctness moves already weigh the
    answers; these say which fix would help (a stronger reader, a better index, retrieval for unseen documents)."""
    notes = []
    for a in APPROACHES:
        arm = e.arm_for(a)
        counts = e.sources.get(arm) or {}
        whole = counts.get(ALL) or {}
        said = e.diagnosis.get(arm)
        if not said or not any(whole.values()):
            continue
        fixes = []
        misread, missed = whole.get(sources.MISREAD, 0), whole.get(sources.RETRIEVAL_MISS, 0)
        if misread:
            fixes.append(
                f"a stronger reader (a larger model, or a variant trained to read passages) would fix the "
                f"{misread} misread, not a better index"
            )
        if missed:
            fixes.append(f"a better index (retrieval settings, chunking, more passages) would fix the {missed} missed")
        new = counts.get("new") or {}
        if new.get(sources.WRONG, 0) * 2 > sum(new.values()) > 0:
            fixes.append("only retrieval (rag, hybrid) brings in the facts of documents the variant never saw")
        fix = "; ".join(fixes)
        text = said + (f" {fix[:1].upper()}{fix[1:]}." if fix else "")
        notes.append(Move("measurement", f"where the {arm_label(arm)} answers came from", {}, text))
    return notes


_SPLIT_NAMES = {
    "verbatim": "correctness on the training questions, word for word (memorisation)",
    "reworded": "correctness on trained facts, reworded",
    "seen": "correctness on seen facts",
    "new": "correctness on new documents",
    "": "correctness",
}


def _correctness_move(e: Evidence, split: str) -> Move | None:
    cells = {a: e.score(e.arm_for(a), split) for a in APPROACHES}
    usable = {a: s for a, s in cells.items() if s is not None and s.n >= MIN_QUESTIONS}
    if len(usable) < 2:
        return None
    shares = {a: s.correct for a, s in usable.items()}
    ranked = sorted(shares, key=lambda a: (-shares[a], APPROACHES.index(a)))
    leader, second = ranked[0], ranked[1]
    lead = shares[leader] - shares[second]
    n = usable[leader].n
    name = {a: e.arm_name(e.arm_for(a)) for a in ranked}
    listing = ", ".join(f"{name[a]} {_pct(shares[a])}" for a in ranked) + f" ({n} questions)"
    if lead < LEVEL_GAP:
        return Move("measurement", _SPLIT_NAMES[split], {}, f"Measured {listing}: level, no change.")
    said = f"Measured {listing}: {name[leader]} leads {name[second]} by {lead * 100:.0f} points"
    # which approach clearly beats which, on the questions both answered
    beats = {(a, b): c for a in ranked for b in ranked if a != b and (c := _clear_lead(e, a, b, split)) is not None}
    behind = [b for b in ranked if any((a, b) in beats for a in ranked)]
    if (leader, second) in beats:
        return Move(
            "measurement",
            _SPLIT_NAMES[split],
            {leader: CLEAR_POINTS},
            f"{said}, a clear difference ({beats[leader, second].sentence()}).",
        )
    unsure = f"{said}, {_not_distinguishable(e, leader, second, split, shares, n)}"
    if not behind:
        # A lead that is not clear moves nothing, not even a nudge: a nudge would let chance pick the approach
        # whenever the team's answers leave two of them level, which is when a team looks to the measurements to
        # decide. The reason says instead how many questions would settle it.
        return Move("measurement", _SPLIT_NAMES[split], {}, f"{unsure}.")
    # The leaders cannot be told apart, but some approach is clearly behind them: that much is evidence, shared
    # between the ones no other clearly beats (half the points of a clear lead each).
    ahead = [a for a in ranked if a not in behind]
    clear = "; ".join(c.sentence() for (a, b), c in beats.items() if a in ahead)
    return Move(
        "measurement",
        _SPLIT_NAMES[split],
        {a: CLEAR_POINTS / 2 for a in ahead},
        f"{unsure}; clearly behind: {' and '.join(name[b] for b in behind)} ({clear}).",
    )


def _clear_lead(e: Evidence, a: Approach, b: Approach, split: str) -> PairedComparison | None:
    """The paired comparison A − B when it shows A clearly ahead of B, else None."""
    pair = e.comparison(e.arm_for(a), e.arm_for(b), split)
    return pair if pair is not None and pair.clear and pair.difference > 0 else None


def _not_distinguishable(
    e: Evidence, leader: Approach, second: Approach, split: str, shares: Mapping[Approach, float], n: int
) -> str:
    """Why the leader's lead over the second is not clear, with how many questions would settle it."""
    pair = e.comparison(e.arm_for(leader), e.arm_for(second), split)
    per = " per half" if split else ""
    needed = _questions_needed(pair, shares[leader], shares[second])
    if needed is None:  # on the questions both answered they are level: the lead came from answers that failed
        return f"not distinguishable: on the {pair.n if pair else n} questions both answered they are level"
    if pair is not None and needed <= pair.n:
        # the normal approximation behind the figure is met, the exact test is not: too few questions differ
        return (
            f"not distinguishable with {n} questions: only {pair.only_a + pair.only_b} of them differ, too few for "
            f"the exact test (p = {pair.p_value:.2g}); a larger set{per} would settle it"
        )
    return (
        f"not distinguishable with {n} questions: about {needed} questions{per} would be needed to tell a "
        f"difference of this size ({PLAN})"
    )


def _questions_needed(pair: PairedComparison | None, p_a: float, p_b: float) -> int | None:
    """The questions a test needs to tell this lead apart: with the discordance the run observed when it paired the
    two arms, else assuming they err independently (the cautious figure); None when the paired arms are level."""
    if pair is None:
        return questions_needed(p_a, p_b)
    if pair.only_a == pair.only_b:
        return None
    p_a, p_b = pair.a_right / pair.n, pair.b_right / pair.n
    # every disagreement going one way makes the discordant share equal the difference: keep float noise from
    # putting it a hair below
    discordant = max((pair.only_a + pair.only_b) / pair.n, abs(p_a - p_b))
    return questions_needed(p_a, p_b, discordant)


SURE_NAME = "accuracy of the answers it was sure of"
COSTLY = "Wrong answers are costly for you"


@dataclass(frozen=True)
class SureComparison:
    """The accuracy of the answers two approaches were sure of, compared as two independent shares (A − B).

    Each approach was sure of a different subset of the questions, so the two shares are not paired on the same
    questions: the interval is Newcombe's (1998) method 10 for independent proportions, built from the two Wilson
    intervals, and the exact test is Fisher's; as with the paired comparisons, a lead is clear only when both agree.
    """

    a: Share
    b: Share
    difference: float  # accuracy(A) − accuracy(B) among the answers each was sure of, in points
    low: float  # the 95% interval of the difference, in points
    high: float
    p_value: float  # Fisher's exact test, two-sided

    @property
    def clear(self) -> bool:
        """Whether the interval excludes zero and the exact test agrees (p < 0.05)."""
        return (self.low > 0 or self.high < 0) and self.p_value < 0.05

    def sentence(self) -> str:
        """ "24 points (95% CI +11 to +35, Fisher's exact p = 0.0003)": A's lead over B, its interval and p-value."""
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.2g}"
        return (
            f"{signed_points(self.difference).lstrip('+')} points (95% CI {signed_points(self.low)} to "
            f"{signed_points(self.high)}, "
            f"Fisher's exact {p})"
        )


def sure_comparison(a: Share, b: Share) -> SureComparison:
    """Two approaches' accuracy among the answers they were sure of, compared (both need at least one such answer)."""
    if not a.n or not b.n:
        raise ValueError("each approach needs at least one answer it was sure of to be compared.")
    low, high = newcombe_independent_interval(a.k, a.n, b.k, b.n)
    d = a.k / a.n - b.k / b.n
    return SureComparison(a, b, 100 * d, 100 * low, 100 * high, fisher_exact_p(a.k, a.n, b.k, b.n))


def _sure_move(e: Evidence) -> Move:
    """For a team whose wrong answers are costly: the approaches compared by the accuracy of the answers they were sure
    of (the others reach the user marked 'Unsure'). Only a clear difference moves the advice, by a clear lead's
    points."""
    if not e.confidence:
        return Move(
            "measurement",
            SURE_NAME,
            {},
            f"{COSTLY}, but this run saved no confidence figures, so the answers each approach was sure of cannot be "
            "compared: start a new run on the Evaluate page to weigh them. Nothing moved.",
        )
    figures = {
        a: f.selective_accuracy
        for a in APPROACHES
        if e.arms_of(a) and (f := e.confidence.get(e.arm_for(a))) is not None and f.accuracy.n
    }
    name = {a: e.arm_name(e.arm_for(a)) for a in figures}
    usable = {a: s for a, s in figures.items() if s.n >= MIN_QUESTIONS}
    ranked = sorted(usable, key=lambda a: (-(usable[a].value or 0.0), APPROACHES.index(a)))
    # "rag was right 59 of 85 (69%, 59–78%), hybrid 56 of 60 (93%, 84–97%)"
    listing = ", ".join(
        f"{name[a]}{' was right' if i == 0 else ''} {usable[a].k} of {usable[a].n} ({_share_figures(usable[a])})"
        for i, a in enumerate(ranked)
    )
    few = [f"{name[a]} was sure of {s.n}" for a, s in figures.items() if a not in usable]
    too_few = f"; too few to count (under {MIN_QUESTIONS} answers it was sure of): {', '.join(few)}" if few else ""
    if len(ranked) < 2:
        return Move(
            "measurement",
            SURE_NAME,
            {},
            f"{COSTLY}, but fewer than two approaches were sure of {MIN_QUESTIONS} or more answers"
            f"{f' ({listing})' if listing else ''}{too_few}: nothing to compare; a larger question set would give "
            "more.",
        )
    leader, second = ranked[0], ranked[1]
    said = f"{COSTLY}: of the answers it was sure of, {listing}{too_few}"
    a, b = usable[leader], usable[second]
    lead = (a.value or 0.0) - (b.value or 0.0)
    if lead < LEVEL_GAP:
        return Move("measurement", SURE_NAME, {}, f"{said}: level, no change.")
    c = sure_comparison(a, b)
    head = f"{said}; {name[leader]} leads {name[second]} by {c.sentence()}"
    if c.clear:
        return Move("measurement", SURE_NAME, {leader: CLEAR_POINTS}, f"{head}, a clear difference.")
    # the per-approach count of sure answers a two-sample test needs: Connor's formula with the discordance of arms
    # that err independently is the two-sample formula (ψ − δ² = p_a(1 − p_a) + p_b(1 − p_b)), and a little cautious
    needed = questions_needed(a.k / a.n, b.k / b.n)
    # the questions that give that many sure answers to the approach that was sure of the fewest
    shares = [f.sure_share.value for x in (leader, second) if (f := e.confidence.get(e.arm_for(x))) is not None]
    least_sure = min((v for v in shares if v), default=0.0)
    questions = (
        f", about {math.ceil(needed / least_sure)} questions at the share of answers they were sure of"
        if least_sure
        else ""
    )
    return Move(
        "measurement",
        SURE_NAME,
        {},
        f"{head}, not distinguishable with {a.n} and {b.n} answers they were sure of: about {needed} sure answers each "
        f"would be needed to tell a difference of this size ({PLAN}){questions}. Nothing moved.",
    )


def _share_figures(s: Share) -> str:
    """ "69%, 59–78%": a share and its 95% Wilson interval."""
    ci = wilson_interval(s.k, s.n)
    span = f", {ci[0] * 100:.0f}–{ci[1] * 100:.0f}%" if ci else ""
    return f"{_pct(s.value or 0.0)}{span}"


def _latency_move(c: Criteria, e: Evidence) -> Move | None:
    target_ms = (c.max_answer_s or 0) * 1000
    measured: dict[str, float] = {}
    for a in APPROACHES:
        cells = [s for s in e.scores if s.arm == e.arm_for(a) and s.p95_ms is not None]
        if cells:
            measured[a] = max(s.p95_ms for s in cells if s.p95_ms is not None)
    if not measured:
        return None
    slow = {a: ms for a, ms in measured.items() if ms > target_ms}
    listing = ", ".join(f"{e.arm_name(e.arm_for(a))} {ms / 1000:.1f} s" for a, ms in measured.items())
    if not slow:
        return Move(
            "measurement",
            "response time",
            {},
            f"Measured time within which 95% of answers came: {listing}. All meet your {c.max_answer_s:g} s target, so "
            "speed favours none.",
        )
    fast = [a for a in measured if a not in slow]
    points = {a: -2.0 for a in slow} | {a: 1.0 for a in fast}
    names = ", ".join(e.arm_name(e.arm_for(a)) for a in slow)
    return Move(
        "measurement",
        "response time",
        points,
        f"Measured time within which 95% of answers came: {listing}. Over your {c.max_answer_s:g} s target: {names}.",
    )


def _update_moves(c: Criteria, u: UpdateEvidence) -> list[Move]:
    moves: list[Move] = []
    per_year = CHANGES_PER_YEAR[c.data_changes]
    if u.retrain_s is not None and u.reindex_s > 0:
        ratio = u.retrain_s / u.reindex_s
        kind = "estimated" if u.retrain_estimated else "recorded"
        base = (
            f"Indexing the changed document took {u.reindex_s:.1f} s; re-training the variant costs {u.retrain_s:.0f} "
            f"s ({kind}), {ratio:.0f}× more"
        )
        if per_year == 0:
            moves.append(
                Move(
                    "measurement",
                    "re-index vs re-train",
                    {},
                    base + ": with static data this cost is paid once, so it moves nothing.",
                )
            )
        elif ratio >= 10:
            yearly = (
                f"; at {per_year} changes a year that is {u.retrain_s * per_year / 3600:.1f} h of training "
                f"against {u.reindex_s * per_year / 60:.1f} min of indexing"
            )
            moves.append(Move("measurement", "re-index vs re-train", {"rag": 2.0, "hybrid": 1.0}, base + yearly + "."))
        else:
            moves.append(
                Move(
                    "measurement",
                    "re-index vs re-train",
                    {},
                    base + ": too small a difference to move the recommendation.",
                )
            )
    rag_now = u.current_after.get("rag")
    ft_now = u.current_after.get("finetuned")
    if rag_now is not None and ft_now is not None and u.n >= 1:
        listing = ", ".join(f"{arm} {_pct(share)}" for arm, share in u.current_after.items())
        if rag_now - ft_now >= 0.3:
            moves.append(
                Move(
                    "measurement",
                    "answers after the update",
                    {"rag": 1.0, "hybrid": 1.0},
                    f"After the document changed, the new figures were given by {listing} of {u.n} questions: "
                    "the variant alone keeps the old figures until it is re-trained.",
                )
            )
        else:
            moves.append(
                Move(
                    "measurement",
                    "answers after the update",
                    {},
                    f"After the document changed, the new figures were given by {listing} of {u.n} questions: no clear "
                    "difference.",
                )
            )
    return moves


# --------------------------------------------------------------------------- the advice


def missing_evidence(c: Criteria, e: Evidence) -> list[str]:
    """The runs that would give (more) evidence, each with how to run it."""
    missing: list[str] = []
    grid = (
        "the Evaluate page, or `python -m core eval --collection C --questions FILE --modes base,rag,finetuned,hybrid`"
    )
    if not e.scores:
        missing.append(f"No scored grid run yet: score the modes on your questions ({grid}).")
    else:
        for a in APPROACHES:
            if not e.arms_of(a):
                extra = " (build a fine-tuned variant on the Fine-tune page first)" if a != "rag" else ""
                missing.append(f"The grid run has no `{ARM_OF[a]}` mode{extra}: score it too ({grid}).")
        if "new" not in e.splits:
            missing.append(
                "The grid run has no *new documents* questions: score the Fine-tune page's held-out halves "
                "(trained questions word for word, the same facts reworded, new documents) to see what the variant "
                "does with documents it never saw."
            )
        if any(s.split == "verbatim" for s in e.scores) and "reworded" not in e.splits:
            missing.append(
                "The grid run asks the trained facts only word for word: these are the training questions word for "
                "word: they measure memorisation, so they move nothing here. Score a set with a reworded half (the "
                "sample Q&A has one; or add `split: reworded` rows, or import with a model) to see whether the "
                "variant knows the facts."
            )
        few = sorted({s.arm for s in e.scores if s.n < MIN_QUESTIONS and split_arm(s.arm)[0] in ARM_OF.values()})
        if few:
            missing.append(
                f"Fewer than {MIN_QUESTIONS} questions for {', '.join(few)} in some part of the question set: too "
                "few to count; use a larger question set."
            )
        if c.max_answer_s is not None and not any(s.p95_ms is not None for s in e.scores):
            missing.append("The grid run has no latency figures to check your answer-time target against.")
    if e.update is None:
        missing.append(
            "No document-update test yet: run it (Evaluate page, tab *Document update*, or `python -m core "
            "update-test`) to measure re-indexing a changed document against re-training the variant."
        )
    return missing


def advise(criteria: Criteria, evidence: Evidence | None = None, cost_moves: Sequence[Move] = ()) -> Advice:
    """The recommendation from the criteria and the evidence, with every move, conflict and missing run.

    `cost_moves`: criteria moves worked out from the team's volume (budget, training hardware); each replaces the
    adjective rule of the same name.
    """
    evidence = evidence or Evidence()
    by_cost = {m.name: m for m in cost_moves}
    c_moves = [by_cost.get(m.name, m) for m in criteria_moves(criteria)]
    e_moves = evidence_moves(criteria, evidence)
    c_totals = _sum(c_moves)
    e_totals = _sum(e_moves)
    totals: dict[str, float] = {a: c_totals[a] + e_totals[a] for a in APPROACHES}
    recommendation = _best(totals)
    from_criteria = _best(c_totals)
    from_evidence = _best(e_totals) if any(m.favours for m in e_moves) else None
    conflicts = _conflicts(criteria, evidence, from_criteria, from_evidence, e_moves)
    missing = missing_evidence(criteria, evidence)
    return Advice(
        recommendation,
        totals,
        from_criteria,
        from_evidence,
        c_moves + e_moves,
        conflicts,
        missing,
        _summary(recommendation, totals, from_criteria, from_evidence, e_moves),
    )


# One step of each answer, in the order its options are offered (labelled pairs and the answer time step across the
# bands the rules use).
_STEPS: dict[str, tuple[Any, ...]] = {
    "team_skills": get_args(Skills),
    "data_changes": get_args(DataChanges),
    "budget": get_args(Budget),
    "hardware": get_args(Hardware),
    "labelled_pairs": (0, 100, 1000),
    "max_answer_s": (None, 5.0, 3.0, 1.0),
    "wrong_answers_costly": (False, True),
}
_CRITERION_NAMES = {
    "team_skills": "team skills",
    "data_changes": "how often the data changes",
    "budget": "budget",
    "hardware": "training hardware",
    "labelled_pairs": "labelled pairs",
    "max_answer_s": "answer-time requirement",
    "wrong_answers_costly": "a wrong answer costs",
}


def _band(name: str, value: Any) -> int:
    """Where `value` sits among the steps of criterion `name`."""
    steps = _STEPS[name]
    if name == "labelled_pairs":
        return 2 if value >= 1000 else 1 if value >= 100 else 0
    if name == "max_answer_s":
        return 0 if value is None else 3 if value <= 1.0 else 2 if value <= 3.0 else 1
    return steps.index(value)


def _said(name: str, value: Any) -> str:
    every: dict[str, Mapping[Any, str]] = {
        "team_skills": SKILL_LABELS,
        "data_changes": CHANGE_LABELS,
        "budget": BUDGET_LABELS,
        "hardware": HARDWARE_LABELS,
        "wrong_answers_costly": WRONG_COST_LABELS,
    }
    labels = every.get(name, {})
    if name == "max_answer_s":
        return "no requirement" if value is None else f"within {value:g} s"
    if name == "labelled_pairs":
        return f"{value} pairs"
    return labels.get(value, str(value))


def what_would_change(criteria: Criteria, advice: Advice, advise_for: Callable[[Criteria], Advice]) -> list[str]:
    """The smallest changes that flip the recommendation: each answer moved one step, and each measurement left out.

    `advise_for` gives the advice for other answers with the same evidence (and volume, re-costed), since some
    measurements weigh differently under other answers (the answer-time target, how often the data changes).
    """
    out: list[str] = []
    for name, steps in _STEPS.items():
        here = _band(name, getattr(criteria, name))
        for i in (here - 1, here + 1):
            if not 0 <= i < len(steps):
                continue
            other = replace(criteria, **{name: steps[i]})
            moved = advise_for(other)
            if moved.recommendation != advice.recommendation:
                new, old = moved.recommendation, advice.recommendation
                out.append(
                    f"{_CRITERION_NAMES[name].capitalize()} {_said(name, getattr(criteria, name))} → "
                    f"{_said(name, steps[i])}: {_short(new)} ({_points(moved.totals[new])} against {_short(old)}'s "
                    f"{_points(moved.totals[old])})."
                )
    for m in advice.moves:
        if m.kind != "measurement" or not m.points:
            continue
        without: dict[str, float] = {a: advice.totals[a] - m.points.get(a, 0.0) for a in APPROACHES}
        if _best(without) != advice.recommendation:
            out.append(
                f"Without the {m.name} measurement: {_short(_best(without))} ({_points(without[_best(without)])} "
                f"against {_short(advice.recommendation)}'s {_points(without[advice.recommendation])})."
            )
    return out


def _sum(moves: list[Move]) -> dict[str, float]:
    totals: dict[str, float] = {a: 0.0 for a in APPROACHES}
    for move in moves:
        for approach, points in move.points.items():
            totals[approach] += points
    return totals


def _conflicts(
    c: Criteria, e: Evidence, from_criteria: Approach, from_evidence: Approach | None, e_moves: list[Move]
) -> list[str]:
    out: list[str] = []
    if from_evidence is not None and from_evidence != from_criteria:
        names = ", ".join(m.name for m in e_moves if m.favours == from_evidence)
        out.append(
            f"Your answers point to {LABELS[from_criteria]}, but the measurements favour {LABELS[from_evidence]} "
            f"({names})."
        )
    if from_evidence == from_criteria:
        for m in _against(e_moves, from_criteria):
            out.append(f"The {m.name} measurement disagrees with your answers ({LABELS[from_criteria]}): {m.reason}")
    if c.max_answer_s is not None and c.max_answer_s <= 3.0:
        rag = [s.p95_ms for s in e.scores if s.arm == "rag" and s.p95_ms is not None]
        if rag and max(rag) <= c.max_answer_s * 1000:
            out.append(
                f"You need answers within {c.max_answer_s:g} s, which leans to fine-tuning, but RAG measured "
                f"{max(rag) / 1000:.1f} s here for 95% of its answers: it meets the target too."
            )
    return out


def _against(e_moves: Sequence[Move], approach: Approach) -> list[Move]:
    """The measurements that favour another approach and give `approach` nothing."""
    return [m for m in e_moves if m.favours not in (None, approach) and m.points.get(approach, 0.0) <= 0]


def _summary(
    rec: Approach,
    totals: dict[str, float],
    from_criteria: Approach,
    from_evidence: Approach | None,
    e_moves: list[Move],
) -> str:
    others = ", ".join(f"{_short(a)} {_points(totals[a])}" for a in APPROACHES if a != rec)
    text = f"{_short(rec)} leads with {_points(totals[rec])} ({others})."
    if from_evidence is None:
        text += (
            " It rests on your answers alone: no measurement separated the approaches (see why in the table)."
            if e_moves
            else " It rests on your answers alone: no measurement moved it yet."
        )
    elif from_evidence == from_criteria:
        against = _against(e_moves, from_criteria)
        # the table below lists every move: the sentence above it never says "agree" over one that disagrees
        text += (
            f" The measurements on the whole favour {_short(from_criteria)}, as your answers do, but "
            f"{', '.join(m.name for m in against)} favour{'s' if len(against) == 1 else ''} "
            f"{' and '.join(dict.fromkeys(_short(m.favours or rec) for m in against))}."
            if against
            else f" Your answers and the measurements agree on {_short(from_criteria)}."
        )
    else:
        text += f" Your answers point to {_short(from_criteria)}; the measurements favour {_short(from_evidence)}."
    return text


def _short(approach: str) -> str:
    return LABELS[approach].split(" (")[0]


def _points(value: float) -> str:
    return f"{value:g} point" + ("" if value == 1 else "s")


# ------------------------------------------------------------------- evidence from saved runs


def evidence_from_summary(summary: Mapping[str, Any], run: str = "") -> tuple[ArmScore, ...]:
    """The grid cells of a saved evaluation run's summary (`summary["arms"][arm][split]` blocks)."""
    cells: list[ArmScore] = []
    for arm, splits in (summary.get("arms") or {}).items():
        named = [k for k in ("verbatim", "reworded", "seen", "new") if k in splits]
        for key in named or ["all"]:
            block = splits.get(key) or {}
            if block.get("correct") is None:
                continue  # no answerable question in this cell
            correct, n = float(block["correct"]), int(block.get("answerable") or block.get("n") or 0)
            saved = block.get("correct_ci")
            cells.append(
                ArmScore(
                    str(arm),
                    key if key != "all" else "",
                    correct,
                    n,
                    _float(block.get("total_p50_ms")),
                    _float(block.get("total_p95_ms")),
                    (float(saved[0]), float(saved[1])) if isinstance(saved, (list, tuple)) else None,
                )
            )
    return tuple(cells)


def comparisons_from_summary(summary: Mapping[str, Any]) -> tuple[PairedComparison, ...]:
    """The paired comparisons saved with a run's summary, rebuilt from their counts (exact, not the rounded figures)."""
    out = []
    for c in summary.get("comparisons") or []:
        both = int(c["a_right"]) - int(c["only_a"])
        neither = int(c["n"]) - both - int(c["only_a"]) - int(c["only_b"])
        out.append(
            paired_comparison(
                str(c["arm_a"]),
                str(c["arm_b"]),
                str(c["split"]),
                both,
                int(c["only_a"]),
                int(c["only_b"]),
                neither,
                float(c.get("confidence", 0.95)),
            )
        )
    return tuple(out)


def sources_from_summary(
    summary: Mapping[str, Any],
) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, str]]:
    """Where each arm's answers came from, as a run's summary saved it: the counts per arm, half and category, and the
    diagnosis sentence per arm (both empty for a run saved without them)."""
    saved = summary.get("answer_sources") or {}
    counts = {
        str(arm): {
            str(half): {str(k): int(n) for k, n in (cats or {}).items()} for half, cats in (halves or {}).items()
        }
        for arm, halves in (saved.get("counts") or {}).items()
    }
    said = {str(arm): str(text) for arm, text in (saved.get("diagnosis") or {}).items()}
    # a summary with counts but no sentences gets the evaluation's own sentences, never new phrasing
    return counts, said or (sources.diagnosis(counts) if counts else {})


def _share(raw: Any) -> Share:
    raw = raw if isinstance(raw, Mapping) else {}
    return Share(int(raw.get("k") or 0), int(raw.get("n") or 0))


def _reliability_band(raw: Mapping[str, Any]) -> Band:
    return Band(
        float(raw.get("low") or 0.0),
        float(raw.get("high") or 0.0),
        int(raw.get("n") or 0),
        _float(raw.get("mean_confidence")),
        _float(raw.get("right")),
    )


def confidence_from_summary(summary: Mapping[str, Any]) -> dict[str, SureAnswers]:
    """How sure each arm's answers were, as a run's summary saved it (empty for a run saved without it)."""
    return {
        str(arm): SureAnswers(
            str(arm),
            _share(f.get("accuracy")),
            _share(f.get("sure_share")),
            _share(f.get("selective_accuracy")),
            _share(f.get("confidently_wrong")),
            _float(f.get("auroc")),
            None if f.get("auroc_n") is None else int(f["auroc_n"]),
            tuple(_reliability_band(b) for b in f.get("reliability") or [] if isinstance(b, Mapping)),
        )
        for arm, f in (summary.get("confidence") or {}).items()
        if isinstance(f, Mapping)
    }


SURE_EXPLAINED = (
    "Sure: an answer given without the 'Unsure — check the source' mark and not flagged 'not supported'. Where wrong "
    "answers are costly, compare the accuracy of the answers each approach was sure of: the others reach the user "
    "marked. Wrong with no mark: wrong answers the user had no warning about. AUROC: how often a right answer's "
    "confidence ranks above a wrong one's (0.5 is chance, 1 perfect)."
)


def sure_rows(e: Evidence, every_mode: bool = False) -> list[dict[str, str]]:
    """Per approach measured (its weighed arm), its accuracy beside the accuracy of the answers it was sure of, with
    their counts; `every_mode`: then every other mode the run scored (base, the variants not weighed)."""
    weighed = {e.arm_for(a): f"{_short(a)} ({arm_label(e.arm_for(a))})" for a in APPROACHES}
    others = {arm: arm_label(arm) for arm in e.confidence if arm not in weighed} if every_mode else {}
    rows = []
    for arm, label in {**weighed, **others}.items():
        f = e.confidence.get(arm)
        if f is None or not f.accuracy.n:
            continue
        rows.append(
            {
                "approach": label,
                "correct": _share_text(f.accuracy),
                "marked sure": f"{f.sure_share.k} of {f.sure_share.n}",
                "accuracy of the answers it was sure of": _share_text(f.selective_accuracy),
                "wrong with no mark": f"{f.confidently_wrong.k} of {f.confidently_wrong.n}",
                "AUROC": "–" if f.auroc is None else f"{f.auroc:.2f}",
            }
        )
    return rows


def _share_text(s: Share) -> str:
    """ "7/9 · 78% (45–94%)", or a dash when there was nothing to count."""
    return "–" if s.value is None else share_text(s.value, s.n, wilson_interval(s.k, s.n))


def update_evidence_from_result(result: Mapping[str, Any]) -> UpdateEvidence | None:
    """The advisor's view of a saved document-update test."""
    reindex = (result.get("reindex") or {}).get("seconds")
    if not reindex:
        return None
    retrain = result.get("retrain") or {}
    current = {
        arm: phases["after"]["new"] / phases["after"]["n"]
        for arm, phases in (result.get("summary") or {}).items()
        if phases["after"].get("n")
    }
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(result.get("created") or 0)))
    return UpdateEvidence(
        float(reindex),
        _float(retrain.get("seconds")),
        bool(retrain.get("estimated", True)),
        current,
        len(result.get("questions") or []),
        when,
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# ----------------------------------------------------------------------- the Markdown report


WOULD_CHANGE_NONE = (
    "No single step of one answer and no single measurement left out changes it: the recommendation holds under "
    "every change one step away."
)


def report_markdown(
    criteria: Criteria,
    evidence: Evidence,
    advice: Advice,
    when: str = "",
    costs: str = "",
    would_change: Sequence[str] | None = None,
) -> str:
    """The advice as a Markdown report: inputs, recommendation, what would change it, every move, conflicts, the cost
    table (`costs`, Markdown, when the team gave its volume), the grid with the run's settings, the update test."""
    lines = [f"# domainchat advice: {LABELS[advice.recommendation]}", ""]
    if when:
        lines += [f"_Generated {when}._", ""]
    lines += [advice.summary, ""]
    if would_change is not None:
        lines += ["## What would change the recommendation", ""]
        lines += [f"- {w}" for w in would_change] or [WOULD_CHANGE_NONE]
        lines.append("")
    lines += [
        "## Your answers",
        "",
        "| criterion | answer |",
        "|---|---|",
        f"| team skills | {SKILL_LABELS[criteria.team_skills]} |",
        f"| how often the data changes | {CHANGE_LABELS[criteria.data_changes]} |",
        f"| budget | {BUDGET_LABELS[criteria.budget]} |",
        f"| training hardware | {HARDWARE_LABELS[criteria.hardware]} |",
        f"| labelled question/answer pairs | {criteria.labelled_pairs} |",
        "| answers must come within | "
        f"{f'{criteria.max_answer_s:g} s' if criteria.max_answer_s else 'no requirement'} |",
        f"| a wrong answer costs | {WRONG_COST_LABELS[criteria.wrong_answers_costly]} |",
        "",
        "## How each input moved the recommendation",
        "",
        "| kind | input | RAG | fine-tuning | hybrid | why |",
        "|---|---|---|---|---|---|",
    ]
    for m in advice.moves:
        pts = [f"{m.points[a]:+g}" if m.points.get(a) else "" for a in APPROACHES]
        lines.append(f"| {m.kind} | {m.name} | {' | '.join(pts)} | {_cell(m.reason)} |")
    lines.append(
        f"| **total** | | **{advice.totals['rag']:g}** | **{advice.totals['finetuning']:g}** | "
        f"**{advice.totals['hybrid']:g}** | |"
    )
    lines += ["", "## Where the measurements disagree with your answers", ""]
    lines += [f"- {c}" for c in advice.conflicts] or ["Nowhere: no measurement contradicts your answers."]
    if advice.missing:
        lines += ["", "## Missing evidence", ""] + [f"- {m}" for m in advice.missing]
    if costs:
        lines += ["", "## What each approach costs your team", "", costs.rstrip("\n")]
    if evidence.scores:
        lines += [
            "",
            f"## The scored grid{f' ({evidence.run})' if evidence.run else ''}",
            "",
            "| mode | questions about | correct (95% interval) | questions | median answer (s) | "
            "95% of answers within (s) |",
            "|---|---|---|---|---|---|",
        ]
        order = tuple(MODES)
        for s in sorted(evidence.scores, key=lambda s: grid_order(s, order)):
            lines.append(
                f"| {evidence.mode_label(s.arm)} | {_SPLIT_TITLES.get(s.split, s.split)} | {s.shown} | {s.n} | "
                f"{_secs(s.p50_ms)} | {_secs(s.p95_ms)} |"
            )
        lines += [
            "",
            "Correct: answers that hold the reference, of the answerable questions; in brackets the 95% "
            "Wilson interval, the range the true share is likely in.",
        ]
    if evidence.scores:
        lines += ["", "### What the questions asked", ""]
        lines += [f"- {line}" for line in split_lines(evidence)] or [splits_missing()]
        lines += ["", "### The variants scored", ""]
        lines += [f"- {line}" for line in recipe_lines(evidence)] or [variants_missing(evidence)]
    if evidence.settings is not None:
        lines += ["", "### How the run was made", "", "| setting | value |", "|---|---|"]
        lines += [f"| {name} | {_cell(value)} |" for name, value in evidence.settings.rows()]
    if evidence.comparisons:
        lines += ["", "## Which differences are real?", "", PAIRED_EXPLAINED, ""]
        lines += [f"- {line}" for line in evidence.comparison_lines]
    ran = bool(evidence.scores)
    if ran or evidence.diagnosis or evidence.sources:
        lines += ["", "## Where the answers came from", ""]
        lines += [f"- {_cell(text)}" for text in evidence.diagnosis.values()]
        head, rows = source_table(evidence)
        if rows:
            lines += ["", "| mode | questions | " + " | ".join(SOURCE_HEADINGS[k] for k in head) + " |"]
            lines += ["|" + "---|" * (len(head) + 2)]
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
            lines += ["", source_legend(head), "", MISREAD_EXPLAINED]
        else:
            lines += ["", sources_missing(evidence)] if evidence.diagnosis else [sources_missing(evidence)]
    table = sure_rows(evidence, every_mode=True)
    if ran or table:
        lines += ["", "## How sure the answers were", ""]
        if table:
            lines += ["| mode | " + " | ".join(list(table[0])[1:]) + " |", "|" + "---|" * len(table[0])]
            lines += ["| " + " | ".join(_cell(v) for v in row.values()) + " |" for row in table]
            lines += ["", SURE_EXPLAINED]
            lines += [f"{line}" for line in confidence_notes(evidence)]
        else:
            lines.append(confidence_missing(evidence))
    if evidence.update is not None:
        u = evidence.update
        kind = "estimated" if u.retrain_estimated else "recorded"
        lines += [
            "",
            f"## The document-update test{f' ({u.when})' if u.when else ''}",
            "",
            "| figure | value |",
            "|---|---|",
            f"| seconds to index the changed document | {u.reindex_s:.1f} |",
            f"| seconds to re-train the variant ({kind}) | "
            f"{'unknown' if u.retrain_s is None else f'{u.retrain_s:.0f}'} |",
        ]
        for arm, share in u.current_after.items():
            lines.append(f"| {arm}: answers giving the new figures after the update | {_pct(share)} of {u.n} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- the report's evidence sections, from the data alone

MISREAD_EXPLAINED = (
    "Misread: a retrieved passage held the answer and the model still got it wrong (the reader); missed: no retrieved "
    "passage held it (the retriever)."
)
# The answer-source categories as a table's column headings; `source_legend` spells each one out
SOURCE_HEADINGS = {
    sources.RIGHT_SUPPORTED: "right, from a passage",
    sources.RIGHT_UNSUPPORTED: "right, from the weights",
    sources.RIGHT: "right",
    sources.MISREAD: "misread",
    sources.RETRIEVAL_MISS: "missed",
    sources.WRONG: "wrong",
    sources.DECLINED: "declined",
    sources.NO_ANSWER: "no answer",
}
_HALF_ORDER = ("verbatim", "reworded", "seen", "new", UNSPLIT)


def grid_order(s: ArmScore, order: Sequence[str]) -> tuple[int, str, bool, str]:
    """Where a grid cell goes: by mode in the chat's order, a mode's variants together, seen facts first."""
    mode = split_arm(s.arm)[0]
    return (order.index(mode) if mode in order else len(order), s.arm, s.split != "seen", s.split)


def half_label(split: str) -> str:
    """A split of the answer-source counts as a table names it."""
    if split == ALL:
        return "all questions"
    return "unsplit questions" if split == UNSPLIT else SPLIT_LABELS.get(split, split)


def source_table(e: Evidence) -> tuple[list[str], list[list[str]]]:
    """Where each mode's answers came from, per mode and split: the categories any mode has (in the Evaluate page's
    order) and one row per mode and split, all questions first: [mode, split, count per category ('–': not one of
    the mode's categories)]; no rows when no answer was counted at all."""
    head = [k for k in SOURCE_ORDER if any(k in cats for halves in e.sources.values() for cats in halves.values())]
    if not any(n for halves in e.sources.values() for cats in halves.values() for n in cats.values()):
        return head, []
    rows = []
    for arm, halves in e.sources.items():
        named = [h for h in halves if h != ALL]
        order = [ALL] + sorted(
            (h for h in named if not (h == UNSPLIT and len(named) == 1)),  # unsplit alone is all again
            key=lambda h: _HALF_ORDER.index(h) if h in _HALF_ORDER else len(_HALF_ORDER),
        )
        for half in order:
            cats = halves.get(half) or {}
            rows.append([e.mode_label(arm), half_label(half)] + [str(cats[k]) if k in cats else "–" for k in head])
    return head, rows


def source_legend(head: Sequence[str]) -> str:
    """What each column of the source table counts, in plain words."""
    # a heading that says it all already ("right", "wrong") is not spelled out again
    spelled = "; ".join(
        f"{SOURCE_HEADINGS[k]}: {sources.CATEGORY_LABELS[k]}"
        for k in head
        if SOURCE_HEADINGS[k] != sources.CATEGORY_LABELS[k]
    )
    return f"Each answer to an answerable question counts once in a row. {spelled}; –: not a category of that mode."


def sources_missing(e: Evidence) -> str:
    """The one line the answer-source section says when the run has no counts, and why."""
    if e.sources:
        return "No answerable question was answered in this run, so no answer has a source to count."
    return (
        "This run carries no answer-source counts: it was saved without them and without the scored answers they are "
        "counted from. Start a new run on the Evaluate page to see them."
    )


def confidence_notes(e: Evidence) -> list[str]:
    """What the confidence table rests on: the threshold the answers were marked at, and the modes none of whose
    answers carried a confidence (their 'sure' means only not flagged and not refused)."""
    out = []
    if e.settings is not None and e.settings.confidence_threshold:
        out += ["", f"Answers were marked unsure below a confidence of {e.settings.confidence_threshold}."]
    blind = [e.mode_label(arm) for arm, f in e.confidence.items() if f.judged == 0 and f.accuracy.n]
    if blind:
        out += [
            "",
            f"No answer of {', '.join(blind)} carried a confidence (every one refused or empty, or the run was made "
            "before answers had one): there, sure means only not flagged and not refused, and there is no AUROC.",
        ]
    return out


def confidence_missing(e: Evidence) -> str:
    """The one line the confidence section says when the run has no figures, and why."""
    if e.confidence:
        return "No mode of this run answered an answerable question, so there is no confidence to judge."
    return (
        "This run carries no confidence figures: it was saved without them and without the scored answers they are "
        "counted from. Start a new run on the Evaluate page to see how sure its answers were."
    )


def reliability_series(e: Evidence) -> dict[str, tuple[Band, ...]]:
    """Per mode whose answers carried a confidence, its reliability bands that hold answers (for a diagram)."""
    out = {}
    for arm, f in e.confidence.items():
        bands = tuple(b for b in f.reliability if b.n and b.mean_confidence is not None and b.right is not None)
        if bands and f.judged != 0:
            out[e.mode_label(arm)] = bands
    return out


def split_lines(e: Evidence) -> list[str]:
    """The halves the run's questions were split into, each with what it asks and how many answerable questions."""
    out = []
    for split in ("verbatim", "reworded", "seen", "new"):
        sizes = [s.n for s in e.scores if s.split == split]
        if sizes:
            out.append(f"**{SPLIT_LABELS[split]}** ({max(sizes)} answerable questions): {SPLIT_GLOSSES[split]}")
    return out


def splits_missing() -> str:
    """The one line when the run's questions carry no halves, and why."""
    return (
        "The run's questions carry no halves (trained questions word for word, trained facts reworded, new "
        "documents): the question set named none, so every figure is over the whole set."
    )


def recipe_lines(e: Evidence) -> list[str]:
    """How each variant the run scored was trained: "v1: recipe plain, 30 pairs × 10 epochs, 119 s"."""
    return [v.line for v in e.variants.values()]


def variants_missing(e: Evidence) -> str:
    """The one line when the run names no variant's recipe, and why."""
    tuned = [arm for arm in dict.fromkeys(s.arm for s in e.scores) if split_arm(arm)[0] in ("finetuned", "hybrid")]
    if not tuned:
        return "The run scored no fine-tuned variant: it had no finetuned or hybrid mode."
    modes = f"{', '.join(tuned)} mode{'s' if len(tuned) > 1 else ''}"
    return f"The run saved no variant name for its {modes}, so no recipe can be shown."


_SPLIT_TITLES = {
    "verbatim": "trained questions, word for word (memorisation)",
    "reworded": "trained facts, reworded",
    "seen": "seen facts",
    "new": "new documents",
    "": "all",
}


def _cell(text: str) -> str:
    """A Markdown table cell: its bars escaped, on one line."""
    return text.replace("|", "\\|").replace("\n", " ")


def _secs(ms: float | None) -> str:
    return "" if ms is None else f"{ms / 1000:.1f}"
