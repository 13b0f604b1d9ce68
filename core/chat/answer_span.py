"""An answer copied from a passage, completed to the value as the passage states it.

A small base model copies the value and drops what qualifies it: "30 seconds" where the passage says "at
least 30 seconds", "1%" for "1% to 2%", "86%" for "between 86% and 90%", "1 year" for "one year". The
bare value misstates the document — a minimum read as an exact figure, one end of a range as the whole
— so when the answer is a span of a passage and starts with a quantity, the words that bound it in that
passage are taken with it: a qualifier just before it ("at least", "over", "up to", "approximately",
"between"…) unless the question already names the bound ("the maximum…", "below what…"), and the other
end of a range just after it ("to 2%"; "and 90%" only after "between").
An answer that stops inside a word of its passage ("heparin" of "heparins") is completed to the whole word, and a
value that starts inside a joined token ("20931-7" of the policy number "PX-20931-7") to the whole token.
Nothing else is added, and an answer that is not a span of a passage is left as it is.
"""

from __future__ import annotations

import re
from typing import Sequence

from core.base.words import NUMBER_WORDS

# Words that bound a quantity, longest first so that "no more than" wins over "more than".
QUALIFIERS = tuple(
    sorted(
        (
            "at least",
            "at most",
            "no more than",
            "no less than",
            "not more than",
            "not less than",
            "no later than",
            "more than",
            "less than",
            "fewer than",
            "greater than",
            "up to",
            "over",
            "under",
            "above",
            "below",
            "about",
            "approximately",
            "approx.",
            "around",
            "nearly",
            "almost",
            "roughly",
            "exceed",
            "exceeds",
            "exceeding",
            "between",
            "within",
            "once",
            "twice",
            "every",
            "a minimum of",
            "a maximum of",
            "minimum of",
            "maximum of",
        ),
        key=len,
        reverse=True,
    )
)
# A question that itself names the bound ("What is the maximum weight…", "Below what temperature…") is answered
# by the bare value: "Do not place more than 15 kg on the door" answers "the maximum" with "15 kg", and adding
# "more than" would turn the limit upside down.
_BOUNDED_QUESTION = re.compile(
    r"\b(?:max(?:imum)?|min(?:imum)?|limits?|at (?:least|most)|(?:no|more|less|fewer|greater) than|up to|exceed\w*|"
    r"below|above|under|over|within|highest|lowest|largest|smallest|longest|shortest|earliest|latest|"
    r"as (?:much|many|long|soon) as)\b",
    re.I,
)
_NEGATION = re.compile(r"\b(?:not|never|no|nor|cannot)\b|n't\b", re.I)
_MARKERS = re.compile(r"\s*\[\d{1,2}\]")
_QUANTITY_START = re.compile(r"^(?:[$€£]\s?)?\d|^(?:%s)\b" % "|".join(NUMBER_WORDS), re.I)
_VALUE = r"(?:[$€£]\s?)?(?:\d[\d,./]*|%s)(?:\s?%%|\s?[a-zA-Zµ°/]+(?:/[a-zA-Z]+)?)?" % "|".join(NUMBER_WORDS)
_RANGE_END = re.compile(r"^\s*(?:to|-|–|—)\s*" + _VALUE, re.I)
_BETWEEN_END = re.compile(r"^\s*and\s+" + _VALUE, re.I)
_JOINED_HEAD = re.compile(r"(?<!\S)[^\s(\[]*\w[-/]$")  # the start of a token the value is joined to by "-" or "/"


def _pattern(answer: str) -> re.Pattern[str]:
    """The answer as a regex over passage text: any run of spaces, any case, digits also as number words."""
    parts = []
    for word in answer.split():
        escaped = re.escape(word)
        if word.isdigit() and int(word) < len(NUMBER_WORDS):
            escaped = f"(?:{escaped}|{NUMBER_WORDS[int(word)]})"
        parts.append(escaped)
    return re.compile(r"(?<![\w$])" + r"\s+".join(parts) + r"(?!\w)", re.I)


def _whole_words(text: str, passages: Sequence[str]) -> str | None:
    """The passage's words around `text` when it stands in the passages only as part of longer words ("heparin"
    in "heparins": an answer never ends inside a word); None when it is not there at all."""
    body = r"\s+".join(re.escape(w) for w in text.split())
    if any(re.search(r"(?<!\w)" + body + r"(?!\w)", " ".join(p.split()), re.I) for p in passages):
        return text
    for passage in passages:
        found = re.search(r"\w*" + body + r"\w*", " ".join(passage.split()), re.I)
        if found:
            return found.group(0)
    return None


def complete_value(answer: str, passages: Sequence[str], question: str = "") -> str:
    """The answer with its passage's qualifier and range end around it, in the passage's own words (else unchanged).

    No qualifier is added when the question itself names the bound; a range's other end still is.
    """
    bounded = bool(_BOUNDED_QUESTION.search(question))
    text = _MARKERS.sub("", answer).strip().rstrip(".,;:")
    if not text or len(text.split()) > 6:
        return answer
    if not _QUANTITY_START.search(text):
        whole = _whole_words(text, passages)
        return answer.replace(text, whole, 1) if whole and whole != text else answer
    pattern = _pattern(text)
    for passage in passages:
        flat = " ".join(passage.split())
        found = pattern.search(flat)
        if found is None:
            continue
        start, end = found.span()
        before = flat[:start].rstrip().lower()
        # "Do not place more than 15 kg": a negated bound is a limit, not the value's qualifier.
        negated = bool(_NEGATION.search(re.split(r"[.;:!?]", before)[-1]))
        qualifier = (
            ""
            if bounded or negated
            else next(
                (
                    q
                    for q in QUALIFIERS
                    if before.endswith(q) and (len(before) == len(q) or not before[-len(q) - 1].isalnum())
                ),
                "",
            )
        )
        if qualifier:
            start = len(flat[:start].rstrip()) - len(qualifier)
        else:
            # "20931-7" of "PX-20931-7", "03-05" of "2021-03-05": an answer never starts inside a joined token.
            joined = _JOINED_HEAD.search(flat[:start])
            if joined:
                start = joined.start()
        tail = (_BETWEEN_END if qualifier == "between" else _RANGE_END).match(flat[end:])
        if tail:
            end += tail.end()
        elif qualifier == "between":
            start = found.start()  # "between 86%" without its other end says less than "86%"
        completed = flat[start:end]
        if completed.lower() == text.lower():
            return answer
        return answer.replace(text, completed, 1) if text in answer else completed
    return answer
