"""`python -m core advise`: the advisor, JSON out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

from core.advisor.advice import Budget, Criteria, DataChanges, Hardware, Skills
from core.advisor.costs import Volume
from core.cli.util import SubParsers
from core.errors import AppError
from core.services import Services

# The team's volume: with these the advice carries a cost table in hours (and money, with prices).
VOLUME_ARGS = ("questions_per_day", "documents", "document_mb", "document_pages")


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
    p.add_argument(
        "--wrong-answers-costly",
        action="store_true",
        help="a wrong answer costs a lot (legal, medical, safety), not just a re-ask: the advice then also compares "
        "the accuracy of the answers each approach was sure of, from the run's confidence figures",
    )
    p.add_argument("--run", help="the grid run to use as evidence (default: the newest finished one)")
    p.add_argument("--no-evidence", action="store_true", help="advise from the criteria alone")
    p.add_argument("--markdown", type=Path, help="also write the Markdown report to this file")
    p.add_argument("--html", type=Path, help="also write the report as one self-contained HTML file (charts inline)")
    costs = p.add_argument_group(
        "costs", "what each approach costs your team, in hours a month (give the first three to get the table)"
    )
    costs.add_argument("--questions-per-day", type=float, help="questions the chatbot answers a day")
    costs.add_argument("--documents", type=int, help="documents the chatbot answers from")
    size = costs.add_mutually_exclusive_group()
    size.add_argument("--document-mb", type=float, help="a document's average size in MB")
    size.add_argument("--document-pages", type=float, help="a document's average length in pages (instead of MB)")
    costs.add_argument(
        "--changed-per-update", type=int, default=1, help="documents that change at each change (default 1)"
    )
    costs.add_argument("--cpu-hour-price", type=float, help="price of a CPU hour, in your currency")
    costs.add_argument("--gpu-hour-price", type=float, help="price of a GPU hour: training is then priced on a GPU")
    p.set_defaults(func=cmd_advise)


def cmd_advise(svc: Services, ns: argparse.Namespace) -> int:
    """Print the advice as JSON (and write the report)."""
    criteria = Criteria(
        ns.skills,
        ns.data_changes,
        ns.budget,
        ns.hardware,
        ns.labelled_pairs,
        ns.max_answer_s,
        wrong_answers_costly=ns.wrong_answers_costly,
    )
    advised = svc.advisor.advise(criteria, ns.run, use_evidence=not ns.no_evidence, volume=_volume(ns))
    if ns.markdown:
        ns.markdown.write_text(advised.markdown, encoding="utf-8")
    if ns.html:
        ns.html.write_text(advised.html, encoding="utf-8")
    sys.stdout.write(json.dumps(advised.to_dict(), ensure_ascii=False) + "\n")
    return 0


def _volume(ns: argparse.Namespace) -> Volume | None:
    """The team's volume when given (the advice then carries its cost table); half a volume says what else to give."""
    given = [name for name in VOLUME_ARGS if getattr(ns, name) is not None]
    if not given and ns.cpu_hour_price is None and ns.gpu_hour_price is None:
        return None
    if ns.questions_per_day is None or ns.documents is None or (ns.document_mb is None and ns.document_pages is None):
        raise AppError(
            "To cost the approaches give --questions-per-day, --documents and --document-mb (or --document-pages) "
            "together; --changed-per-update and the hour prices are optional."
        )
    return Volume(
        ns.questions_per_day,
        ns.documents,
        ns.document_mb,
        ns.document_pages,
        ns.data_changes,
        ns.changed_per_update,
        cpu_hour_price=ns.cpu_hour_price,
        gpu_hour_price=ns.gpu_hour_price,
    )
