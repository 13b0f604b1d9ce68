"""What the command-line modules share: JSON on stdout, one question or a file of them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from core.errors import AppError


def print_json(obj: Any) -> None:
    """Print one JSON value on its own line of stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def read_questions(path: Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL questions file (each needs a "question")."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AppError(f"Cannot read questions file {path}: {exc.strerror}. Check the path.") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise AppError(f"{path}:{number} is not valid JSON: each line must be an object like {{\"question\": \"…\"}}.") from None
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            raise AppError(f"{path}:{number} has no \"question\": each line must be an object like {{\"question\": \"…\"}}.")
        yield item


def one_or_many(ns: argparse.Namespace, one: Callable[[str, dict[str, Any]], dict[str, Any]]) -> int:
    """Run `one(question, extra fields)` for the QUESTION words or each line of --questions, printing each result."""
    if ns.questions:
        for item in read_questions(Path(ns.questions)):
            print_json(one(str(item["question"]), {k: v for k, v in item.items() if k != "question"}))
    elif ns.question:
        print_json(one(" ".join(ns.question), {}))
    else:
        raise AppError("Give a QUESTION or --questions FILE.jsonl.")
    return 0
