"""The document catalog: one row per uploaded file per collection (SQLite under the data directory).

Chroma holds the chunks; the catalog holds what the Documents table shows and where the original
bytes are kept, so a collection can be re-indexed without re-uploading.

The catalog is also the library's write-ahead record: a document is `pending` before any chunk is
stored and `deleting` before any chunk is removed, and records the generation (`gen`) of chunks that
are current, so a run killed at any moment can be finished or undone at the next start
(`core/recovery.py`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Literal

from core.base.files import storage_error
from core.errors import StorageError

Status = Literal["pending", "indexed", "deleting", "rejected"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    pages INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    size INTEGER NOT NULL,
    indexed_at REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    stored_as TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (collection, doc_id)
)
"""

# Columns added after the first release: (name, SQL definition). Existing catalogs get them on open.
_ADDED_COLUMNS = (
    ("gen", "INTEGER NOT NULL DEFAULT 0"),
    ("chunk_size", "INTEGER NOT NULL DEFAULT 0"),
    ("chunk_overlap", "INTEGER NOT NULL DEFAULT 0"),
)

# A re-index in progress: written before the first document is re-chunked, removed after the last,
# so an interrupted re-index is resumed instead of leaving the collection with two chunk sizes.
_REINDEX_SCHEMA = """
CREATE TABLE IF NOT EXISTS reindex_intents (
    collection TEXT PRIMARY KEY,
    chunk_size INTEGER NOT NULL,
    chunk_overlap INTEGER NOT NULL,
    started_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class DocumentRecord:
    """A document as the Documents table shows it."""

    collection: str
    doc_id: str
    name: str
    kind: str
    pages: int
    chunks: int
    size: int
    indexed_at: float
    status: str
    reason: str
    stored_as: str
    version: int = 1  # 1 for an upload, +1 each time the document is replaced by a new version
    ocr_pages: int = 0  # pages whose text was read by OCR
    gen: int = 0  # the generation of the document's current chunks (their ids and metadata carry it)
    chunk_size: int = 0
    chunk_overlap: int = 0


@dataclass(frozen=True)
class ReindexIntent:
    """A re-index that was started and not yet finished."""

    collection: str
    chunk_size: int
    chunk_overlap: int
    started_at: float


class Catalog:
    """Reads and writes document records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, path) from exc
        # Streamlit runs each session in its own thread; one connection guarded by a lock is enough here.
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
        self._lock = threading.Lock()
        with self._writing():
            self._db.execute(_SCHEMA)
            self._db.execute(_REINDEX_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
            for name, definition in _ADDED_COLUMNS:
                if name not in present:
                    self._db.execute(f"ALTER TABLE documents ADD COLUMN {name} {definition}")
            if "version" not in present:  # a catalog written before documents had versions
                self._db.execute("ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
            if "ocr_pages" not in present:  # catalogs written before OCR existed
                self._db.execute("ALTER TABLE documents ADD COLUMN ocr_pages INTEGER NOT NULL DEFAULT 0")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction; a full disk or a read-only database becomes the app's StorageError (rolled back)."""
        with self._lock:
            try:
                with self._db:
                    yield
            except sqlite3.OperationalError as exc:
                translated = _storage_error(exc, self.path)
                if translated is exc:
                    raise
                raise translated from exc

    def upsert(self, record: DocumentRecord) -> None:
        """Insert or replace a record."""
        names = [f.name for f in fields(DocumentRecord)]
        with self._writing():
            self._db.execute(
                f"INSERT OR REPLACE INTO documents ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [getattr(record, n) for n in names],
            )

    def get(self, collection: str, doc_id: str) -> DocumentRecord | None:
        """The record of one document, if any."""
        rows = self._select("WHERE collection = ? AND doc_id = ?", (collection, doc_id))
        return rows[0] if rows else None

    def documents(self, collection: str) -> list[DocumentRecord]:
        """All records of a collection, newest first."""
        return self._select("WHERE collection = ? ORDER BY indexed_at DESC", (collection,))

    def find_by_name(self, collection: str, name: str) -> list[DocumentRecord]:
        """The indexed documents of a collection shown under `name`, newest first."""
        return self._select(
            "WHERE collection = ? AND name = ? AND status = 'indexed' ORDER BY indexed_at DESC", (collection, name)
        )

    def uses_of(self, stored_as: str) -> int:
        """How many records (in any collection) point at one stored original."""
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM documents WHERE stored_as = ?", (stored_as,)).fetchone()[0]
            )

    def delete(self, collection: str, doc_id: str) -> None:
        """Remove one record."""
        with self._writing():
            self._db.execute("DELETE FROM documents WHERE collection = ? AND doc_id = ?", (collection, doc_id))

    def delete_collection(self, collection: str) -> list[DocumentRecord]:
        """Remove all records of a collection and return them."""
        rows = self.documents(collection)
        with self._writing():
            self._db.execute("DELETE FROM documents WHERE collection = ?", (collection,))
            self._db.execute("DELETE FROM reindex_intents WHERE collection = ?", (collection,))
        return rows

    def collections(self) -> list[str]:
        """Every collection that has at least one record."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT collection FROM documents ORDER BY collection")]

    def with_status(self, *statuses: str) -> list[DocumentRecord]:
        """Records (in any collection) in one of `statuses`."""
        marks = ", ".join("?" * len(statuses))
        return self._select(f"WHERE status IN ({marks}) ORDER BY collection, indexed_at", tuple(statuses))

    def stored_originals(self) -> set[str]:
        """Every original file name a record points at."""
        with self._lock:
            return {
                row[0] for row in self._db.execute("SELECT DISTINCT stored_as FROM documents WHERE stored_as != ''")
            }

    def set_status(self, collection: str, status: str, doc_ids: list[str] | None = None) -> None:
        """Set the status of some (or all) documents of a collection, in one transaction."""
        with self._writing():
            if doc_ids is None:
                self._db.execute("UPDATE documents SET status = ? WHERE collection = ?", (status, collection))
            else:
                self._db.executemany(
                    "UPDATE documents SET status = ? WHERE collection = ? AND doc_id = ?",
                    [(status, collection, d) for d in doc_ids],
                )

    def start_reindex(self, intent: ReindexIntent) -> None:
        """Record that a re-index of a collection has started (replacing an older, unfinished one)."""
        with self._writing():
            self._db.execute(
                "INSERT OR REPLACE INTO reindex_intents (collection, chunk_size, chunk_overlap, started_at) "
                "VALUES (?, ?, ?, ?)",
                (intent.collection, intent.chunk_size, intent.chunk_overlap, intent.started_at),
            )

    def reindex_intents(self) -> list[ReindexIntent]:
        """Re-indexes started and not finished."""
        with self._lock:
            rows = self._db.execute(
                "SELECT collection, chunk_size, chunk_overlap, started_at FROM reindex_intents"
            ).fetchall()
        return [ReindexIntent(*row) for row in rows]

    def finish_reindex(self, collection: str) -> None:
        """Forget a finished (or abandoned) re-index."""
        with self._writing():
            self._db.execute("DELETE FROM reindex_intents WHERE collection = ?", (collection,))

    def _select(self, where: str, params: tuple[object, ...]) -> list[DocumentRecord]:
        names = [f.name for f in fields(DocumentRecord)]
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(names)} FROM documents {where}", params).fetchall()
        return [DocumentRecord(*row) for row in rows]


def now() -> float:
    """The current time, as stored in `indexed_at`."""
    return time.time()


def _storage_error(exc: sqlite3.OperationalError, path: Path) -> Exception:
    """sqlite's "disk is full" / "readonly database" / I/O errors as the app's StorageError; anything else as it is."""
    message = str(exc).lower()
    if "full" in message:
        return StorageError(
            f"The disk holding {path.parent} is full: the document catalog could not be updated (the change was rolled "
            "back). Free some space, or point DOMAINCHAT_DATA_DIR at a disk with room, and try again."
        )
    if "readonly" in message or "read-only" in message or "disk i/o" in message or "unable to open" in message:
        return StorageError(
            f"The document catalog {path} cannot be written ({exc}): the change was rolled back. "
            "Make the data directory writable (e.g. `chmod -R u+w` on it), or point DOMAINCHAT_DATA_DIR at a writable "
            "folder, and try again."
        )
    return exc
