"""`python -m core eval` and `update-test`: score the chat modes on a question set, or on a changed document;
JSON on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.base.jobs import JobStatus
from core.cli.util import SubParsers
from core.config import ENGINE_CHOICES, RETRIEVAL_METHODS, retrieval_method
from core.errors import EvaluationError
from core.evaluation.document_update import UpdateTestConfig, UpdateTestService
from core.evaluation.runs import EvalConfig, run_dir, threshold_text
from core.library.service import TEST_COLLECTION_PREFIX
from core.services import Services


def add_eval_commands(sub: SubParsers) -> None:
    """Register the Evaluate page's `eval` and `update-test` sub-commands."""
    p = sub.add_parser("eval", help="score base/rag/finetuned/hybrid on a question set (the evaluation grid)")
    p.add_argument("--collection", default="", help="collection the rag and hybrid arms retrieve from")
    p.add_argument(
        "--questions", help="question file (JSONL/CSV), a Fine-tune training-set folder, or finetune:NAME / sample:FILE"
    )
    p.add_argument(
        "--modes",
        default="base,rag",
        help="comma-separated arms: base,rag,finetuned,hybrid; finetuned:VARIANT and hybrid:VARIANT score a named "
        "variant, so several variants (recipes) go side by side in one run: base,rag,finetuned:v1,finetuned:v2",
    )
    p.add_argument(
        "--variant",
        default="",
        help="the variant the plain finetuned and hybrid arms run (default: the newest registered on the engine)",
    )
    p.add_argument("--engine", choices=list(ENGINE_CHOICES), default=None)
    p.add_argument("--model", default="", help="base model (default: the engine's default)")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument(
        "--method",
        type=retrieval_method,
        choices=list(RETRIEVAL_METHODS),
        default=None,
        help="retrieval method (fused: BM25 + dense; 'hybrid' is accepted as its old name)",
    )
    p.add_argument("--max-tokens", type=int, default=EvalConfig.max_tokens, help="longest answer, in tokens")
    p.add_argument(
        "--limit", type=int, default=0, help="only the first N questions of each half, or of the set when it has none"
    )
    p.add_argument("--judge-model", default="", help="also grade answers with this Ollama model (named in the summary)")
    p.add_argument("--label", default="", help="a name for the run")
    p.add_argument("--rows", help="also write the per-question rows to this JSONL file")
    p.add_argument("--list", action="store_true", help="list saved runs")
    p.add_argument("--show", metavar="RUN_ID", help="print a saved run's summary (and rows with --rows)")
    p.add_argument("--cancel", metavar="RUN_ID", help="cancel a running run (its finished answers are kept)")
    p.set_defaults(func=cmd_eval)

    sample = UpdateTestService.sample_config([])
    p = sub.add_parser(
        "update-test", help="replace a document by a new version and measure how each arm follows the change"
    )
    p.add_argument(
        "--collection",
        default="",
        help=f"name of the test collection to make, starting with '{TEST_COLLECTION_PREFIX}' (default: "
        f"{TEST_COLLECTION_PREFIX}<UTC time>); never one of your collections",
    )
    p.add_argument(
        "--keep-collection",
        action="store_true",
        help="keep the test collection afterwards (to look at its documents); by default it is deleted at the end",
    )
    p.add_argument("--old", type=Path, default=sample.old_file, help="the old version (default: the sample manual)")
    p.add_argument(
        "--new",
        type=Path,
        default=sample.new_file,
        help="the new version, same file name (default: the sample manual's revision 4)",
    )
    p.add_argument(
        "--questions",
        type=Path,
        default=sample.questions,
        help="JSONL: question, answer (new), old_answer per changed fact",
    )
    p.add_argument("--modes", default="base,rag,finetuned,hybrid", help="arms, comma-separated")
    p.add_argument("--engine", choices=list(ENGINE_CHOICES), default=None)
    p.add_argument("--variant", help="fine-tuned variant (default: the newest registered)")
    p.add_argument(
        "--no-training-probe",
        action="store_true",
        help="with no recorded training, leave the re-training cost unknown instead of measuring a few steps",
    )
    p.set_defaults(func=cmd_update_test)


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _progress(status: JobStatus) -> None:
    eta = f", ETA {status.eta_s:.0f} s" if status.eta_s is not None else ""
    print(f"eval: {status.step}/{status.total_steps}{eta}: {status.message}", file=sys.stderr)


def cmd_eval(svc: Any, ns: argparse.Namespace) -> int:
    """List, show, or run an evaluation."""
    ev = svc.evaluation
    if ns.list:
        _print([r.to_dict() for r in ev.list_runs()])
        return 0
    if ns.cancel:
        _print(ev.cancel(ns.cancel, wait_s=30).to_dict())
        return 0
    if ns.show:
        run = ev.load_run(ns.show)
    else:
        if not ns.questions:
            raise EvaluationError(
                "Give --questions FILE (JSONL/CSV, a training-set folder, finetune:NAME or sample:FILE), or --list."
            )
        questions = ev.load_question_set(ns.questions)
        questions = ev.first_questions(questions, ns.limit)
        settings = svc.settings
        config = EvalConfig(
            collection=ns.collection,
            arms=ns.modes.split(","),
            engine=ns.engine or settings.engine,
            base_model=ns.model,
            variant=ns.variant,
            top_k=ns.top_k or settings.top_k,
            retrieval=ns.method or settings.retrieval,
            max_tokens=ns.max_tokens,
            question_set=ns.questions,
            judge_model=ns.judge_model,
            label=ns.label,
        )
        run = ev.run(config, questions, progress=_progress)
    if ns.rows:
        with open(ns.rows, "w", encoding="utf-8") as f:
            for row in run.rows:
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    # the findings in words for a person at the terminal; the JSON below carries the same figures for scripts
    for line in (run.summary.get("answer_sources") or {}).get("diagnosis", {}).values():
        print(line, file=sys.stderr)
    judged = {a: f for a, f in (run.summary.get("confidence") or {}).items() if f.get("auroc_n")}
    threshold = run.summary.get("confidence_threshold") or {}
    if judged and threshold:
        said = threshold_text(threshold["value"], threshold["from"])
        print(f"Answers were marked unsure below a confidence of {said}:", file=sys.stderr)
    for arm, figures in judged.items():  # no arm left out carried a confidence (refusals, or a run from before them)
        print(_sure_line(arm, figures), file=sys.stderr)
    for comparison in run.summary.get("comparisons") or []:
        if comparison.get("clear"):
            print(comparison.get("sentence", ""), file=sys.stderr)
    _print(
        {
            "run_id": run.run_id,
            "state": run.status.state,
            "message": run.status.message,
            "config": asdict(run.config),
            "rows_file": str(run_dir(svc.settings.data_dir, run.run_id) / "rows.jsonl"),
            # how each variant scored was trained: its recipe, pairs × epochs and seconds
            "variants": ev.variant_lines(run),
            "summary": run.summary,
        }
    )
    return 0 if run.status.state == "done" else 1


def _sure_line(arm: str, figures: dict[str, Any]) -> str:
    """How sure one arm's answers were, in words: 'rag: 59 of 85 answers marked sure were right (69%); 26 wrong
    answers were not marked'."""
    sure, wrong = figures["selective_accuracy"], figures["confidently_wrong"]["k"]
    if not sure["n"]:
        return f"{arm}: no answer was marked sure"
    unmarked = "1 wrong answer was" if wrong == 1 else f"{wrong} wrong answers were"
    return (
        f"{arm}: {sure['k']} of {sure['n']} answers marked sure were right ({sure['share']:.0%}); {unmarked} not marked"
    )


def cmd_update_test(svc: Services, ns: argparse.Namespace) -> int:
    """Run the document-update test and print its result as JSON."""
    config = UpdateTestConfig(
        ns.old,
        ns.new,
        ns.questions,
        collection=ns.collection,
        arms=[m.strip() for m in ns.modes.split(",") if m.strip()],
        engine=ns.engine,
        variant=ns.variant,
        probe_training=not ns.no_training_probe,
        keep_collection=ns.keep_collection,
    )
    result = svc.update_test.run(
        config, progress=lambda what, done, total: print(f"[{done}/{total}] {what}", file=sys.stderr)
    )
    sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    return 0
