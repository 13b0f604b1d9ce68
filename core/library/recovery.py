"""Start-up recovery: bring the catalog, the vector store and the kept originals back into agreement.

A run can be killed at any moment (SIGKILL, power loss, Streamlit stopping a script mid-upload). The
library writes in an order that makes every such moment recoverable (see `core/library/indexer.py`); this
module reads what was left and finishes or undoes it:

- `deleting` documents are deleted (chunks, row, original);
- `pending` documents (interrupted uploads) lose their partial chunks and are indexed again from the
  kept original, or, when the original is gone, are marked rejected with a reason;
- `indexed` documents whose chunks in the store do not match the catalog are repaired: an older or newer
  generation left by an interrupted re-index is pruned, missing chunks are re-indexed from the original;
- chunks of documents the catalog does not know, originals no row points at, and temp files are removed;
- an interrupted re-index of a collection is resumed.

Only one process may do this at a time, and never while another process writes: it runs only when it
can take the data directory's maintenance lock (held for the life of the services that took it).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from core.errors import AppError
from core.index.embeddings import embedder_label
from core.library.catalog import DocumentRecord, now
from core.library.parsing.loaders import ParseFailure
from core.library.service import DocumentLibrary

TEMP_PREFIX = ".upload-"


@dataclass
class RecoveryReport:
    """What start-up recovery did; empty when the last run ended cleanly."""

    reindexed: list[str] = field(default_factory=list)  # "collection/name" indexed again from the kept original
    lost: list[str] = field(default_factory=list)  # interrupted and not recoverable (original gone): marked rejected
    failed: list[str] = field(default_factory=list)  # re-indexing failed now (e.g. engine down): retried next start
    finished_deletes: list[str] = field(default_factory=list)
    resumed_reindex: list[str] = field(default_factory=list)  # collections whose interrupted re-index was finished
    rebuilt: list[str] = field(default_factory=list)  # collections whose vector index was written afresh
    removed_chunks: int = 0
    removed_files: int = 0

    def __bool__(self) -> bool:
        return any(
            (
                self.reindexed,
                self.lost,
                self.failed,
                self.finished_deletes,
                self.resumed_reindex,
                self.rebuilt,
                self.removed_chunks,
                self.removed_files,
            )
        )

    def summary(self) -> str:
        """One paragraph for the Documents page and the command line."""
        parts = []
        if self.reindexed:
            parts.append(f"re-indexed from the kept originals: {', '.join(self.reindexed)}")
        if self.finished_deletes:
            parts.append(f"finished deleting: {', '.join(self.finished_deletes)}")
        if self.resumed_reindex:
            parts.append(f"finished the re-index of: {', '.join(self.resumed_reindex)}")
        if self.rebuilt:
            parts.append(f"rebuilt the damaged vector index of: {', '.join(self.rebuilt)}")
        if self.removed_chunks or self.removed_files:
            parts.append(f"removed {self.removed_chunks} stray chunks and {self.removed_files} stray files")
        if self.lost:
            parts.append(f"could not recover (original missing; upload again): {', '.join(self.lost)}")
        if self.failed:
            parts.append(
                f"could not re-index now (tried again at the next start, or upload again): {', '.join(self.failed)}"
            )
        return "An earlier run was interrupted; the library was repaired. " + "; ".join(parts) + "."


class MaintenanceLock:
    """A non-blocking exclusive lock on the data directory: whoever holds it may repair the library."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle: IO[str] | None = handle

    @classmethod
    def try_acquire(cls, data_dir: Path) -> "MaintenanceLock | None":
        """The lock, or None when another process (or another services bundle here) holds it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(data_dir / ".maintenance.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return cls(handle)

    def release(self) -> None:
        """Let another process repair the library."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def reconcile(library: DocumentLibrary, skip: frozenset[str] = frozenset()) -> RecoveryReport:
    """Finish or undo every half-done change in `library`; safe to run when nothing is wrong (it then only reads).

    Collections in `skip` (a damaged vector index, see core/store_probe.py) are left for the rebuild the user is
    offered.
    """
    report = RecoveryReport()
    store, catalog = library.store, library.catalog
    report.rebuilt.extend(store.finish_rebuilds())
    present = {c.name for c in store.list_collections()}
    # A document repaired inside a collection whose re-index was interrupted gets the re-index's chunking.
    targets = {i.collection: (i.chunk_size, i.chunk_overlap) for i in catalog.reindex_intents()}

    for record in catalog.with_status("deleting"):
        if record.collection in present:
            report.removed_chunks += store.delete_document(record.collection, record.doc_id)
        catalog.delete(record.collection, record.doc_id)
        library.indexer.forget_original(record.stored_as)
        report.finished_deletes.append(_label(record))

    # A Chroma server may hold other data directories' collections: there only ours are checked.
    scanned = sorted(set(catalog.collections()) | (present if store.is_local else set()))
    for collection in scanned:
        if collection in skip:
            continue
        records = catalog.documents(collection)
        if collection not in present:
            if not any(r.status in ("indexed", "pending") for r in records):
                continue
            # The catalog holds documents the store lost: rebuild the collection from the kept originals.
            store.create_collection(
                collection,
                embedder_label(library.settings),
                library.settings.chunk_size,
                library.settings.chunk_overlap,
            )
            present.add(collection)
        inventory = store.inventory(collection)
        known = {r.doc_id for r in records}
        for doc_id in inventory:
            if doc_id not in known:  # written before the catalog knew it (only stores from before pending rows)
                report.removed_chunks += store.delete_document(collection, doc_id)
        for record in records:
            chunks = inventory.get(record.doc_id, {})
            if record.status == "rejected":
                if chunks:
                    report.removed_chunks += store.delete_document(collection, record.doc_id)
            elif record.status == "indexed" and chunks.get(record.gen) == record.chunks:
                if len(chunks) > 1:  # a re-index interrupted before or after its switch: drop the other generation
                    report.removed_chunks += library.prune_generations(collection, record.doc_id, keep=record.gen)
            else:
                _reindex(library, record, chunks, targets.get(collection), report)

    for intent in catalog.reindex_intents():
        if intent.collection in skip:
            continue
        if intent.collection not in present:
            catalog.finish_reindex(intent.collection)
            continue
        try:
            library.continue_reindex(intent)
            report.resumed_reindex.append(intent.collection)
        except AppError:
            report.failed.append(f"re-index of {intent.collection}")

    report.removed_files += _remove_stray_files(library.originals, catalog.stored_originals())
    return report


def _reindex(
    library: DocumentLibrary,
    record: DocumentRecord,
    chunks: dict[int, int],
    target: tuple[int, int] | None,
    report: RecoveryReport,
) -> None:
    """Index an interrupted or damaged document again from its kept original."""
    store = library.store
    if chunks:
        report.removed_chunks += store.delete_document(record.collection, record.doc_id)
    if target is not None:
        size, overlap = target
    elif record.chunk_size:
        size, overlap = record.chunk_size, record.chunk_overlap
    else:
        size, overlap = library.settings.chunk_size, library.settings.chunk_overlap
    try:
        library.index_from_original(record, size, overlap)
        report.reindexed.append(_label(record))
    except (FileNotFoundError, ParseFailure) as exc:
        reason = (
            "The upload was interrupted and the kept original is missing: upload the file again."
            if isinstance(exc, FileNotFoundError)
            else f"Re-indexing after an interrupted run failed: {exc}"
        )
        library.catalog.upsert(
            replace(record, status="rejected", reason=reason, pages=0, chunks=0, indexed_at=now(), stored_as="")
        )
        library.indexer.forget_original(record.stored_as)
        report.lost.append(_label(record))
    except AppError:
        # The engine or store refused right now; the row stays pending (no chunks) and is retried next start.
        library.catalog.upsert(replace(record, status="pending", chunks=0))
        report.failed.append(_label(record))


def _remove_stray_files(originals: Path, referenced: set[str]) -> int:
    """Delete temp files and originals no catalog row points at."""
    if not originals.is_dir():
        return 0
    removed = 0
    for path in originals.iterdir():
        if path.is_file() and (path.name.startswith(TEMP_PREFIX) or path.name not in referenced):
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _label(record: DocumentRecord) -> str:
    return f"{record.collection}/{record.name}"
