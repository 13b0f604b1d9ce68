"""What the model reads: the few sentences of the retrieved passages that bear on the question.

A 270M base model reads a short context well and a long one badly, and cosine similarity between the
question and each sentence picks the answer-bearing sentence poorly (it rewards sentences that restate the
question). Sentences are scored instead by the rarity-weighted question words they contain (BM25-like, with
light stemming), by whether they hold the kind of value the question asks for (a date for "when", a number
for "how many", a name for "who"), and slightly by the rank of their passage. The best few are kept with
their passage number, so a citation still points at the passage the user sees in Sources.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Sequence

from core.base.chunks import Chunk
from core.base.words import term_tokens, terms, written_numbers

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"'“(\[]?[A-Z0-9•])|\s+(?=•)|\s-{3,}\s*")
_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d", re.I)
_YEAR = re.compile(r"\b(1[6-9]|20)\d\d\b")
_TIME_UNIT = (
    r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|shifts?|uses?|cycles?|washes?|programmes?|"
    r"programs?|visits?|doses?)"
)
_FREQUENCY = re.compile(  # "once a week", "every 6 months", "twice daily", "3 times a day": mostly words, not digits
    r"\b(?:(?:once|twice|thrice|\d+ times)\s+(?:a|an|per|every|each|daily|weekly|monthly|yearly|annually)\b|"
    rf"(?:every|each)\s+(?:\d+\s+|other\s+)?{_TIME_UNIT}\b|"
    r"per\s+(?:day|week|month|year|hour|shift)\b|daily|weekly|fortnightly|monthly|quarterly|yearly|annually|hourly)",
    re.I,
)
_ABBREVIATION = re.compile(
    r"(?:\b(?:St|Mr|Mrs|Ms|Dr|No|Nos|Inc|Co|Corp|Ltd|Jr|Sr|v|vs|Fed|Cir|App|Supp|Stat|Rev|Art|Sec|Ex|Doc|Pp|pp|al|e\.g|i\.e|U\.S)|\b[A-Z])\.$"
)
# Sentences scoring at least this share of the best one are kept beside it. Measured (README, answer quality):
# four sentences read clearly worse than one; near-ties read as well as one sentence and hold the answer more often.
CLOSE_SCORE = 0.8
# "Label: value" on a line of its own: a short label (no sentence end in it), then the value on the same line.
_LABELLED_LINE = re.compile(r"^[A-Z][^.!?:;]{0,60}:\s+\S")
LABELLED_LINE_WORDS = 16
MAX_SENTENCE_WORDS = 60  # longer "sentences" (tables, lists run together by the PDF layer) are cut into windows


@dataclass(frozen=True)
class Sentence:
    """One sentence of a retrieved passage and how well it bears on the question."""

    passage: int  # 1-based number of the passage in the retrieved list
    position: int  # order within the passage
    text: str
    score: float


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage; run-on text (tables, lists) is cut into windows of at most MAX_SENTENCE_WORDS words.

    A line of its own that reads "label: value" (a form's entry, a statement's "Account number: 1234") is one
    sentence: split at its colon, the value went to the start of the next label ("PX-20931-7 Name of the holder:").
    A line of several labels ("Case: 20-1507 Document: 00117684624 Page: 4", a court filing's running header)
    stays in the running text, where the header discount sees it.
    """
    out: list[str] = []
    running: list[str] = []
    for line in text.splitlines():
        if _LABELLED_LINE.match(line.strip()) and line.count(":") == 1 and len(line.split()) <= LABELLED_LINE_WORDS:
            out += _running_sentences(" ".join(running))
            out.append(" ".join(line.split()))
            running = []
        else:
            running.append(line)
    return out + _running_sentences(" ".join(running))


def _running_sentences(text: str) -> list[str]:
    parts: list[str] = []
    for part in _SENTENCE_END.split(" ".join(text.split())):
        if parts and _ABBREVIATION.search(parts[-1]):
            parts[-1] += " " + part  # "St. Pierre", "U.S. Const.", "James M. Dowd" are not sentence ends
        else:
            parts.append(part)
    out: list[str] = []
    for part in parts:
        words = part.split()
        for i in range(0, len(words), MAX_SENTENCE_WORDS):
            piece = " ".join(words[i : i + MAX_SENTENCE_WORDS]).strip(" •-")
            if len(piece) > 2:
                out.append(piece)
    return out


def expected_kind(question: str) -> str | None:
    """The kind of value the question asks for: 'date', 'number', 'frequency', 'name', or None."""
    q = question.lower()
    if re.search(r"\bwhen\b|what (date|day|year|month|time)|which (date|day|year|month)|by what date|on what date", q):
        return "date"
    if re.search(r"\bhow (often|frequently)\b|\bat what (interval|frequency)\b", q):
        return "frequency"
    if re.search(
        r"how (many|much|long|old|far|large|big|high|heavy|fast)|"
        r"what (percent|percentage|number|amount|dose|temperature|size|rate|share|price|fee)|"
        r"\bhow\b.*\b(mg|kg|minutes|hours|days)\b",
        q,
    ):
        return "number"
    if re.search(
        r"^\s*who\b|\bwhich (judge|justice|person|company|agency|court|manufacturer|firm|doctor)\b|"
        r"\bwhat (company|agency|court)\b",
        q,
    ):
        return "name"
    return None


def has_kind(sentence: str, kind: str | None, question: str = "") -> bool:
    """Whether the sentence holds a value of the expected kind that the question itself does not already state."""
    asked = set(term_tokens(question))
    if kind == "date":
        found = [m.group(0) for m in _MONTH.finditer(sentence)] + [m.group(0) for m in _YEAR.finditer(sentence)]
    elif kind == "number":
        found = written_numbers(sentence)
    elif kind == "frequency":
        found = _FREQUENCY.findall(sentence)
    elif kind == "name":
        found = [w for w in re.findall(r"\b[A-Z][A-Za-z]+\b", sentence[1:]) if len(w) > 1]
    else:
        return False
    return any(not set(term_tokens(value)) <= asked for value in found)


def _boilerplate(pool: list[tuple[int, int, str, set[str]]]) -> set[str]:
    """Sentence openings repeated in several passages: running headers and captions, not content."""
    seen: dict[str, set[int]] = {}
    for n, _, sentence, _ in pool:
        key = " ".join(sentence.lower().split()[:8])
        seen.setdefault(key, set()).add(n)
    return {key for key, passages in seen.items() if len(passages) > 1}


def score_sentences(question: str, chunks: Sequence[Chunk]) -> list[Sentence]:
    """Every sentence of the passages, scored against the question (best first)."""
    q_terms = list(dict.fromkeys(terms(question)))
    pool: list[tuple[int, int, str, set[str]]] = []
    for n, chunk in enumerate(chunks, 1):
        for pos, sentence in enumerate(split_sentences(chunk.text)):
            pool.append((n, pos, sentence, set(terms(sentence))))
    if not pool:
        return []
    # Rarity over the candidate sentences: a word in every sentence (the product name) tells little.
    df = {t: sum(1 for *_, ts in pool if t in ts) for t in q_terms}
    idf = {t: math.log(1 + (len(pool) - df[t] + 0.5) / (df[t] + 0.5)) for t in q_terms}
    # A word in every passage is the topic they share (a case name, a product): it cannot tell sentences apart.
    chunk_terms = [set(terms(c.text)) for c in chunks]
    for t in q_terms:
        if len(chunks) > 1 and all(t in ct for ct in chunk_terms):
            idf[t] *= 0.3
    boilerplate = _boilerplate(pool)
    kind = expected_kind(question)
    scored: list[Sentence] = []
    for n, pos, sentence, ts in pool:
        lexical = sum(idf[t] for t in q_terms if t in ts)
        # Two question words side by side in the sentence ("elastic stop nut") count extra: phrases are specific.
        joined = " ".join(terms(sentence))
        phrase = sum(0.5 * min(idf[a], idf[b]) for a, b in zip(q_terms, q_terms[1:]) if f"{a} {b}" in joined)
        value = lexical + phrase
        if kind is not None:
            value *= 1.3 if has_kind(sentence, kind, question) else 0.6
        if " ".join(sentence.lower().split()[:8]) in boilerplate:
            value *= 0.3
        value *= 1.0 + 0.15 / n  # the retriever's order breaks ties
        scored.append(Sentence(n, pos, sentence, value))
    scored.sort(key=lambda s: s.score, reverse=True)
    return scored


def select_evidence(
    question: str, chunks: Sequence[Chunk], max_sentences: int = 3, close: float = CLOSE_SCORE
) -> list[tuple[int, Chunk]]:
    """The passages cut down to their best sentences: (passage number, passage with only those sentences).

    The best sentence always goes in; the next ones only while they score within `close` of it (at most
    `max_sentences` in all): every extra sentence is a distractor the small model may copy from, and the
    best sentence alone holds the answer for most questions. Passages keep their numbers (so a marker [n]
    still names the n-th source); within a passage the kept sentences stay in document order; passages come
    best first.
    """
    ranked = [s for s in score_sentences(question, chunks) if s.score > 0]
    if not ranked:
        return list(enumerate(chunks[:1], 1))
    best = [ranked[0], *(s for s in ranked[1:max_sentences] if s.score >= close * ranked[0].score)]
    order: list[int] = []
    for s in best:
        if s.passage not in order:
            order.append(s.passage)
    out = []
    for n in order:
        kept = sorted((s for s in best if s.passage == n), key=lambda s: s.position)
        out.append((n, replace(chunks[n - 1], text=" ".join(s.text for s in kept))))
    return out
