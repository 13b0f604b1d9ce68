"""The document catalog: one row per uploaded file per collection (SQLite under the data directory).

Chroma holds the chunks; the catalog holds what the Documents table shows and where the original
bytes are kept, so a collection can be re-indexed without re-uploading.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

Status = Literal["indexed", "rejected"]

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


class Catalog:
    """Reads and writes document records."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Streamlit runs each session in its own thread; one connection guarded by a lock is enough here.
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
            if "version" not in columns:  # a catalog written before documents had versions
                self._db.execute("ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
            if "ocr_pages" not in columns:  # catalogs written before OCR existed
                self._db.execute("ALTER TABLE documents ADD COLUMN ocr_pages INTEGER NOT NULL DEFAULT 0")

    def upsert(self, record: DocumentRecord) -> None:
        """Insert or replace a record."""
        names = [f.name for f in fields(DocumentRecord)]
        with self._lock, self._db:
            self._db.execute(
                f"INSERT OR REPLACE INTO documents ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [getattr(record, n) for n in names],
            )

    def get(self, collection: str, doc_id: str) -> DocumentRecord | None:
        """The record of one document, if any."""
        rows = self._select("WHERE collection = ? AND doc_id = ?", (collection, doc_id))
        return rows[0] if rows else None

    def list(self, collection: str) -> list[DocumentRecord]:
        """All records of a collection, newest first."""
        return self._select("WHERE collection = ? ORDER BY indexed_at DESC", (collection,))

    def find_by_name(self, collection: str, name: str) -> list[DocumentRecord]:
        """The indexed documents of a collection shown under `name`, newest first."""
        return self._select("WHERE collection = ? AND name = ? AND status = 'indexed' ORDER BY indexed_at DESC", (collection, name))

    def uses_of(self, stored_as: str) -> int:
        """How many records (in any collection) point at one stored original."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM documents WHERE stored_as = ?", (stored_as,)).fetchone()[0])

    def delete(self, collection: str, doc_id: str) -> None:
        """Remove one record."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM documents WHERE collection = ? AND doc_id = ?", (collection, doc_id))

    def delete_collection(self, collection: str) -> list[DocumentRecord]:
        """Remove all records of a collection and return them."""
        rows = self.list(collection)
        with self._lock, self._db:
            self._db.execute("DELETE FROM documents WHERE collection = ?", (collection,))
        return rows

    def _select(self, where: str, params: tuple[object, ...]) -> list[DocumentRecord]:
        names = [f.name for f in fields(DocumentRecord)]
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(names)} FROM documents {where}", params).fetchall()
        return [DocumentRecord(*row) for row in rows]


def now() -> float:
    """The current time, as stored in `indexed_at`."""
    return time.time()
