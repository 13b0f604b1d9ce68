"""An evaluation run as a background job (core/jobs.py): `python -m core.evaluation.job --config RUN/config.json`.

The job folder is the run folder. The starter wrote config.json: the run's EvalConfig, its questions and
the retrieval of every question (recorded while the starter held the index, see core/evaluation/recorded.py).
The job answers and scores every question in every arm, so the run goes on when the user leaves the page or
closes the tab; each finished answer is saved at once, so a cancelled or failed run keeps them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping

from core.base.jobs import JobContext, JobKind, run_job_main
from core.base.questions import EvalQuestion, write_questions
from core.chat.history import ChatHistory
from core.chat.service import ChatService
from core.config import Settings
from core.engines.resolver import Engines
from core.errors import EvaluationError
from core.evaluation.recorded import RecordedRetriever
from core.evaluation.runner import run_evaluation
from core.evaluation.runs import EvalConfig
from core.index.embeddings import make_embedder

EVAL_JOB = JobKind(
    name="evaluation",
    module="core.evaluation.job",
    root="evaluation/runs",
    prefix="ev",
    what="evaluation run",
    heavy=True,
    cancel_hint="the Evaluate page, or `python -m core eval --cancel {job_id}`",
    cancelled_message="Cancelled: the finished answers are kept.",
)


def work(config_path: Path, ctx: JobContext) -> Mapping[str, Any]:
    """Answer and score the run's questions; the final status fields (state done or cancelled, message)."""
    raw = json.loads(Path(config_path).read_text(encoding="utf-8"))
    config = EvalConfig.from_dict(raw)
    questions = [EvalQuestion(**q) for q in raw.get("questions") or []]
    write_questions(ctx.folder / "questions.jsonl", questions)  # the run's record, as every run folder has it
    # answers are marked unsure at the threshold the run saved, the one its figures are read at
    settings = Settings.from_env(data_dir=Path(config.data_dir), engine=config.engine)
    if config.confidence_threshold is not None:
        settings = dataclasses.replace(settings, confidence_threshold=config.confidence_threshold)
    embedder = make_embedder(settings)
    chat = job_chat_service(settings, raw.get("recorded_retrieval") or [], embedder)
    engines = chat.engines
    engine = engines.resolve(config.engine)
    judge = engines.resolve("ollama") if config.judge_model else None
    # From here a SIGTERM only sets the stop flag: the runner stops between answers and writes the summary.
    ctx.status.update(phase="answering")
    final = run_evaluation(
        chat,
        engine,
        embedder,
        config,
        questions,
        ctx.folder,
        progress=lambda done, total, message: ctx.progress(done, total, message),
        should_stop=ctx.stop_requested,
        judge=judge,
    )
    if final["state"] == "failed":
        raise EvaluationError(final["message"])
    return {**final, "result": {"run_id": ctx.folder.name, "answers": final["step"]}}


def job_chat_service(settings: Any, records: Any, embedder: Any) -> Any:
    """The chat service of a job: the app's own, with the recorded retrieval instead of the index."""
    return ChatService(
        settings, RecordedRetriever(records, embedder), Engines(settings), ChatHistory(settings.data_dir)
    )


def main() -> int:
    """Run one evaluation job from its config file."""
    return run_job_main(EVAL_JOB, work, interruptible_phases=("starting",))


if __name__ == "__main__":
    raise SystemExit(main())
