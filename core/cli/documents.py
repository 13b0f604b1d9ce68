"""The Documents page's commands: ingest, docs list|delete|replace, collections, reindex, rebuild, retrieve."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.cli.util import SubParsers, one_or_many, print_json
from core.config import RETRIEVAL_METHODS, retrieval_method
from core.errors import AppError
from core.library.service import Progress, UploadedFile
from core.services import Services


def _progress(event: Progress) -> None:
    count = f" {event.done}/{event.total}" if event.total else ""
    detail = f" ({event.detail})" if event.detail else ""
    print(f"{event.name}: {event.stage}{count}{detail}", file=sys.stderr)


def cmd_ingest(svc: Services, ns: argparse.Namespace) -> int:
    uploads = []
    for path in ns.files:
        try:
            uploads.append(UploadedFile(Path(path).name, Path(path).read_bytes()))
        except OSError as exc:
            raise AppError(f"Cannot read {path}: {exc.strerror}. Check the path.") from None
    results = svc.library.ingest(ns.collection, uploads, progress=_progress, ocr=ns.ocr)
    print_json({"collection": ns.collection, "files": [asdict(r) for r in results]})
    return 0


def cmd_docs_list(svc: Services, ns: argparse.Namespace) -> int:
    svc.library.collection_info(ns.collection)
    print_json([asdict(r) for r in svc.library.list_documents(ns.collection)])
    return 0


def cmd_docs_delete(svc: Services, ns: argparse.Namespace) -> int:
    print(f"{ns.doc_id[:12]}: deleting", file=sys.stderr)
    record = svc.library.delete_document(ns.collection, ns.doc_id)
    print_json({"deleted": record.doc_id, "name": record.name, "chunks": record.chunks})
    return 0


def cmd_docs_replace(svc: Services, ns: argparse.Namespace) -> int:
    path = Path(ns.file)
    try:
        upload = UploadedFile(path.name, path.read_bytes())
    except OSError as exc:
        raise AppError(f"Cannot read {path}: {exc.strerror}. Check the path.") from None
    result = svc.library.replace_document(ns.collection, upload, ns.doc_id, progress=_progress)
    print_json(asdict(result))
    if result.status == "rejected":
        print(f"error: {result.reason}", file=sys.stderr)
        return 1
    return 0


def cmd_collections(svc: Services, ns: argparse.Namespace) -> int:
    if ns.action == "list" and ns.tests:
        print_json([asdict(c) for c in svc.library.list_test_collections()])
    elif ns.action == "list":
        print_json([asdict(c) for c in svc.library.list_collections()])
        _say_test_collections(svc)
    elif ns.action == "create":
        print_json(asdict(svc.library.create_collection(_need_name(ns))))
    else:
        print_json({"deleted": _need_name(ns), "documents": svc.library.delete_collection(_need_name(ns))})
    return 0


def _say_test_collections(svc: Services) -> None:
    """The update test's kept collections, apart from the user's (stdout stays the list scripts pick from)."""
    kept = svc.library.list_test_collections()
    if not kept:
        return
    print(
        f"Test collections kept by the document-update test ({len(kept)}, not among yours; "
        "`collections list --tests` gives them as JSON, `collections delete NAME` deletes one):",
        file=sys.stderr,
    )
    for c in kept:
        print(f"  {c.name}: {c.chunks} chunks", file=sys.stderr)


def _need_name(ns: argparse.Namespace) -> str:
    if not ns.name:
        raise AppError(
            f"`collections {ns.action}` needs a collection name, e.g. `python -m core collections {ns.action} manuals`."
        )
    return ns.name


def cmd_reindex(svc: Services, ns: argparse.Namespace) -> int:
    results = svc.library.reindex(ns.collection, ns.chunk_size, ns.chunk_overlap, progress=_progress)
    print_json({"collection": ns.collection, "files": [asdict(r) for r in results]})
    return 0


def cmd_rebuild(svc: Services, ns: argparse.Namespace) -> int:
    results = svc.library.rebuild_from_originals(ns.collection or None, progress=_progress)
    print_json({"rebuilt": [asdict(r) for r in results]})
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
                {
                    "source": c.source,
                    "page": c.page,
                    "score": None if c.score is None else round(c.score, 4),
                    "similarity": None if c.similarity is None else round(c.similarity, 3),
                    "chunk_id": c.chunk_id,
                    "text": c.text,
                }
                for c in found.chunks
            ],
        }

    return one_or_many(ns, one)


def add_documents_commands(sub: SubParsers) -> None:
    """Add the Documents page's commands."""
    p = sub.add_parser("ingest", help="index files into a collection")
    p.add_argument("--collection", required=True)
    p.add_argument("files", nargs="+")
    p.add_argument(
        "--ocr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read scanned pages and PNG/JPEG/TIFF files with OCR (default: DOMAINCHAT_OCR, on)",
    )
    p.set_defaults(func=cmd_ingest)

    docs = sub.add_parser("docs", help="list, delete or replace a collection's documents").add_subparsers(
        dest="docs_command", required=True
    )
    p = docs.add_parser("list")
    p.add_argument("--collection", required=True)
    p.set_defaults(func=cmd_docs_list)
    p = docs.add_parser("delete")
    p.add_argument("--collection", required=True)
    p.add_argument("doc_id")
    p.set_defaults(func=cmd_docs_delete)
    p = docs.add_parser("replace", help="replace a document by a new version (same name, new bytes)")
    p.add_argument("--collection", required=True)
    p.add_argument("--doc-id", help="the document to replace (default: the one with the file's name)")
    p.add_argument("file")
    p.set_defaults(func=cmd_docs_replace)

    p = sub.add_parser("collections", help="list, create or delete collections")
    p.add_argument("action", choices=["list", "create", "delete"])
    p.add_argument("name", nargs="?")
    p.add_argument(
        "--tests",
        action="store_true",
        help="list: the document-update test's kept collections instead of yours (plain `list` names them on stderr)",
    )
    p.set_defaults(func=cmd_collections)

    p = sub.add_parser("reindex", help="re-chunk and re-embed a collection from its kept originals")
    p.add_argument("--collection", required=True)
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--chunk-overlap", type=int)
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser(
        "rebuild",
        help="write damaged collections afresh from the kept originals (default: what the start-up check found)",
    )
    p.add_argument("--collection", action="append", help="a collection to rebuild (repeatable)")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("retrieve", help="retrieval only (no LLM): the top chunks for a question")
    p.add_argument("--collection", required=True)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument(
        "--method",
        type=retrieval_method,
        choices=list(RETRIEVAL_METHODS),
        default=None,
        help="dense, or fused (BM25 + dense; 'hybrid' is accepted as its old name)",
    )
    p.add_argument(
        "--questions", help="question file (JSONL, JSON list or CSV with a question column); prints one JSON line each"
    )
    p.add_argument("question", nargs="*")
    p.set_defaults(func=cmd_retrieve)
