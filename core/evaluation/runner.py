"""Running an evaluation: every question through every arm via the chat service, each answer scored and saved at once.

Questions go in the outer loop and arms in the inner one, so a run cancelled half-way has compared the
arms on the same questions. Each question's answers are appended to rows.jsonl as soon as all its arms have answered.

On the openai engine up to DOMAINCHAT_OPENAI_MAX_CONCURRENCY answers are asked at once (a server batches them);
they are collected in the sequential order, so the rows, their content and their order are those of a sequential run.
The embedded engine (one model in this process) and Ollama answer one at a time, as before.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeGuard, get_args

from core.base.ahead import results_in_order
from core.base.files import write_json_atomic
from core.base.questions import EvalQuestion
from core.chat.service import MODES, RETRIEVAL_MODES, VARIANT_MODES, ChatService, Mode, Question
from core.engines.base import Engine, GenerationRequest, Prompt, concurrency
from core.errors import AppError, EngineUnavailableError, EvaluationError, ModelNotFoundError, VariantError
from core.evaluation import metrics as m
from core.evaluation.answer_sources import with_answer_sources
from core.evaluation.confidence_metrics import answered, figures_by_arm
from core.evaluation.runs import THRESHOLD_FROM_RUN, EvalConfig, append_row, read_rows, split_arm
from core.evaluation.scoring import score_answer, summarise
from core.evaluation.statistics import PairedComparison, paired_comparison, paired_comparisons, with_intervals
from core.index.embeddings import Embedder
from core.index.retrieval import is_method

ProgressFn = Callable[[int, int, str], None]  # (answers done, answers in all, what is happening)
ARMS = tuple(MODES)  # an arm of the grid is a chat mode, a fine-tuned one optionally with its variant: finetuned:NAME
CANCELLED_MESSAGE = "Cancelled after {done} of {total} answers: the finished ones are kept."


def check_arms(arms: Sequence[str], variant: str, collection: str, available: Sequence[str] | None = None) -> list[str]:
    """The arms, validated: known names, a variant for the fine-tuned arms, a collection for the retrieving ones.

    `finetuned:NAME` and `hybrid:NAME` run variant NAME, which must be one of `available` (the engine's variants) when
    that is given; plain `finetuned` and `hybrid` run `variant`.
    """
    arms = [a.strip() for a in arms if a.strip()]
    unknown = [a for a in arms if _arm_mode(a) is None]
    if unknown or not arms:
        raise EvaluationError(
            f"Unknown arm(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(ARMS)}, or finetuned:VARIANT / "
            "hybrid:VARIANT to score a named variant."
        )
    named = list(dict.fromkeys(split_arm(a)[1] for a in arms if split_arm(a)[1]))
    missing = [v for v in named if available is not None and v not in available]
    if missing:
        there = ", ".join(available or []) or "none yet"
        raise EvaluationError(
            f"No fine-tuned variant {', '.join(repr(v) for v in missing)} on this engine (its variants: {there}): "
            "name one of those, or build the variant on the Fine-tune page."
        )
    if not variant and any(a in VARIANT_MODES for a in arms):
        raise EvaluationError(
            "The finetuned and hybrid arms need a fine-tuned variant: build one on the Fine-tune page "
            "(or give --variant), or leave those arms out."
        )
    if not collection and any(_arm_mode(a) in RETRIEVAL_MODES for a in arms):
        raise EvaluationError(
            "The rag and hybrid arms need a collection with documents: give --collection, or leave those arms out."
        )
    return list(dict.fromkeys(arms))


def run_evaluation(
    chat: ChatService,
    engine: Engine,
    embedder: Embedder | None,
    config: EvalConfig,
    questions: Sequence[EvalQuestion],
    folder: Path,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    judge: Engine | None = None,
) -> dict[str, Any]:
    """Answer and score every question in every arm, appending rows and writing summary.json; returns how it ended
    (state done|cancelled|failed, message, step, total_steps).

    `chat` is the chat service (`ask(Question, engine)`), `judge` an optional engine that grades answers
    with `config.judge_model`. A cancelled or failed run keeps its rows and gets a summary of them.
    """
    modes = [(arm, mode) for arm in config.arms if (mode := _arm_mode(arm)) is not None]
    method = config.retrieval
    if len(modes) != len(config.arms) or not is_method(method):  # resolving the run refused these; this narrows them
        raise EvaluationError(
            f"Unknown arm or retrieval method ({', '.join(config.arms)}; {method!r}): start the run again."
        )
    folder.mkdir(parents=True, exist_ok=True)
    total = len(questions) * len(config.arms)
    done = 0

    def ask(q: EvalQuestion, arm: str, mode: Mode) -> Question:
        return Question(
            text=q.question,
            mode=mode,
            collection=config.collection or None,
            base_model=config.base_model,
            variant_model=_variant_model(config, arm) or None,
            top_k=config.top_k,
            temperature=config.temperature,
            retrieval=method,
            max_tokens=config.max_tokens,
        )

    # every (question, arm) in the sequential order; on a batching server some are asked ahead of the one awaited
    answers_in_order = results_in_order(
        (partial(_answer, chat, engine, ask(q, arm, mode)) for q in questions for arm, mode in modes),
        concurrency(engine),
        "eval",
    )
    try:
        for qi, q in enumerate(questions):
            answers: list[dict[str, Any]] = []
            for arm, _ in modes:
                if should_stop and should_stop():
                    raise _Cancelled
                if progress:
                    progress(done + len(answers), total, f"{arm}: question {qi + 1} of {len(questions)}")
                answers.append(next(answers_in_order))
            rows = [score_answer(q, a, config.top_k) for a in answers]
            for row, (arm, mode) in zip(rows, modes):
                # the arm's full name (finetuned:v1) keeps two variants' rows apart; the variant names which ran
                row.update(arm=arm, variant=split_arm(arm)[1] or (config.variant_name if mode in VARIANT_MODES else ""))
            _similarity(embedder, q, rows)
            if judge is not None and config.judge_model and not q.unanswerable:
                for row in rows:
                    row["judge"] = _judge(judge, config.judge_model, q, row["answer"])
            for row in rows:
                append_row(folder, {"i": qi, **row})
            done += len(rows)
            if progress:
                progress(done, total, f"Answered {qi + 1} of {len(questions)} questions")
        final = {"state": "done", "message": f"Done: {total} answers scored"}
    except (_Cancelled, KeyboardInterrupt):
        final = {"state": "cancelled", "message": CANCELLED_MESSAGE.format(done=done, total=total)}
    except (EngineUnavailableError, ModelNotFoundError, VariantError) as exc:
        # Every later answer would fail the same way: stop, keep what is done, say what to fix.
        final = {"state": "failed", "message": f"{exc} ({done} of {total} answers were scored and are kept.)"}
    finally:
        # answers asked ahead of a cancel or a failure are not waited for beyond the ones already running
        answers_in_order.close()
    rows = read_rows(folder)
    summary = with_statistics(summarise(rows, config.arms), rows, config.arms, config.confidence_threshold)
    summary["complete"] = final["state"] == "done"
    summary["judge_model"] = config.judge_model or None
    write_json_atomic(folder / "summary.json", summary)
    return {**final, "step": done, "total_steps": total}


def with_statistics(
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    arms: Sequence[str] | None = None,
    threshold: float | None = None,
    threshold_from: str = THRESHOLD_FROM_RUN,
) -> dict[str, Any]:
    """A grid summary with what a sceptic asks for: a Wilson interval on every share (`<share>_ci`), the paired
    comparison of every two arms on the questions both answered (`comparisons`, the leading arm first), where each
    answer came from (`answer_sources`: counts per arm and split, and a diagnosis per arm) and how well each arm's
    confidence told its right answers from its wrong ones (`confidence`, at `threshold`: see `with_confidence`)."""
    out = with_answer_sources(with_intervals(summary), rows, arms)
    out["comparisons"] = [leader_first(c).to_dict() for c in paired_comparisons(rows, list(arms or []) or None)]
    return with_confidence(out, rows, threshold, threshold_from)


def with_confidence(
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    threshold: float | None = None,
    threshold_from: str = THRESHOLD_FROM_RUN,
) -> dict[str, Any]:
    """A copy of a summary with each arm's `confidence` figures (core/evaluation/confidence_metrics.py) and, given a
    threshold, the figures read at it and `confidence_threshold` saying which (`value`, and `from`: the run's own
    or the settings' for a run that saved none); without one, the unsure marks as the rows carry them."""
    out = dict(summary)
    marked = list(rows) if threshold is None else marked_at(rows, threshold)
    out["confidence"] = {arm: figures.to_dict() for arm, figures in figures_by_arm(marked).items()}
    if threshold is not None:
        out["confidence_threshold"] = {"value": threshold, "from": threshold_from}
    return out


def marked_at(rows: Sequence[Mapping[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """The rows with the unsure mark `threshold` gives: an answer with a confidence below it, unless already flagged
    "not supported" (as the chat marks it: one warning, not two); rows without a confidence keep their mark."""
    out = []
    for r in rows:
        row = dict(r)
        if answered(r) and r.get("confidence") is not None:
            row["unsure"] = float(r["confidence"]) < threshold and not r.get("flagged")
        out.append(row)
    return out


def leader_first(c: PairedComparison) -> PairedComparison:
    """The comparison read from the arm that did better ("rag − base: +40"), so no sentence reads as a minus."""
    return c if c.difference >= 0 else reversed_comparison(c)


def reversed_comparison(c: PairedComparison) -> PairedComparison:
    """The same comparison read the other way round: B − A instead of A − B."""
    both = c.a_right - c.only_a
    neither = c.n - both - c.only_a - c.only_b
    return paired_comparison(c.arm_b, c.arm_a, c.split, both, c.only_b, c.only_a, neither, c.confidence)


class _Cancelled(Exception):
    pass


def _is_mode(arm: str) -> TypeGuard[Mode]:
    return arm in get_args(Mode)


def _arm_mode(arm: str) -> Mode | None:
    """The chat mode an arm asks in; None for an unknown arm or a variant named on a mode that runs none."""
    mode, variant = split_arm(arm)
    if not _is_mode(mode) or (variant and mode not in VARIANT_MODES) or (not variant and arm != mode):
        return None
    return mode


def _variant_model(config: EvalConfig, arm: str) -> str:
    """The model the engine runs for an arm: its own variant's (finetuned:NAME), else the run's variant."""
    named = split_arm(arm)[1]
    return (config.variant_models.get(named) or named) if named else config.variant


def _answer(chat: ChatService, engine: Engine, question: Question) -> dict[str, Any]:
    """The arm's answer as a dict; an engine error in one answer is recorded in its row, not fatal."""
    try:
        stream = chat.ask(question, engine)
        for _ in stream:
            pass
        return stream.answer.to_dict()
    except (EngineUnavailableError, ModelNotFoundError, VariantError):
        raise
    except AppError as exc:
        return {"mode": question.mode, "text": "", "error": str(exc), "incomplete": True, "sources": [], "timings": {}}


def _similarity(embedder: Embedder | None, q: EvalQuestion, rows: list[dict[str, Any]]) -> None:
    """Cosine similarity of each answer to the reference, with the collection's embedding model (one batch)."""
    if q.unanswerable or embedder is None:
        for row in rows:
            row["similarity"] = None
        return
    texts = [m.normalise(q.answer) or q.answer] + [m.normalise(row["answer"]) or "-" for row in rows]
    vectors = embedder.embed(texts)
    for row, vector in zip(rows, vectors[1:]):
        row["similarity"] = round(m.cosine(vectors[0], vector), 4) if row["answer"].strip() else 0.0


def _judge(engine: Engine, model: str, q: EvalQuestion, answer: str) -> bool | None:
    """The judge model's verdict on one answer (None when it gave no usable verdict)."""
    prompt = m.judge_prompt(q.question, q.answer, answer)
    request = GenerationRequest(
        model=model, prompt=Prompt(prompt, ({"role": "user", "content": prompt},)), temperature=0.0, max_tokens=8
    )
    try:
        return m.parse_verdict("".join(engine.generate(request)))
    except AppError:
        return None
