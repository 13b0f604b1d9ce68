"""Is an answer grounded in the retrieved passages, and is anything retrieved about the question at all?

Two checks that need no model:
- `check_support`: the answer's facts (every number with the words beside it, and most of its content
  words, names included) must appear in one retrieved passage. That passage is the one cited; an answer no passage
  supports gets no citation and is flagged "not supported by the documents".
- `question_coverage` (defined in `core.base.words`, with the words it counts): how much of the question's
  rare vocabulary the retrieved passages contain. A question about something the documents never mention
  ("the torque of …" when no passage says torque) leaves its rarest words uncovered, while dense similarity
  with a small embedding model stays high for any question on the same general topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from core.base.words import normalise_whole_numbers, numbers, stem, terms, words_and_numbers
from core.base.words import question_coverage as question_coverage  # kept importable here for the chat service

NOT_SUPPORTED = (
    "Not supported by the documents: no retrieved passage contains this answer's facts; check the sources "
    "before relying on it."
)
MIN_WORD_SHARE = 0.75  # share of the answer's content words one passage must contain
SECOND_LOOK_MAX_WORDS = 12  # an answer given once the refusal is set aside is kept only if it is this short


@dataclass(frozen=True)
class Support:
    """The outcome of the support check."""

    supported: bool
    passage: int | None = None  # 1-based number of the passage holding the answer's facts
    missing: tuple[str, ...] = field(default=())  # answer facts found in no single passage (for the message)


def number_pairs(text: str) -> set[tuple[str, str]]:
    """Adjacent word pairs that hold a number ("1 year", "march 15", "15 2020"), numbers and words normalised.

    A number is a fact only with what it counts: "1 year" is not supported by a passage that has "1." in a
    heading and "years" elsewhere.
    """
    words = [w if w[0].isdigit() else stem(w) for w in words_and_numbers(text)]
    return {(a, b) for a, b in zip(words, words[1:]) if a[0].isdigit() or b[0].isdigit()}


def check_support(answer: str, passages: Sequence[str]) -> Support:
    """Which passage (if any) holds the answer's facts: all its numbers and most of its content words."""
    if not answer.strip() or not passages:
        return Support(False)
    whole = normalise_whole_numbers(answer)
    for i, passage in enumerate(passages, 1):
        if whole and f" {whole} " in f" {normalise_whole_numbers(passage)} ":
            return Support(True, i)
    nums = numbers(answer)
    words = set(terms(answer)) - nums
    pairs = number_pairs(answer)
    if not nums and not words:
        return Support(False)
    best: tuple[float, int, tuple[str, ...]] = (-1.0, 0, tuple(sorted(nums | words)))
    for i, passage in enumerate(passages, 1):
        p_nums = numbers(passage)
        p_words = set(terms(passage))
        missing_nums = (nums - p_nums) | {" ".join(p) for p in pairs - number_pairs(passage)}
        missing_words = words - p_words
        share = 1.0 if not words else 1 - len(missing_words) / len(words)
        ok = not missing_nums and share >= MIN_WORD_SHARE
        rank = share + (1.0 if not missing_nums else 0.0)
        if ok:
            if rank > best[0]:
                best = (rank, i, ())
        elif best[1] == 0 and rank > best[0]:
            best = (rank, 0, tuple(sorted(missing_nums | missing_words)))
    if best[1]:
        return Support(True, best[1])
    return Support(False, None, best[2])


def holds_every_word(question: str, coverage: float) -> bool:
    """Whether passages of this `question_coverage` hold every content word of the question (two at least: one shared
    word proves little)."""
    return coverage >= 1.0 and len(set(terms(question))) >= 2


@dataclass(frozen=True)
class Attribution:
    """What to do with a finished answer: the passages to cite, the marker to append, flags and a warning."""

    cited: tuple[int, ...] = ()
    marker: str = ""
    flags: tuple[str, ...] = ()
    warning: str = ""
    drop: tuple[int, ...] = ()  # markers the model wrote for passages that do not support the answer: remove them

    def apply(self, answer: str) -> str:
        """The answer with the unsupported markers removed and the citation marker appended."""
        for n in self.drop:
            answer = re.sub(rf"\s*\[{n}\]", "", answer)
        return answer + self.marker


_MARKER = re.compile(r"\[(\d{1,2})\]")
_REFUSAL = re.compile(r"\bnot in the documents\b|could not find (this|it) in the documents", re.I)


def is_refusal(text: str, not_found: str = "") -> bool:
    """Whether the answer says the documents do not hold the answer."""
    return bool(_REFUSAL.search(text)) or bool(not_found and not_found.lower().rstrip(".") in text.lower())


def attribute(answer: str, passages: Sequence[str], not_found: str = "") -> Attribution:
    """Cite only a passage that holds the answer's facts; flag an answer that no passage supports.

    Markers the model wrote itself are kept only where their passage supports the answer. A refusal is
    neither cited nor flagged.
    """
    text = _MARKER.sub("", answer).strip()
    if not text or is_refusal(text, not_found):
        return Attribution()
    written = sorted({int(m) for m in _MARKER.findall(answer)})
    kept = tuple(i for i in written if 1 <= i <= len(passages) and check_support(text, [passages[i - 1]]).supported)
    drop = tuple(i for i in written if i not in kept)
    if kept:
        return Attribution(kept, drop=drop)
    support = check_support(text, passages)
    if support.supported and support.passage:
        return Attribution((support.passage,), f" [{support.passage}]", drop=drop)
    return Attribution((), "", ("unsupported",), NOT_SUPPORTED, drop)


def answers_after_refusal(answer: str, question: str, passages: Sequence[str]) -> bool:
    """Whether an answer the model gave once its refusal was set aside is worth more than the refusal.

    Only a short answer that adds something to the question (a content word the question does not hold) and
    whose facts one passage holds: a long quote or the question's own words back is no answer, and an
    unsupported one is a guess (README, answer quality: those were all wrong).
    """
    text = _MARKER.sub("", answer).strip()
    if not text or is_refusal(text) or len(text.split()) > SECOND_LOOK_MAX_WORDS:
        return False
    if not set(terms(text)) - set(terms(question)):
        return False
    return check_support(text, passages).supported
