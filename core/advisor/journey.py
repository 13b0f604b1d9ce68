"""Where a user stands on the way to a decision: Documents → Chat → Fine-tune → Evaluate → Advisor.

The start page and the sidebar draw the five steps from one call, `JourneyService.progress()`. It lives beside the
advisor because the advice is where the path ends and the advisor already reads the evaluation's runs; what it needs
from the other services (collections, conversations, variants, runs) is handed in as plain functions by
core/services.py, so this module imports no other part of core.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from core.base.files import write_json_atomic

StepState = Literal["done", "next", "todo"]
STEPS: tuple[tuple[str, str, str], ...] = (
    # (name, page, what the step is for)
    ("Documents", "pages/documents.py", "Upload your documents (or load the samples): they are split and indexed."),
    ("Chat", "pages/chat.py", "Ask questions: the base model alone, and with passages retrieved from your documents."),
    ("Fine-tune", "pages/finetune.py", "Train a fine-tuned variant of the model on questions about your documents."),
    ("Evaluate", "pages/evaluate.py", "Score base, RAG, fine-tuned and both together on one set of questions."),
    ("Advisor", "pages/advisor.py", "Get a recommendation from your situation and the measured scores."),
)
MARKER = "journey.json"  # in the data directory: when the advice was last given


@dataclass(frozen=True)
class Step:
    """One step of the path: done, the next one to take, or still to do, with what shows it."""

    name: str
    page: str
    purpose: str
    state: StepState
    detail: str  # what was found ("3 documents indexed in 1 collection") or what is missing


@dataclass(frozen=True)
class Progress:
    """The five steps in order and the one to take next (None: every step done)."""

    steps: tuple[Step, ...]

    @property
    def next(self) -> Step | None:
        """The first step not done yet."""
        return next((s for s in self.steps if s.state != "done"), None)

    @property
    def done(self) -> int:
        """How many steps are done."""
        return sum(s.state == "done" for s in self.steps)

    @property
    def complete(self) -> bool:
        """Whether every step is done (the start panel then steps out of the way)."""
        return self.done == len(self.steps)


@dataclass(frozen=True)
class Sources:
    """What the journey reads, handed in by core/services.py (each a cheap read of what is on disk)."""

    indexed: Callable[[], tuple[int, int]]  # (collections with chunks, chunks in them)
    answers: Callable[[], int]  # answers kept in the chat history
    variants: Callable[[], int]  # fine-tuned variants registered
    scored_runs: Callable[[], int]  # evaluation runs that finished


class JourneyService:
    """The user's progress along the five steps, computed in one call."""

    def __init__(self, data_dir: Path, sources: Sources) -> None:
        self.data_dir = data_dir
        self.sources = sources

    def progress(self) -> Progress:
        """Each step's state and detail, and which comes next."""
        collections, chunks = self.sources.indexed()
        answers = self.sources.answers()
        variants = self.sources.variants()
        runs = self.sources.scored_runs()
        advised = self.advised_at()
        found = [
            (
                chunks > 0,
                f"{chunks} passage{'s' * (chunks != 1)} indexed in {collections} collection{'s' * (collections != 1)}"
                if chunks
                else "no documents indexed yet",
            ),
            (answers > 0, f"{answers} answer{'s' * (answers != 1)} so far" if answers else "no question asked yet"),
            (variants > 0, f"{variants} variant{'s' * (variants != 1)} built" if variants else "no variant yet"),
            (runs > 0, f"{runs} scored run{'s' * (runs != 1)}" if runs else "no scored run yet"),
            (
                advised is not None,
                "advice given " + time.strftime("%Y-%m-%d %H:%M", time.localtime(advised))
                if advised
                else "no advice yet",
            ),
        ]
        steps: list[Step] = []
        nexted = False
        for (name, page, purpose), (done, detail) in zip(STEPS, found):
            state: StepState = "done" if done else "todo" if nexted else "next"
            nexted = nexted or not done
            steps.append(Step(name, page, purpose, state, detail))
        return Progress(tuple(steps))

    def note_advice(self) -> None:
        """Record that advice was given (the Advisor page calls it once it shows a recommendation)."""
        write_json_atomic(self.data_dir / MARKER, {"advised": time.time()})

    def advised_at(self) -> float | None:
        """When advice was last given (None: never)."""
        try:
            return float(json.loads((self.data_dir / MARKER).read_text())["advised"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # never given, or a damaged marker: the step simply shows as not done
