"""A finished (or interrupted) answer: the typed result the chat service produces and conversations keep."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.base.chunks import Chunk
from core.chat.safety import injection_flag


@dataclass
class Answer:
    """A finished (or interrupted) answer with everything needed to show and judge it."""

    question: str
    text: str
    mode: str
    engine: str
    model: str
    sources: list[Chunk] = field(default_factory=list)
    timings: dict[str, float | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    incomplete: bool = False
    error: str = ""
    cited: list[int] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # "unsupported": no retrieved passage holds the answer's facts
    # what really ran (from the engine, after the fact): the served model and the LoRA adapter applied ("" = none)
    served_model: str = ""
    adapter: str = ""
    # a follow-up question rewritten to stand alone (core/followup.py): what was searched and answered, and how
    standalone: str = ""
    rewritten_by: str = ""

    @property
    def ran(self) -> str:
        """What produced the answer, in words: never says "fine-tuned" unless an adapter or a variant model ran."""
        if self.error and not self.text:
            return "nothing ran"
        if self.engine == "embedded":
            base = self.served_model or self.model
            return f"{base} + LoRA adapter {self.adapter}" if self.adapter else f"{base}, no adapter"
        return f"Ollama model {self.served_model or self.model}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sources without their full text kept short for the CLI)."""
        out = asdict(self)
        out["ran"] = self.ran
        out["sources"] = [
            {"file": s.source, "page": s.page, "chunk_id": s.chunk_id, "score": round(s.score, 4),
             "similarity": None if s.similarity is None else round(s.similarity, 3), "text": s.text,
             "doc_id": s.doc_id, "start": s.start, "end": s.end, "ocr": s.ocr, "flag": injection_flag(s.text)} for s in self.sources
        ]
        return out
