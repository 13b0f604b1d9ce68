"""`python -m core advise`: the advisor, JSON out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

from core.advisor.advice import Budget, Criteria, DataChanges, Hardware, Skills
from core.cli.util import SubParsers
from core.services import Services


def add_advisor_commands(sub: SubParsers) -> None:
    """Register the `advise` sub-command."""
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


def cmd_advise(svc: Services, ns: argparse.Namespace) -> int:
    """Print the advice as JSON (and write the report)."""
    criteria = Criteria(ns.skills, ns.data_changes, ns.budget, ns.hardware, ns.labelled_pairs, ns.max_answer_s)
    advised = svc.advisor.advise(criteria, ns.run, use_evidence=not ns.no_evidence)
    if ns.markdown:
        ns.markdown.write_text(advised.markdown, encoding="utf-8")
    sys.stdout.write(json.dumps(advised.to_dict(), ensure_ascii=False) + "\n")
    return 0
