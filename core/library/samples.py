"""The sample documents shipped in `sample_docs/`, for a first try of the app, and their loading with progress."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.config import APP_ROOT
from core.library.types import KEYWORD_INDEX, Progress, UploadedFile

SAMPLES_DIR = APP_ROOT / "sample_docs"
SAMPLE_COLLECTION = "samples"


def sample_uploads() -> list[UploadedFile]:
    """The sample documents (PDF and DOCX) as uploads; empty if the folder is missing."""
    if not SAMPLES_DIR.is_dir():
        return []
    return [
        UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLES_DIR.iterdir()) if p.suffix in (".pdf", ".docx")
    ]


def has_samples() -> bool:
    """Whether the sample documents are there to load (without reading them)."""
    return SAMPLES_DIR.is_dir() and any(p.suffix in (".pdf", ".docx") for p in SAMPLES_DIR.iterdir())


def sample_qa_files() -> list[Path]:
    """The sample question sets (question, answer, page, source per line)."""
    return sorted(SAMPLES_DIR.glob("*.questions.jsonl")) if SAMPLES_DIR.is_dir() else []


STAGE_WORDS = {"checking": "checking", "parsing": "reading", "ocr": "reading scanned pages", "chunking": "splitting"}


@dataclass(frozen=True)
class SamplesStep:
    """Where loading the samples stands: a line to show ("Indexing 2 of 3: aquaflow-dishwasher-manual.pdf") and how
    many documents are finished of how many."""

    message: str
    done: int
    total: int

    @property
    def share(self) -> float:
        """The part finished, 0 to 1 (for a progress bar)."""
        return self.done / self.total if self.total else 1.0


class SamplesProgress:
    """Turns the ingestion's per-file progress reports into one line per document for a user waiting on the samples."""

    def __init__(self, names: list[str], show: Callable[[SamplesStep], None]) -> None:
        self.names = names
        self.show = show
        self.finished: set[str] = set()

    def __call__(self, event: Progress) -> None:
        """One ingestion report, shown as the document it concerns and how many are finished."""
        total = len(self.names)
        if event.name == KEYWORD_INDEX:
            self.show(
                SamplesStep(
                    f"Building the keyword index ({event.detail})" if event.detail else "Building the keyword index",
                    total,
                    total,
                )
            )
            return
        if event.stage == "done":
            self.finished.add(event.name)
        number = self.names.index(event.name) + 1 if event.name in self.names else len(self.finished)
        if event.stage == "done":
            line = f"Indexed {len(self.finished)} of {total}: {event.name}"
        else:
            doing = STAGE_WORDS.get(event.stage, event.stage)
            counts = f" {event.done}/{event.total}" if event.total else ""
            line = f"Indexing {number} of {total}: {event.name} ({doing}{counts})"
        self.show(SamplesStep(line, len(self.finished), total))
