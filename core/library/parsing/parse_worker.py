"""Parse one file in a child process with a wall-clock timeout and a memory limit.

pypdf's own docs leave exception handling to the caller, and some malformed PDFs hang or
exhaust memory: a child process is the only way to stop that from taking down the app.
Run as `python -m core.library.parsing.parse_worker --kind KIND [--parser MOD:FUNC] PATH`;
it prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Callable

from core.base.children import run_child
from core.library.parsing.loaders import Page, PageProgress, ParseFailure, load
from core.library.parsing.sniff import DocKind


def parse_time_limit(timeout_s: float, pages: int = 0, page_timeout_s: float = 0.0) -> float:
    """Seconds a file of `pages` pages may take to parse: the flat limit plus an allowance per page (a long manual is
    not "too slow")."""
    return timeout_s + pages * page_timeout_s


def parse_in_subprocess(
    path: Path,
    kind: DocKind,
    timeout_s: float,
    memory_mb: int,
    parser: str | None = None,
    pages: int = 0,
    page_timeout_s: float = 0.0,
) -> list[Page]:
    """Parse `path` in a child process; raise ParseFailure on any failure, including a hang or crash.

    `pages`, when the file's page count is known beforehand (a document already indexed), scales the time limit as
    ingestion does.
    """
    args = (["--parser", parser] if parser else []) + ["--kind", kind, str(path)]
    limit_s = parse_time_limit(timeout_s, pages, page_timeout_s)
    child = run_child("core.library.parsing.parse_worker", args, memory_mb, limit_s)
    if child.timed_out:
        raise timeout_failure(timeout_s, pages, page_timeout_s)
    try:
        result = json.loads(child.stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        result = None
    if not isinstance(result, dict):
        raise failure_from_exit(child.stderr, child.returncode, memory_mb)
    return pages_from_reply(result)


def timeout_failure(
    timeout_s: float, pages: int = 0, page_timeout_s: float = 0.0, stalled: bool = False
) -> ParseFailure:
    """What a parser stopped at the wall-clock limit means for the user (`pages`: the file's page count, if known)."""
    if stalled:
        return ParseFailure(
            "timeout",
            f"Parsing took longer than {timeout_s:g} s without finishing a page (the file may be hostile or malformed) "
            "and was stopped: re-export it, or raise DOMAINCHAT_PARSE_TIMEOUT_S if one page really is that heavy.",
        )
    if pages and page_timeout_s:
        return ParseFailure(
            "timeout",
            f"Parsing took longer than allowed ({timeout_s:g} s plus {page_timeout_s:g} s for each of its {pages} "
            "pages) and was stopped: the file may be malformed; re-export it, or raise DOMAINCHAT_PARSE_PAGE_TIMEOUT_S "
            "if its pages are just very heavy.",
        )
    return ParseFailure(
        "timeout",
        f"Parsing took longer than {timeout_s:g} s and was stopped: the file may be malformed; re-export it, or raise "
        "DOMAINCHAT_PARSE_TIMEOUT_S if it is just very large.",
    )


def failure_from_exit(stderr: bytes, returncode: int | None, memory_mb: int) -> ParseFailure:
    """What a parser process that died without a reply means for the user."""
    tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit status {returncode}"]
    if "MemoryError" in tail[0] or returncode in (-9, 137):
        return ParseFailure(
            "memory",
            f"Parsing needed more than {memory_mb} MB of memory and was stopped: the file may be malformed; re-export "
            "it, or raise DOMAINCHAT_PARSE_MEMORY_MB.",
        )
    return ParseFailure(
        "crash",
        f"The parser crashed on this file ({tail[0][:200]}): the file may be damaged; re-export it and upload again.",
    )


def pages_from_reply(result: dict) -> list[Page]:
    """The pages of a parser's reply, or its ParseFailure."""
    if not result.get("ok"):
        raise ParseFailure(
            str(result.get("code", "corrupt")), str(result.get("message", "The file could not be read."))
        )
    return [Page(int(p["number"]), str(p["text"])) for p in result["pages"]]


def _resolve_parser(spec: str | None, progress: PageProgress | None = None) -> Callable[[Path, DocKind], list[Page]]:
    if not spec:
        return lambda path, kind: load(path, kind, progress)
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)  # a test's parser reports no pages


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--kind", required=True)
    args.add_argument("--parser", default=None, help="module:function replacing the built-in loaders (tests use it)")
    args.add_argument("path", type=Path)
    ns = args.parse_args(argv)
    sys.stdout.write(json.dumps(reply_for(ns.path, ns.kind, ns.parser)))
    return 0


def reply_for(path: Path, kind: str, parser: str | None, progress: PageProgress | None = None) -> dict:
    """Parse one file (in the child) into the JSON-ready reply the parent reads."""
    try:
        pages = _resolve_parser(parser, progress)(path, kind)  # type: ignore[arg-type]
        return {"ok": True, "pages": [{"number": p.number, "text": p.text} for p in pages]}
    except ParseFailure as exc:
        return {"ok": False, "code": exc.code, "message": str(exc)}
    except MemoryError:
        return {
            "ok": False,
            "code": "memory",
            "message": (
                "Parsing needed more memory than allowed: the file may be malformed; re-export it, or raise "
                "DOMAINCHAT_PARSE_MEMORY_MB."
            ),
        }
    except RecursionError:
        return {
            "ok": False,
            "code": "corrupt",
            "message": "The file is malformed (its structure nests too deeply): re-export it and upload again.",
        }


if __name__ == "__main__":
    raise SystemExit(main())
