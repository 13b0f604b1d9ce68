"""What ingestion hands around: an upload, its outcome, progress reports, and a parsed file waiting to be indexed.

Shared by the library (`core/library/service.py`), its indexing steps (`core/library/indexer.py`) and its
overlapped pipeline (`core/library/ingest.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

from core.library.parsing.loaders import Page

Stage = Literal["checking", "parsing", "ocr", "chunking", "embedding", "storing", "keywords", "done"]
EMBED_BATCH = 64
KEYWORD_INDEX = "Keyword index"  # the name progress reports of an indexing run's last step carry (stage "keywords")


@dataclass(frozen=True)
class UploadedFile:
    """A file as it arrives: the name the user gave it and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class IngestResult:
    """How one file ended: `indexed`, `duplicate` or `rejected` (with `reason` saying what to do)."""

    name: str
    status: Literal["indexed", "duplicate", "rejected"]
    doc_id: str = ""
    kind: str = ""
    pages: int = 0
    chunks: int = 0
    size: int = 0
    reason: str = ""
    code: str = ""
    ocr_pages: int = 0


@dataclass(frozen=True)
class Progress:
    """A progress report for one file: `done` of `total` units at `stage`."""

    name: str
    stage: Stage
    done: int = 0
    total: int = 0
    detail: str = ""


ProgressFn = Callable[[Progress], None]


def safe_display_name(name: str) -> str:
    """The uploaded name reduced to a plain file name for display (never used as a path)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[:200] or "unnamed"


@dataclass(frozen=True)
class Prepared:
    """An upload that passed the checks and was parsed: what is left is chunking, embedding and storing."""

    name: str
    doc_id: str
    kind: str
    size: int
    stored_as: str
    pages: list[Page]
    gen: int = 0  # the generation its chunks are written as
