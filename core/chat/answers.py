"""A finished (or interrupted) answer: the typed result the chat service produces and conversations keep.

`Answer` is the live result; `AnswerRecord` (with its `SourceRecord`s and `Timings`) is the same answer read
back from a saved conversation's JSON, which stays exactly what `Answer.to_dict` writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

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
    prompt_form: str = ""  # on a server: "chat" or "completion" prompts
    # a follow-up question rewritten to stand alone (core/followup.py): what was searched and answered, and how
    standalone: str = ""
    rewritten_by: str = ""
    # how likely the answer is right, 0–1 (core/chat/confidence.py; None: a refusal or no answer), why it may not be
    confidence: float | None = None
    confidence_reason: str = ""
    signals: dict[str, float] = field(default_factory=dict)  # what the confidence was computed from

    @property
    def ran(self) -> str:
        """What produced the answer, in words: never says "fine-tuned" unless an adapter or a variant model ran."""
        if self.error and not self.text:
            return "nothing ran"
        if self.engine == "embedded":
            base = self.served_model or self.model
            if self.adapter:
                return f"{base} + fine-tuned adapter {self.adapter} (LoRA)"
            return f"{base}, not fine-tuned (no adapter)"
        if self.engine == "openai":
            form = f", {self.prompt_form} prompts" if self.prompt_form else ""
            return f"server model {self.served_model or self.model}{form}"
        return f"Ollama model {self.served_model or self.model}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sources without their full text kept short for the CLI)."""
        out = asdict(self)
        out["ran"] = self.ran
        out["sources"] = [
            {
                "file": s.source,
                "page": s.page,
                "chunk_id": s.chunk_id,
                "score": None if s.score is None else round(s.score, 4),
                "similarity": None if s.similarity is None else round(s.similarity, 3),
                "text": s.text,
                "doc_id": s.doc_id,
                "start": s.start,
                "end": s.end,
                "ocr": s.ocr,
                "flag": injection_flag(s.text),
            }
            for s in self.sources
        ]
        return out


@dataclass(frozen=True)
class SourceRecord:
    """A passage an answer used, as a saved conversation keeps it (the keys `Answer.to_dict` writes)."""

    file: str = ""
    page: int | None = None
    text: str = ""
    chunk_id: str = ""
    doc_id: str = ""
    score: float | None = None
    similarity: float | None = None  # a cosine; None when only a rank-fusion score is known
    start: int = 0
    end: int = 0
    ocr: bool = False
    flag: str = ""  # why the passage looks like an instruction to the model ('' when it does not)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SourceRecord":
        """A saved source (older chats may lack the newer keys)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if data.get(f.name) is not None})

    def to_dict(self) -> dict[str, Any]:
        """The saved form again (what the page view of a cited page reads)."""
        return asdict(self)


@dataclass(frozen=True)
class Timings:
    """How long an answer took, in milliseconds where named so (None: not measured)."""

    retrieval_ms: float | None = None
    first_token_ms: float | None = None
    held_back_ms: float | None = None
    second_look_ms: float | None = None
    generation_ms: float | None = None
    total_ms: float | None = None
    tokens: float | None = None
    prompt_tokens: float | None = None
    tokens_per_s: float | None = None
    question_coverage: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Timings":
        """Saved timings; keys this version does not know are left out."""
        data = data or {}
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class AnswerRecord:
    """An answer as a conversation keeps it: what the Chat page shows again and the exports write."""

    text: str
    mode: str
    model: str
    engine: str
    ran: str = ""  # what really produced it, in words (`Answer.ran`)
    sources: tuple[SourceRecord, ...] = ()
    cited: tuple[int, ...] = ()  # 1-based numbers of the sources the answer's facts were found in
    flags: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    timings: Timings = Timings()
    incomplete: bool = False
    error: str = ""
    standalone: str = ""  # the follow-up as it was searched and answered ('' when searched as typed)
    rewritten_by: str = ""
    time: float | None = None
    confidence: float | None = None  # how likely the answer is right (None: not judged, or saved before it was)
    confidence_reason: str = ""
    # judged without the answer's token probabilities: the engine gave none (an older Ollama, a server without them)
    without_token_probabilities: bool = False

    @property
    def unsupported(self) -> bool:
        """Whether no retrieved passage holds the answer's facts."""
        return "unsupported" in self.flags

    @property
    def unsure(self) -> bool:
        """Whether the answer's confidence is below the threshold it was judged with."""
        return "unsure" in self.flags

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AnswerRecord":
        """A saved answer: a chat message keeps its text under `content`, a comparison's answer under `text`."""
        return cls(
            text=str(data["content"] if "content" in data else data.get("text", "")),
            mode=str(data.get("mode")),
            model=str(data.get("model")),
            engine=str(data.get("engine")),
            ran=str(data.get("ran") or ""),
            sources=tuple(SourceRecord.from_dict(s) for s in data.get("sources") or []),
            cited=tuple(data.get("cited") or ()),
            flags=tuple(data.get("flags") or ()),
            warnings=tuple(data.get("warnings") or ()),
            timings=Timings.from_dict(data.get("timings")),
            incomplete=bool(data.get("incomplete")),
            error=str(data.get("error") or ""),
            standalone=str(data.get("standalone") or ""),
            rewritten_by=str(data.get("rewritten_by") or ""),
            time=data.get("time"),
            confidence=data.get("confidence"),
            confidence_reason=str(data.get("confidence_reason") or ""),
            without_token_probabilities=bool(data.get("signals")) and "token_mean" not in data["signals"],
        )

    @classmethod
    def from_answer(cls, answer: Answer) -> "AnswerRecord":
        """A live answer, read as it will be saved."""
        return cls.from_dict(answer.to_dict())
