"""The one chunk type: a piece of a document as stored, retrieved, cited and turned into training questions."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Chunk:
    """A chunk of a document: its id, the document it is from (id and file name), page, text and place in the page.

    `score` is set when the chunk was retrieved for a question (cosine similarity, or the fused rank score).
    """

    chunk_id: str
    doc_id: str
    source: str  # the document's file name
    page: int | None
    text: str
    start: int = 0
    end: int = 0
    score: float | None = None
    ocr: bool = False  # the page's text was read by OCR
    gen: int = 0  # which indexing run of the document wrote it (see DocumentRecord.gen); old chunks without one are 0
    similarity: float | None = (
        None  # cosine similarity to the question, when known (the score may be a rank-fusion value)
    )

    def scored(self, score: float, similarity: float | None = None) -> "Chunk":
        """This chunk with the score it was retrieved with (and its cosine similarity to the question)."""
        return replace(self, score=score, similarity=similarity)
