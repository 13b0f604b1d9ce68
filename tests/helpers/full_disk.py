"""Uploads into a data directory on a really full disk; run by tests/test_storage_errors.py inside its own mount
namespace.

`python -m tests.helpers.full_disk DATA_DIR` expects DATA_DIR to be the root of a small, empty tmpfs (the test mounts
it in a user + mount namespace, so no privilege is needed and nothing outlives the process). It indexes one document,
fills the disk with a ballast file until only the next upload's original and its catalog row still fit, uploads a
document whose chunks Chroma cannot store, then frees the space and uploads it again. It prints one JSON object: what
each step returned and what the library held after it (catalog rows, chunks in Chroma, kept originals, temp files).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from core.config import Settings
from core.errors import AppError
from core.index.embeddings import SentenceTransformerEmbedder
from core.library.types import UploadedFile
from core.services import Services, build_services

COLLECTION = "docs"
FIRST = UploadedFile(
    "manual.txt", b"Clean the coarse filter every week under running water. The spray arm is removed by turning it."
)
# ~40 chunks: Chroma writes ≈12 KB per chunk (vectors, text, full-text index), far more than the original.
BIG = UploadedFile(
    "handbook.txt",
    "\n\n".join(
        f"Section {i}: the drain pump of model {i} is checked every {i % 12 + 1} months and its seal replaced when it "
        "leaks."
        for i in range(300)
    ).encode(),
)
ROOM_BESIDES_ORIGINAL = 96 * 1024  # enough for the catalog's pending row and its journal, far too little for the chunks


def state(svc: Services) -> dict[str, Any]:
    """What the library holds: catalog rows, chunks per document in Chroma, kept originals, temp files."""
    data = svc.settings.data_dir
    originals = svc.library.originals
    return {
        "rows": sorted([r.name, r.status, r.chunks] for r in svc.catalog.documents(COLLECTION)),
        "chunks": {
            svc.catalog.get(COLLECTION, d).name if svc.catalog.get(COLLECTION, d) else d: sum(g.values())
            for d, g in svc.store.inventory(COLLECTION).items()
        },
        "intact": all(svc.library.is_intact(r) for r in svc.catalog.documents(COLLECTION) if r.status == "indexed"),
        "originals": sorted(p.name for p in originals.iterdir()) if originals.is_dir() else [],
        "referenced": sorted(svc.catalog.stored_originals()),
        "temps": sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.name.endswith(".tmp")),
        "free_kb": os.statvfs(data).f_bavail * os.statvfs(data).f_frsize // 1024,
    }


def fill(data: Path, leave: int) -> None:
    """Write a ballast file until only `leave` bytes of the disk are free."""
    (data / "ballast").unlink(missing_ok=True)
    disk = os.statvfs(data)
    size = disk.f_bavail * disk.f_frsize - leave
    with open(data / "ballast", "wb") as f:
        f.write(b"\0" * max(0, size))


def upload(svc: Services, leave: int | None) -> dict[str, Any]:
    """Upload BIG with `leave` bytes free on the disk (None: the ballast removed); its outcome and the library after
    it."""
    data = svc.settings.data_dir.parent
    if leave is None:
        (data / "ballast").unlink()
    else:
        fill(data, leave)
    return attempt(svc, lambda: svc.library.ingest(COLLECTION, [BIG])[0].status)


def attempt(svc: Services, step: Callable[[], str]) -> dict[str, Any]:
    """Run one library call: what it returned or raised, and what the library held after it."""
    try:
        outcome: dict[str, Any] = {"status": step()}
    except AppError as exc:
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 (what the test must never see: reported, not raised)
        outcome = {"error": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
    return {**outcome, "after": state(svc)}


def main(data: Path) -> dict[str, Any]:
    """Run the steps; every outcome goes in the report."""
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data / "data", engine="embedded")
    embedder = SentenceTransformerEmbedder()
    svc = build_services(settings, embedder=embedder)
    try:
        report: dict[str, Any] = {"first": svc.library.ingest(COLLECTION, [FIRST])[0].status}
        report["original_does_not_fit"] = upload(svc, len(BIG.data) // 2)
        report["chunks_do_not_fit"] = upload(svc, len(BIG.data) + ROOM_BESIDES_ORIGINAL)
        report["search_when_full"] = [
            c.source for c in svc.retriever.search(COLLECTION, "How often is the coarse filter cleaned?", 2).chunks
        ]
        report["delete_when_full"] = attempt(
            svc,
            lambda: (
                svc.library.delete_document(
                    COLLECTION, svc.catalog.find_by_name(COLLECTION, "manual.txt")[0].doc_id
                ).name
            ),
        )
        report["space_freed"] = upload(svc, None)
    finally:
        svc.close()
    again = build_services(settings, embedder=embedder)  # the next start: nothing left for recovery to repair
    try:
        report["recovery_at_restart"] = again.recovery.summary() if again.recovery else ""
        report["after_restart"] = state(again)
    finally:
        again.close()
    return report


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(Path(sys.argv[1]))) + "\n")
