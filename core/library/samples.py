"""The sample documents shipped in `sample_docs/`, for a first try of the app."""

from __future__ import annotations

from pathlib import Path

from core.config import APP_ROOT
from core.library.service import UploadedFile

SAMPLES_DIR = APP_ROOT / "sample_docs"
SAMPLE_COLLECTION = "samples"


def sample_uploads() -> list[UploadedFile]:
    """The sample documents (PDF and DOCX) as uploads; empty if the folder is missing."""
    if not SAMPLES_DIR.is_dir():
        return []
    return [
        UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLES_DIR.iterdir()) if p.suffix in (".pdf", ".docx")
    ]


def sample_qa_files() -> list[Path]:
    """The sample question sets (question, answer, page, source per line)."""
    return sorted(SAMPLES_DIR.glob("*.questions.jsonl")) if SAMPLES_DIR.is_dir() else []
