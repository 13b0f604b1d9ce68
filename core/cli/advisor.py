"""`python -m core advise` and `python -m core update-test`: the advisor and the document-update test, JSON out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

from core.advisor.advice import Budget, Criteria, DataChanges, Hardware, Skills
from core.cli.util import SubParsers
from core.config import ENGINE_CHOICES
from core.evaluation.document_update import UpdateTestConfig, UpdateTestService
from core.services import Services


def add_advisor_commands(sub: SubParsers) -> None:
    """Register the `advise` and `update-test` sub-commands."""
    p = sub.add_parser(
        "advise", help="recommend RAG, fine-tuning or hybrid from five criteria and the latest measurements"
    )
    p.add_argument("--skills", choices=get_args(Skills), required=True, help="the team's skills")
    p.add_argument(
        "--data-changes", choices=get_args(DataChanges), required=True, help="how often the documents change"
    )
    p.add_argument("--budget", choices=get_args(Budget), required=True)
    p.add_argument("--hardware", choices=get_args(Hardware), required=True, help="training hardware")
    p.add_argument("--labelled-pairs", type=int, required=True, help="question/answer pairs available for training")
    p.add_argument(
        "--max-answer-s",
        type=float,
        default=None,
        help="how fast a whole answer must come, in seconds (omit: no requirement)",
    )
    p.add_argument("--run", help="the grid run to use as evidence (default: the newest finished one)")
    p.add_argument("--no-evidence", action="store_true", help="advise from the criteria alone")
    p.add_argument("--markdown", type=Path, help="also write the Markdown report to this file")
    p.set_defaults(func=cmd_advise)

    sample = UpdateTestService.sample_config([])
    p = sub.add_parser(
        "update-test", help="replace a document by a new version and measure how each arm follows the change"
    )
    p.add_argument("--collection", default="update-test", help="collection to run in (default: update-test)")
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


def cmd_advise(svc: Services, ns: argparse.Namespace) -> int:
    """Print the advice as JSON (and write the report)."""
    criteria = Criteria(ns.skills, ns.data_changes, ns.budget, ns.hardware, ns.labelled_pairs, ns.max_answer_s)
    advised = svc.advisor.advise(criteria, ns.run, use_evidence=not ns.no_evidence)
    if ns.markdown:
        ns.markdown.write_text(advised.markdown, encoding="utf-8")
    sys.stdout.write(json.dumps(advised.to_dict(), ensure_ascii=False) + "\n")
    return 0


def cmd_update_test(svc: Services, ns: argparse.Namespace) -> int:
    """Run the document-update test and print its result as JSON."""
    config = UpdateTestConfig(
        ns.old,
        ns.new,
        ns.questions,
        ns.collection,
        [m.strip() for m in ns.modes.split(",") if m.strip()],
        ns.engine,
        ns.variant,
        probe_training=not ns.no_training_probe,
    )
    result = svc.update_test.run(
        config, progress=lambda what, done, total: print(f"[{done}/{total}] {what}", file=sys.stderr)
    )
    sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    return 0
