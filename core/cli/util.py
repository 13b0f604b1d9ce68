"""What the command-line modules share: JSON on stdout, one question or a file of them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, TypeAlias

from core.base.questions import read_questions
from core.errors import AppError

# The table each command group adds its sub-commands to (a string: argparse's class is generic to type checkers only).
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def print_json(obj: object) -> None:
    """Print one JSON value on its own line of stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def one_or_many(ns: argparse.Namespace, one: Callable[[str, dict[str, Any]], dict[str, Any]]) -> int:
    """Run `one(question, extra fields)` for the QUESTION words or each line of --questions, printing each result."""
    if ns.questions:
        for item in read_questions(Path(ns.questions), need_answers=False):
            record = item.to_record()
            print_json(one(item.question, {k: v for k, v in record.items() if k != "question"}))
    elif ns.question:
        print_json(one(" ".join(ns.question), {}))
    else:
        raise AppError("Give a QUESTION or --questions FILE.jsonl.")
    return 0
