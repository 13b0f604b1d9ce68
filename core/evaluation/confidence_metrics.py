"""How well an arm's confidence tells its right answers from its wrong ones, from a run's scored rows.

Denominators, so every figure reads the same way (rows of one arm; `answerable` = answerable questions):
- marked sure: an answer given (not refused, not empty), not flagged "not supported" and not "unsure";
  `sure_share` = marked sure / answerable;
- `selective_accuracy`: right / marked sure (the accuracy of the answers the app stands behind), beside `accuracy`,
  right / answerable, the accuracy of all answers;
- `confidently_wrong`: wrong and carrying no mark at all (not unsure, not flagged, not refused, not empty) / answerable;
- `right_marked_unsure`: right answers flagged unsure / right answers (a mark on everything is no signal);
- `auroc`: how often a right answer's confidence ranks above a wrong one's (ties count half), over the answers that
  have a confidence; 0.5 is chance, 1 is perfect;
- `reliability`: per band of confidence, how many answers, their mean confidence and the share right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from core.evaluation.statistics import wilson_interval

BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0001)  # reliability diagram bands; the last one holds a confidence of 1


def answered(row: Mapping[str, Any]) -> bool:
    """Whether the row is an answer at all: not refused, not empty."""
    return not row.get("refused") and not row.get("no_answer")


def marked_sure(row: Mapping[str, Any]) -> bool:
    """Whether the app stood behind this answer: given, not flagged 'not supported', not 'unsure'."""
    return answered(row) and not row.get("flagged") and not row.get("unsure")


def auroc(scores: Sequence[float], right: Sequence[bool]) -> float | None:
    """The probability that a right answer's score ranks above a wrong one's (ties half); None without both kinds."""
    pos = [s for s, r in zip(scores, right) if r]
    neg = [s for s, r in zip(scores, right) if not r]
    if not pos or not neg:
        return None
    # rank-sum form (Mann–Whitney U), with tied scores sharing their average rank
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos_ranks = sum(r for r, ok in zip(ranks, right) if ok)
    u = pos_ranks - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


@dataclass(frozen=True)
class Share:
    """A count out of a total, with its share and 95% Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        """k / n (None when n is 0)."""
        return self.k / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        """k, n, the share and its interval, rounded for JSON."""
        ci = wilson_interval(self.k, self.n)
        return {
            "k": self.k,
            "n": self.n,
            "share": None if self.value is None else round(self.value, 4),
            "ci": None if ci is None else [round(ci[0], 4), round(ci[1], 4)],
        }


@dataclass(frozen=True)
class Band:
    """One band of the reliability diagram."""

    low: float
    high: float
    n: int
    mean_confidence: float | None
    right: float | None


@dataclass(frozen=True)
class ConfidenceFigures:
    """The confidence figures of one arm's rows."""

    answerable: int
    accuracy: Share
    sure_share: Share
    selective_accuracy: Share
    confidently_wrong: Share
    right_marked_unsure: Share
    auroc: float | None
    auroc_n: int  # answers with a confidence that entered the AUROC
    reliability: tuple[Band, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "answerable": self.answerable,
            "accuracy": self.accuracy.to_dict(),
            "sure_share": self.sure_share.to_dict(),
            "selective_accuracy": self.selective_accuracy.to_dict(),
            "confidently_wrong": self.confidently_wrong.to_dict(),
            "right_marked_unsure": self.right_marked_unsure.to_dict(),
            "auroc": None if self.auroc is None else round(self.auroc, 4),
            "auroc_n": self.auroc_n,
            "reliability": [asdict(b) for b in self.reliability],
        }


def reliability(confidences: Sequence[float], right: Sequence[bool]) -> tuple[Band, ...]:
    """Per band of confidence: how many answers, their mean confidence and the share right."""
    out = []
    for low, high in zip(BANDS, BANDS[1:]):
        inside = [(c, r) for c, r in zip(confidences, right) if low <= c < high]
        n = len(inside)
        out.append(
            Band(
                round(low, 2),
                round(min(high, 1.0), 2),
                n,
                round(sum(c for c, _ in inside) / n, 4) if n else None,
                round(sum(r for _, r in inside) / n, 4) if n else None,
            )
        )
    return tuple(out)


def confidence_figures(rows: Sequence[Mapping[str, Any]]) -> ConfidenceFigures:
    """The confidence figures of one arm's scored rows (see the module's denominators)."""
    answerable = [r for r in rows if not r.get("unanswerable")]
    right = [r for r in answerable if r.get("correct")]
    sure = [r for r in answerable if marked_sure(r)]
    scored = [r for r in answerable if answered(r) and r.get("confidence") is not None]
    confidences = [float(r["confidence"]) for r in scored]
    outcomes = [bool(r.get("correct")) for r in scored]
    return ConfidenceFigures(
        answerable=len(answerable),
        accuracy=Share(len(right), len(answerable)),
        sure_share=Share(len(sure), len(answerable)),
        selective_accuracy=Share(sum(bool(r.get("correct")) for r in sure), len(sure)),
        confidently_wrong=Share(sum(not r.get("correct") for r in sure), len(answerable)),
        right_marked_unsure=Share(sum(bool(r.get("unsure")) for r in right), len(right)),
        auroc=auroc(confidences, outcomes),
        auroc_n=len(scored),
        reliability=reliability(confidences, outcomes),
    )


def figures_by_arm(rows: Sequence[Mapping[str, Any]]) -> dict[str, ConfidenceFigures]:
    """`confidence_figures` for every arm in the rows, in the order the arms first appear."""
    arms = list(dict.fromkeys(str(r.get("arm", "")) for r in rows))
    return {arm: confidence_figures([r for r in rows if r.get("arm") == arm]) for arm in arms}
