"""The command line: `python -m core …` does what the pages do and prints JSON on stdout.

Errors go to stderr as one message that says what to do, with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator

from core.config import RETRIEVAL_METHODS, Settings, retrieval_method
from core.errors import AppError
from core.library import Progress, UploadedFile
from core.services import Services, build_services


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _progress(event: Progress) -> None:
    count = f" {event.done}/{event.total}" if event.total else ""
    detail = f" ({event.detail})" if event.detail else ""
    print(f"{event.name}: {event.stage}{count}{detail}", file=sys.stderr)


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


def cmd_ingest(svc: Services, ns: argparse.Namespace) -> int:
    uploads = []
    for path in ns.files:
        try:
            uploads.append(UploadedFile(Path(path).name, Path(path).read_bytes()))
        except OSError as exc:
            raise AppError(f"Cannot read {path}: {exc.strerror}. Check the path.") from None
    results = svc.library.ingest(ns.collection, uploads, progress=_progress)
    _print({"collection": ns.collection, "files": [asdict(r) for r in results]})
    return 0


def cmd_docs_list(svc: Services, ns: argparse.Namespace) -> int:
    svc.store.collection_info(ns.collection)
    _print([asdict(r) for r in svc.library.list_documents(ns.collection)])
    return 0


def cmd_docs_delete(svc: Services, ns: argparse.Namespace) -> int:
    record = svc.library.delete_document(ns.collection, ns.doc_id)
    _print({"deleted": record.doc_id, "name": record.name, "chunks": record.chunks})
    return 0


def cmd_collections(svc: Services, ns: argparse.Namespace) -> int:
    if ns.action == "list":
        _print([asdict(c) for c in svc.library.list_collections()])
    elif ns.action == "create":
        _print(asdict(svc.library.create_collection(_need_name(ns))))
    else:
        _print({"deleted": _need_name(ns), "documents": svc.library.delete_collection(_need_name(ns))})
    return 0


def _need_name(ns: argparse.Namespace) -> str:
    if not ns.name:
        raise AppError(f"`collections {ns.action}` needs a collection name, e.g. `python -m core collections {ns.action} manuals`.")
    return ns.name


def cmd_reindex(svc: Services, ns: argparse.Namespace) -> int:
    results = svc.library.reindex(ns.collection, ns.chunk_size, ns.chunk_overlap, progress=_progress)
    _print({"collection": ns.collection, "files": [asdict(r) for r in results]})
    return 0


def cmd_retrieve(svc: Services, ns: argparse.Namespace) -> int:
    def one(question: str, extra: dict[str, Any]) -> dict[str, Any]:
        found = svc.retriever.search(ns.collection, question, ns.top_k, ns.method)
        return {
            **extra,
            "question": question,
            "method": found.method,
            "retrieval_ms": round(found.ms, 1),
            "chunks": [
                {"source": c.source, "page": c.page, "score": round(c.score, 4),
                 "similarity": None if c.similarity is None else round(c.similarity, 3), "chunk_id": c.chunk_id, "text": c.text}
                for c in found.chunks
            ],
        }

    return _one_or_many(ns, one)


def _one_or_many(ns: argparse.Namespace, one: Callable[[str, dict[str, Any]], dict[str, Any]]) -> int:
    if ns.questions:
        for item in read_questions(Path(ns.questions)):
            _print(one(str(item["question"]), {k: v for k, v in item.items() if k != "question"}))
    elif ns.question:
        _print(one(" ".join(ns.question), {}))
    else:
        raise AppError("Give a QUESTION or --questions FILE.jsonl.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m core`."""
    parser = argparse.ArgumentParser(prog="python -m core", description="domainchat from the command line (JSON on stdout).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index files into a collection")
    p.add_argument("--collection", required=True)
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_ingest)

    docs = sub.add_parser("docs", help="list or delete a collection's documents").add_subparsers(dest="docs_command", required=True)
    p = docs.add_parser("list")
    p.add_argument("--collection", required=True)
    p.set_defaults(func=cmd_docs_list)
    p = docs.add_parser("delete")
    p.add_argument("--collection", required=True)
    p.add_argument("doc_id")
    p.set_defaults(func=cmd_docs_delete)

    p = sub.add_parser("collections", help="list, create or delete collections")
    p.add_argument("action", choices=["list", "create", "delete"])
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_collections)

    p = sub.add_parser("reindex", help="re-chunk and re-embed a collection from its kept originals")
    p.add_argument("--collection", required=True)
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--chunk-overlap", type=int)
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("retrieve", help="retrieval only (no LLM): the top chunks for a question")
    p.add_argument("--collection", required=True)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--method", type=retrieval_method, choices=list(RETRIEVAL_METHODS), default=None,
                   help="dense, or fused (BM25 + dense; 'hybrid' is accepted as its old name)")
    p.add_argument("--questions", help="JSONL file, one {\"question\": …} per line; prints one JSON line each")
    p.add_argument("question", nargs="*")
    p.set_defaults(func=cmd_retrieve)

    for extend in _extensions():
        extend(sub)
    return parser


def _extensions() -> list[Callable[[Any], None]]:
    """Sub-command groups defined next to the code they drive."""
    from core.chat_cli import add_chat_commands
    from core.finetune.cli import add_finetune_commands

    return [add_chat_commands, add_finetune_commands]


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    ns = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(ns, "top_k", "absent") is None:
            ns.top_k = settings.top_k
        if getattr(ns, "method", "absent") is None:
            ns.method = settings.retrieval
        services = build_services(settings)
        try:
            return int(ns.func(services, ns))
        finally:
            services.close()
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
