"""Where each answer of an evaluation run came from, so a team can tell the retriever's faults from the reader's.

Every answerable question's answer gets one category (unanswerable questions get none: there is nothing to find):

- in `rag` / `hybrid`, from whether the answer was right and whether a retrieved passage held the reference:
  `right_supported` (right, a passage held it), `right_unsupported` (right, no passage held it: from the model's
  weights), `misread` (wrong though a passage held it: the reader is at fault), `retrieval_miss` (wrong, no passage
  held it: the retriever is at fault);
- in `base` / `finetuned`, which read no passage: `right` or `wrong`;
- in every mode, `declined`: the answer refused, or the app flagged it "not supported by the documents". A flagged
  answer counts as declined even when its text happens to hold the reference, as scoring counts it: the user was
  told not to rely on it, so it is neither a right answer the team can count on nor the retriever's or reader's fault;
- in every mode, `no_answer`: no text at all (an empty generation or an engine failure before any text). Scoring
  keeps these apart from refusals, and blaming the retriever or the reader for an engine failure would mislead.

The categories are read from the scored row (`scoring.score_answer`: `correct`, `declined`, `no_answer`,
`passages[].contains_reference`, `arm`, `unanswerable`), so rows saved before the `answer_source` field existed are
classified the same way.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from core.base.questions import SPLIT_LABELS
from core.chat.service import RETRIEVAL_MODES
from core.evaluation.rows import ALL, UNSPLIT, no_answer
from core.evaluation.runs import split_arm

RIGHT_SUPPORTED = "right_supported"
RIGHT_UNSUPPORTED = "right_unsupported"
MISREAD = "misread"
RETRIEVAL_MISS = "retrieval_miss"
RIGHT = "right"
WRONG = "wrong"
DECLINED = "declined"
NO_ANSWER = "no_answer"

RETRIEVAL_CATEGORIES = (RIGHT_SUPPORTED, RIGHT_UNSUPPORTED, MISREAD, RETRIEVAL_MISS, DECLINED, NO_ANSWER)
PLAIN_CATEGORIES = (RIGHT, WRONG, DECLINED, NO_ANSWER)

# The categories in plain words, for a table or a legend.
CATEGORY_LABELS = {
    RIGHT_SUPPORTED: "right, a retrieved passage held the answer",
    RIGHT_UNSUPPORTED: "right, from the model's weights (no retrieved passage held it)",
    MISREAD: "wrong, though a retrieved passage held the answer (the reader)",
    RETRIEVAL_MISS: "wrong, no retrieved passage held the answer (the retriever)",
    RIGHT: "right",
    WRONG: "wrong",
    DECLINED: "declined (refused or flagged not supported)",
    NO_ANSWER: "no answer given",
}

# How a split's answers are named in a sentence ("6 of 8 new-document answers …").
_SPLIT_ANSWERS = {
    "verbatim": "answers to trained questions (word for word)",
    "reworded": "answers to trained facts (reworded)",
    "seen": "seen-fact answers",
    "new": "new-document answers",
    UNSPLIT: "answers",
    ALL: "answers",
}


def categories(arm: str) -> tuple[str, ...]:
    """The categories an arm's answers fall into: the retrieving modes tell the retriever's faults from the reader's."""
    return RETRIEVAL_CATEGORIES if split_arm(arm)[0] in RETRIEVAL_MODES else PLAIN_CATEGORIES


def answer_source(row: Mapping[str, Any]) -> str | None:
    """Where a scored row's answer came from (one of `categories(arm)`); None for an unanswerable question."""
    if row.get("unanswerable") or row.get("correct") is None:
        return None
    if no_answer(row):
        return NO_ANSWER
    if row.get("declined"):
        return DECLINED
    right = bool(row["correct"])
    if split_arm(str(row.get("arm") or ""))[0] not in RETRIEVAL_MODES:  # hybrid:v1 retrieves as hybrid does
        return RIGHT if right else WRONG
    held = any(bool(p.get("contains_reference")) for p in row.get("passages") or [])
    if right:
        return RIGHT_SUPPORTED if held else RIGHT_UNSUPPORTED
    return MISREAD if held else RETRIEVAL_MISS


def _split_key(row: Mapping[str, Any]) -> str:
    return str(row.get("split") or "") or UNSPLIT  # the summary's names (`scoring.summarise`)


def source_counts(
    rows: Sequence[Mapping[str, Any]], arms: Sequence[str] | None = None
) -> dict[str, dict[str, dict[str, int]]]:
    """Per arm, over "all" its questions and per split: how many answers fell into each of its categories (0s kept).

    Unanswerable questions are not counted, so each "all" adds up to the arm's answerable questions.
    """
    arms = list(arms) if arms else list(dict.fromkeys(str(r.get("arm")) for r in rows))
    out: dict[str, dict[str, dict[str, int]]] = {}
    for arm in arms:
        mine = [r for r in rows if r.get("arm") == arm]
        splits: dict[str, dict[str, int]] = {ALL: dict.fromkeys(categories(arm), 0)}
        for split in dict.fromkeys(_split_key(r) for r in mine):
            splits[split] = dict.fromkeys(categories(arm), 0)
        for r in mine:
            category = answer_source(r)
            if category is not None:
                splits[ALL][category] += 1
                splits[_split_key(r)][category] += 1
        out[arm] = splits
    return out


def _tail(counts: Mapping[str, int]) -> list[str]:
    """The clauses every mode shares: declined answers and answers never given."""
    out = []
    if counts.get(DECLINED):
        out.append(f"{counts[DECLINED]} declined")
    if counts.get(NO_ANSWER):
        out.append(f"{counts[NO_ANSWER]} gave no answer")
    return out


def _them(count: int) -> str:
    return "it" if count == 1 else "them"


def _retrieval_sentence(counts: Mapping[str, int]) -> list[str]:
    right = counts[RIGHT_SUPPORTED] + counts[RIGHT_UNSUPPORTED]
    wrong = counts[MISREAD] + counts[RETRIEVAL_MISS]
    misread, missed = counts[MISREAD], counts[RETRIEVAL_MISS]
    of_wrong = f"of {wrong} wrong {'answer' if wrong == 1 else 'answers'}"
    parts = []
    if misread:
        parts.append(f"{misread} {of_wrong} had the answer in a retrieved passage — the model misread {_them(misread)}")
    if missed and misread:
        parts.append(f"in the other {missed} no retrieved passage held it — the retriever missed {_them(missed)}")
    elif missed:
        parts.append(
            f"{missed} {of_wrong} had no retrieved passage holding the answer — the retriever missed {_them(missed)}"
        )
    if not wrong and right:
        parts.append(f"no wrong answer in {right}")
    if counts[RIGHT_UNSUPPORTED]:
        parts.append(
            f"{counts[RIGHT_UNSUPPORTED]} of {right} right {'answer' if right == 1 else 'answers'} came from the "
            "model's weights, not a retrieved passage"
        )
    return parts


def _plain_clause(counts: Mapping[str, int], split: str) -> str:
    answered = sum(counts.values())
    answers = _SPLIT_ANSWERS.get(split, f"{SPLIT_LABELS.get(split, split)} answers")
    if counts[WRONG]:
        return f"{counts[WRONG]} of {answered} {answers} came from memory and were wrong"
    return f"{counts[RIGHT]} of {answered} {answers} were right from memory"


def diagnosis(counts: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, str]:
    """One sentence per arm, in plain words, saying where its answers came from (built from `source_counts`)."""
    out = {}
    for arm, splits in counts.items():
        whole: Mapping[str, int] = splits.get(ALL) or {}
        if not any(whole.values()):
            out[arm] = f"{arm}: no answerable question was asked."
            continue
        if split_arm(arm)[0] in RETRIEVAL_MODES:  # hybrid:v1 is counted as hybrid is (`categories`)
            parts = _retrieval_sentence(whole)
        else:
            # the halves say what the weights hold: trained facts against documents the variant never saw
            halves = [s for s in splits if s != ALL and any(splits[s].values())]
            shown = halves if len(halves) > 1 else [ALL]
            parts = [_plain_clause(splits[s], s) for s in shown]
        out[arm] = f"{arm}: {'; '.join(parts + _tail(whole))}."
    return out


def with_answer_sources(
    summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], arms: Sequence[str] | None = None
) -> dict[str, Any]:
    """A copy of a run's summary with `answer_sources`: the counts per arm and split and the diagnosis per arm."""
    out = copy.deepcopy(dict(summary))
    counts = source_counts(rows, arms)
    out["answer_sources"] = {"counts": counts, "diagnosis": diagnosis(counts)}
    return out
