"""Metric functions of the evaluation grid: pure, deterministic, each tested on hand-made cases.

Correctness is judged so that length cannot buy it (the words themselves, `score_tokens`, `normalise` and
`contains_reference`, are defined in `core.base.words`):
- `normalise` lower-cases, folds Unicode (NFKC), drops accents, citation markers ("[2]"), punctuation and
  the articles a/an/the, as SQuAD's scorer does;
- `contains_reference` is the reference's normalised token sequence inside the answer's (loose: any length);
- `correct` (strict containment, the headline number) also requires a *sensible answer*:
    1. at most `MAX_EXTRA_WORDS` words that are in neither the question nor the reference (restating the
       question is free; a paragraph of other material is not an answer), and
    2. no competing number: when the reference holds a number, every number in the answer must be in the
       reference or the question ("15 kg or 20 kg", or "Answer: 15 kg Answer: 20 kg", lists candidates), and
    3. no other candidates: when the reference holds a code (letters with digits: "B12", "E4"), no other code
       outside the question ("B6, B12 or C"); and the reference is not one side of an "or" ("B12 or folate"),
    4. the reference occurs once (a list that repeats it among alternatives does not count).
  Words around the reference are free within the limit: "vitamin B12" and "the E4 error code" hold "B12" and "E4"
  inside a longer noun phrase and are correct. And the answer need not repeat the question's words: for the
  reference "vitamin B12", "B12" answers "Which vitamin…?" (the reference's first or last words that the question
  says may be left out; what is left must still be in the answer).
  Token F1 is reported beside it: a long answer pays for its extra words there too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from core.base.words import (
    CITATION_MARKER,
    FACT_STOPWORDS,
    contains_reference,
    find_sequence,
    is_number_token,
    score_tokens,
)
from core.base.words import normalise as normalise  # the evaluation runner reads it from here

MAX_EXTRA_WORDS = 12
_REFUSALS = (
    "could not find",
    "couldn't find",
    "can not find",
    "cannot find",
    "can't find",
    "not in the documents",
    "not in the document",
    "not in the passages",
    "not in the context",
    "not in the provided",
    "no information",
    "not mentioned",
    "not provided",
    "not stated",
    "not specified",
    "does not say",
    "do not say",
    "doesn't say",
    "does not mention",
    "doesn't mention",
    "i don't know",
    "i do not know",
    "don't know",
    "do not know",
    "unable to answer",
    "unable to find",
    "cannot answer",
    "can't answer",
    "cannot be answered",
    "not enough information",
    "not supported by the documents",
    "i'm not sure",
    "i am not sure",
)


@dataclass(frozen=True)
class Containment:
    """The strict-containment verdict and why it failed, if it did."""

    correct: bool
    contains: bool
    reason: str = ""  # "" | "missing" | "too long" | "competing number" | "candidates" | "repeated"


def judge_containment(
    answer: str, reference: str, question: str = "", max_extra_words: int = MAX_EXTRA_WORDS
) -> Containment:
    """Strict containment: the reference is in an answer of sensible length that names no competing value."""
    ref = score_tokens(reference)
    ans = score_tokens(answer)
    asked = score_tokens(question)
    hits = find_sequence(ref, ans)
    if ref and not hits:
        # the answer need not repeat what the question already says: "B12" answers "Which vitamin…?" for the
        # reference "vitamin B12"
        ref = _without_asked_ends(ref, set(asked))
        hits = find_sequence(ref, ans) if ref else []
    if not ref or not hits:
        return Containment(False, False, "missing")
    allowed = set(ref) | set(asked)
    extra = [t for t in ans if t not in allowed]
    if len(extra) > max_extra_words:
        return Containment(False, True, "too long")
    if any(is_number_token(t) for t in ref) and any(is_number_token(t) for t in extra):
        return Containment(False, True, "competing number")
    if _lists_candidates(ref, ans, hits[0], extra):
        return Containment(False, True, "candidates")
    if len(hits) > 1:
        return Containment(False, True, "repeated")
    return Containment(True, True)


def _without_asked_ends(ref: list[str], asked: set[str]) -> list[str]:
    """The reference less its leading and trailing words that the question says; [] when nothing else is left."""
    start, end = 0, len(ref)
    while start < end and ref[start] in asked:
        start += 1
    while end > start and ref[end - 1] in asked:
        end -= 1
    return ref[start:end] if (start, end) != (0, len(ref)) else []


def _is_code(token: str) -> bool:
    """A code names one value among its kind: letters with digits ("b12", "e4", "h3"), not a plain number."""
    return any(ch.isdigit() for ch in token) and any(ch.isalpha() for ch in token)


def _lists_candidates(ref: list[str], ans: list[str], at: int, extra: list[str]) -> bool:
    """Whether the answer offers the reference among other candidates: another code of the reference's kind, or an
    "or" joined to it ("B6, B12 or C", "E4 or E9", "B12 or folate"); words that only describe it are no candidate."""
    if any(_is_code(t) for t in ref) and any(_is_code(t) for t in extra):
        return True
    before, after = ans[at - 1] if at > 0 else "", ans[at + len(ref)] if at + len(ref) < len(ans) else ""
    return "or" not in ref and "or" in (before, after)


def token_f1(answer: str, reference: str) -> float:
    """SQuAD token F1 between answer and reference (normalised tokens, multiset overlap)."""
    a, r = score_tokens(answer), score_tokens(reference)
    if not a or not r:
        return float(a == r)
    common = 0
    pool = list(r)
    for t in a:
        if t in pool:
            pool.remove(t)
            common += 1
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(u, v))
    nu = math.sqrt(sum(x * x for x in u))
    nv = math.sqrt(sum(y * y for y in v))
    return dot / (nu * nv) if nu and nv else 0.0


def gave_no_answer(answer: str) -> bool:
    """Whether an answer holds no text at all (an empty generation, or an engine error before any): "no answer"."""
    return not (answer or "").strip()


def is_refusal(answer: str) -> bool:
    """Whether the answer declines ("not in the documents", "I don't know", …) or is empty."""
    text = " ".join(CITATION_MARKER.sub(" ", answer or "").lower().replace("’", "'").split())
    return not text or any(p in text for p in _REFUSALS)


def _same_source(found: str, wanted: str) -> bool:
    base = lambda s: re.split(r"[\\/]", s.strip().lower())[-1]  # noqa: E731 (a file name may come with a folder)
    return bool(wanted) and base(found) == base(wanted)


def reference_rank(
    passages: Sequence[tuple[str, int | None]], source: str, page: int | None, pages: Sequence[int] = ()
) -> int | None:
    """1-based rank of the first passage from the reference's file and page (or any of `pages` that also hold the
    answer); None if absent."""
    wanted = {page, *pages} if page is not None else set(pages)
    for rank, (found_source, found_page) in enumerate(passages, 1):
        if _same_source(found_source, source) and (not wanted or found_page in wanted):
            return rank
    return None


def hit_at_k(rank: int | None, k: int) -> bool:
    """Whether the reference passage is among the first k."""
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None) -> float:
    """1/rank, or 0.0 when the reference passage was not retrieved (MRR is its mean)."""
    return 1.0 / rank if rank else 0.0


def passage_contains(passage: str, reference: str) -> bool:
    """Whether a passage contains the reference (normalised token sequence)."""
    return contains_reference(passage, reference)


def supports(passage: str, answer: str, question: str = "", min_share: float = 0.6) -> bool:
    """Whether a passage supports the answer's facts: every number of the answer and most of its content words are in
    it.

    Words the answer repeats from the question claim nothing, so they are not asked of the passage.
    """
    said = set(score_tokens(question))
    facts = [t for t in score_tokens(answer) if t not in FACT_STOPWORDS and t not in said]
    if not facts:
        return True
    found = set(score_tokens(passage))
    if any(is_number_token(t) and t not in found for t in facts):
        return False
    return sum(t in found for t in facts) / len(facts) >= min_share


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation between closest ranks; None for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def mean(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are not None; None when there are none."""
    data = [float(v) for v in values if v is not None]
    return sum(data) / len(data) if data else None


# ---------------------------------------------------------------- optional LLM judge

JUDGE_PROMPT = (
    "You grade answers to questions about documents. The reference answer is correct. Decide whether the "
    "candidate answer gives the same fact as the reference (extra words are fine; naming several possible "
    "values, or a different value, is wrong; a refusal is wrong).\n\n"
    "Question: {question}\nReference answer: {reference}\nCandidate answer: {answer}\n\n"
    "Reply with one word: CORRECT or WRONG.\nVerdict:"
)


def judge_prompt(question: str, reference: str, answer: str) -> str:
    """The grading prompt given to an LLM judge."""
    return JUDGE_PROMPT.format(
        question=question.strip(),
        reference=reference.strip(),
        answer=CITATION_MARKER.sub("", answer).strip() or "(no answer)",
    )


def parse_verdict(reply: str) -> bool | None:
    """True/False from a judge's reply (its first CORRECT or WRONG/INCORRECT), None if it gave neither."""
    match = re.search(r"\b(incorrect|correct|wrong)\b", reply.lower())
    if not match:
        return None
    return match.group(1) == "correct"
