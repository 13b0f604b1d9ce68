"""The statistics of the evaluation grid: how sure a share is, and whether one arm really beats another.

A grid cell is a share of a handful of questions (8 of 15 correct), and arms are compared on the same questions.
Written once here, in plain Python (`math`, and the normal quantile of the standard library's `NormalDist`):
- a share carries its **Wilson score interval** (Wilson 1927), which stays inside 0–100% and behaves on small
  counts and at 0% or 100%, where the textbook ±1.96·SE interval collapses to a point;
- two arms answering the same questions are **paired** data: only the questions they disagree on carry evidence.
  The **exact McNemar test** (a two-sided binomial test of the discordant pairs with p = ½) gives the p-value, and
  **Newcombe's (1998) method 10** (the hybrid score interval for paired proportions, built from the two Wilson
  intervals and the correlation of the pairs) gives the interval of the difference in accuracy; both are
  deterministic, so the same rows always give the same figures;
- planning a run: the **McNemar sample size** (Connor 1987) and its inverse, the smallest difference a number of
  questions can tell apart.

References: E. B. Wilson, JASA 22 (1927) 209–212; R. G. Newcombe, "Improved confidence intervals for the difference
between binomial proportions based on paired data", Statistics in Medicine 17 (1998) 2635–2650; R. J. Connor,
"Sample size for testing differences in proportions for the paired-sample design", Biometrics 43 (1987) 207–211.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from itertools import combinations
from statistics import NormalDist
from typing import Any, Iterable, Mapping, Sequence

from core.base.questions import SPLIT_LABELS
from core.evaluation.rows import ALL, UNSPLIT

# Each share of a grid block (`scoring.block`) and the count it is a share of. The Evaluate page shows the same
# shares as "k/n · %" from these bases.
SHARE_BASES: dict[str, str] = {
    "correct": "answerable",
    "contains_any_length": "answerable",
    "refused_answerable": "answerable",
    "flagged_answerable": "answerable",
    "hit_1": "retrieval_n",
    "hit_k": "retrieval_n",
    "cites_reference": "citing_n",
    "refused_unanswerable": "unanswerable",
    "declined_unanswerable": "unanswerable",
}
INTERVAL_METHOD = "Wilson score interval"
PAIRED_METHOD = "exact McNemar test; Newcombe (1998) method 10 interval for the paired difference"


def _z(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (0.95 → 1.95996…)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), not {confidence}: use e.g. 0.95.")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval (low, high) of a share `successes`/`n`; None when n is 0 (nothing was measured)."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"a share needs 0 ≤ successes ≤ n, got {successes} of {n}.")
    if n == 0:
        return None
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # 0 of n and n of n have an exact limit of 0 and 1; rounding would otherwise leave a hair outside [0, 1]
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """The exact two-sided McNemar p-value: the binomial test of `only_a` among the discordant pairs, p = ½."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"discordant counts cannot be negative, got {only_a} and {only_b}.")
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0  # no question separates the arms: no evidence either way
    tail = sum(math.comb(discordant, i) for i in range(min(only_a, only_b) + 1))
    # integers until the one division, so the p-value stays exact for any number of questions
    return min(1.0, 2 * tail / 2**discordant)


def newcombe_paired_interval(
    both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's (1998) method 10 interval of accuracy(A) − accuracy(B) on paired answers, as shares (−1…1)."""
    counts = (both, only_a, only_b, neither)
    if min(counts) < 0 or sum(counts) == 0:
        raise ValueError(f"a paired table needs non-negative counts and at least one question, got {counts}.")
    n = sum(counts)
    a_right, b_right = both + only_a, both + only_b
    p_a, p_b = a_right / n, b_right / n
    low_a, high_a = wilson_interval(a_right, n, confidence) or (0.0, 1.0)
    low_b, high_b = wilson_interval(b_right, n, confidence) or (0.0, 1.0)
    margins = a_right * (n - a_right) * b_right * (n - b_right)
    # the correlation of the pairs; Newcombe sets it to 0 when a margin is empty (it is undefined there)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins else 0.0
    difference = p_a - p_b
    below = (p_a - low_a) ** 2 - 2 * phi * (p_a - low_a) * (high_b - p_b) + (high_b - p_b) ** 2
    above = (high_a - p_a) ** 2 - 2 * phi * (high_a - p_a) * (p_b - low_b) + (p_b - low_b) ** 2
    return max(-1.0, difference - math.sqrt(max(below, 0.0))), min(1.0, difference + math.sqrt(max(above, 0.0)))


def newcombe_independent_interval(
    k_a: int, n_a: int, k_b: int, n_b: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's (1998) method 10 interval of k_a/n_a − k_b/n_b for two independent shares (answers to different
    questions), as shares (−1…1), built from the two Wilson intervals; each share needs at least one answer."""
    ci_a, ci_b = wilson_interval(k_a, n_a, confidence), wilson_interval(k_b, n_b, confidence)
    if ci_a is None or ci_b is None:
        raise ValueError(f"each share needs at least one answer, got {k_a}/{n_a} and {k_b}/{n_b}.")
    p_a, p_b = k_a / n_a, k_b / n_b
    d = p_a - p_b
    low = d - math.sqrt((p_a - ci_a[0]) ** 2 + (ci_b[1] - p_b) ** 2)
    high = d + math.sqrt((ci_a[1] - p_a) ** 2 + (p_b - ci_b[0]) ** 2)
    return max(-1.0, low), min(1.0, high)


def fisher_exact_p(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """Fisher's exact two-sided p-value of the 2×2 table right/wrong × A/B: the tables with the same margins that are
    no likelier than the one observed."""
    right, total = k_a + k_b, n_a + n_b
    # in integers until the one division, so the p-value is exact and ties of likelihood are found exactly
    weight = [math.comb(n_a, x) * math.comb(n_b, right - x) for x in range(max(0, right - n_b), min(n_a, right) + 1)]
    seen = math.comb(n_a, k_a) * math.comb(n_b, k_b)
    return min(1.0, sum(w for w in weight if w <= seen) / math.comb(total, right))


def signed_points(points: float) -> str:
    """Whole points with their sign (+34, −5, 0), as a reader expects a difference."""
    # halves round away from zero (62.5 → +63), as people round, not to even as `round` does
    whole = int(math.copysign(math.floor(abs(points) + 0.5), points))
    return "0" if whole == 0 else f"+{whole}" if whole > 0 else f"−{-whole}"


def _split_label(split: str) -> str:
    if split == ALL:
        return "all questions"
    if split == UNSPLIT:
        return "unsplit questions"
    return SPLIT_LABELS.get(split, split)


@dataclass(frozen=True)
class PairedComparison:
    """Arm A against arm B on the same answerable questions of one split; differences in percentage points."""

    arm_a: str
    arm_b: str
    split: str  # the summary's split key: "all", "seen", "new", "unsplit"
    n: int  # questions both arms answered
    a_right: int
    b_right: int
    only_a: int  # A right, B wrong
    only_b: int  # A wrong, B right
    difference: float  # accuracy(A) − accuracy(B), in points
    low: float  # the interval of the difference, in points
    high: float
    p_value: float
    method: str = PAIRED_METHOD
    confidence: float = 0.95

    @property
    def clear(self) -> bool:
        """Whether one arm is better on this evidence: the interval excludes zero *and* the exact test agrees.

        On a few discordant questions Newcombe's interval can exclude zero while the exact McNemar test, which errs
        on the cautious side, stays above 1 − confidence (6 against 1 of 15: interval +2 to +57, p = 0.125): a
        lead is only called clear when both say so.
        """
        return (self.low > 0 or self.high < 0) and self.p_value < 1 - self.confidence

    def sentence(self) -> str:
        """One line for a reader: the difference, its interval, how many questions differ and the p-value."""
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.2g}"
        differ = self.only_a + self.only_b
        return (
            f"{self.arm_a} − {self.arm_b} on {_split_label(self.split)}: {signed_points(self.difference)} points "
            f"({self.confidence * 100:g}% CI {signed_points(self.low)} to {signed_points(self.high)}), "
            f"{differ} of {self.n} question{'' if self.n == 1 else 's'} differ, {p}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The comparison as saved with a run (JSON-ready, with its verdict and sentence)."""
        out = asdict(self)
        for key in ("difference", "low", "high"):
            out[key] = round(out[key], 2)
        out["p_value"] = float(f"{self.p_value:.4g}")
        return {**out, "clear": self.clear, "sentence": self.sentence()}


def paired_comparison(
    arm_a: str, arm_b: str, split: str, both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
) -> PairedComparison:
    """Two arms compared from their paired table: how many questions both, only A, only B and neither got right."""
    n = both + only_a + only_b + neither
    low, high = newcombe_paired_interval(both, only_a, only_b, neither, confidence)
    return PairedComparison(
        arm_a=arm_a,
        arm_b=arm_b,
        split=split,
        n=n,
        a_right=both + only_a,
        b_right=both + only_b,
        only_a=only_a,
        only_b=only_b,
        difference=100 * (only_a - only_b) / n,
        low=100 * low,
        high=100 * high,
        p_value=mcnemar_exact_p(only_a, only_b),
        confidence=confidence,
    )


def _split_key(split: Any) -> str:
    return str(split or "") or UNSPLIT


def _outcomes(rows: Iterable[Mapping[str, Any]], arm: str) -> dict[tuple[str, str, int], bool]:
    """An arm's right/wrong per question, keyed by (split, question, occurrence) so a repeated question pairs in turn.

    Unanswerable questions (`correct` None) have no accuracy, and an answer that failed (`error`) was not given.
    """
    out: dict[tuple[str, str, int], bool] = {}
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        if r.get("arm") != arm or r.get("correct") is None or r.get("error"):
            continue
        key = (_split_key(r.get("split")), str(r.get("question", "")))
        seen[key] = seen.get(key, 0) + 1
        out[(*key, seen[key])] = bool(r["correct"])
    return out


def paired_comparisons(
    rows: Sequence[Mapping[str, Any]],
    arms: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> list[PairedComparison]:
    """Every pair of arms (in the order given) on "all" and on each split, matched by question text.

    Only the answerable questions both arms answered count. `splits` are split names as in the rows ("seen", "new")
    or the summary ("unsplit"); by default those in the rows, left out when there is one (it is the same as "all").
    A pair with no question in common on a split is left out.
    """
    arms = list(arms) if arms else list(dict.fromkeys(str(r.get("arm")) for r in rows))
    if splits is None:
        present = list(dict.fromkeys(_split_key(r.get("split")) for r in rows))
        wanted = [ALL] + (present if len(present) > 1 else [])
    else:
        wanted = [ALL] + [k for k in dict.fromkeys(_split_key(s) for s in splits) if k != ALL]
    by_arm = {arm: _outcomes(rows, arm) for arm in arms}
    out = []
    for arm_a, arm_b in combinations(arms, 2):
        a, b = by_arm[arm_a], by_arm[arm_b]
        common = [key for key in a if key in b]
        for split in wanted:
            pairs = [(a[key], b[key]) for key in common if split == ALL or key[0] == split]
            if not pairs:
                continue
            table = {(x, y): sum(1 for pair in pairs if pair == (x, y)) for x in (True, False) for y in (True, False)}
            out.append(
                paired_comparison(
                    arm_a,
                    arm_b,
                    split,
                    both=table[True, True],
                    only_a=table[True, False],
                    only_b=table[False, True],
                    neither=table[False, False],
                    confidence=confidence,
                )
            )
    return out


def _questions_for(delta: float, discordant: float, alpha: float, power: float) -> float:
    """Connor's (1987) number of pairs, unrounded, for a difference `delta` and a discordant share."""
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_power = NormalDist().inv_cdf(power)
    return (z_alpha * math.sqrt(discordant) + z_power * math.sqrt(max(discordant - delta * delta, 0.0))) ** 2 / (
        delta * delta
    )


def _check_plan(alpha: float, power: float) -> None:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be between 0 and 1, got {alpha} and {power}: use e.g. 0.05 and 0.8.")


def questions_needed(
    p_a: float, p_b: float, discordant_share: float | None = None, alpha: float = 0.05, power: float = 0.8
) -> int:
    """How many paired questions a two-sided McNemar test needs to tell accuracies p_a and p_b apart.

    Connor's (1987) normal-approximation formula, n = (z_{1−α/2}·√ψ + z_{power}·√(ψ − δ²))² / δ², with δ = p_a − p_b
    and ψ the share of questions the arms disagree on. Without `discordant_share`, ψ assumes the arms err
    independently of each other (ψ = p_a(1 − p_b) + p_b(1 − p_a)): arms that fail on the same hard questions
    disagree less and need fewer questions, so this is the cautious figure.
    """
    _check_plan(alpha, power)
    if not (0 <= p_a <= 1 and 0 <= p_b <= 1):
        raise ValueError(f"accuracies are shares between 0 and 1, got {p_a} and {p_b}.")
    delta = p_a - p_b
    if delta == 0:
        raise ValueError("equal accuracies cannot be told apart by any number of questions: give two different ones.")
    psi = p_a * (1 - p_b) + p_b * (1 - p_a) if discordant_share is None else discordant_share
    # ψ = p10 + p01 and δ = p10 − p01, with p10 ≤ min(p_a, 1 − p_b) and p01 ≤ min(p_b, 1 − p_a)
    if not abs(delta) <= psi <= min(p_a + p_b, 2 - p_a - p_b) + 1e-12:
        raise ValueError(
            f"a discordant share of {psi} is impossible with accuracies {p_a} and {p_b}: it must lie between "
            f"{abs(delta):g} and {min(p_a + p_b, 2 - p_a - p_b):g}."
        )
    # rounded before the ceiling so that 22.0000000001 from floating point stays 23 only when it should
    return math.ceil(round(_questions_for(delta, psi, alpha, power), 6))


def smallest_detectable_difference(
    n: int, base_rate: float = 0.5, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest difference in accuracy, in points, that `n` paired questions tell apart (None: none can).

    Assumes two arms whose accuracies straddle `base_rate` (base_rate ± difference/2) and err independently of each
    other (the cautious discordance of `questions_needed`), tested with a two-sided McNemar test at `alpha` with
    the given power (Connor 1987). At base_rate 0.5 this is the worst case: accuracies near 0 or 1 need fewer.
    """
    _check_plan(alpha, power)
    if not 0 < base_rate < 1:
        raise ValueError(f"base_rate is an accuracy strictly between 0 and 1, got {base_rate}.")
    widest = 2 * min(base_rate, 1 - base_rate)

    def needed(delta: float) -> float:
        p_a, p_b = base_rate + delta / 2, base_rate - delta / 2
        return _questions_for(delta, p_a * (1 - p_b) + p_b * (1 - p_a), alpha, power)

    if n <= 0 or needed(widest) > n:
        return None
    # the number needed falls steadily as the difference grows: bisect for the difference n questions just reach
    low, high = 0.0, widest
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if needed(middle) > n else (low, middle)
    return 100 * high


def with_intervals(summary: Mapping[str, Any], confidence: float = 0.95) -> dict[str, Any]:
    """A copy of a grid summary (`scoring.summarise`) where each share with a count base has `<share>_ci`: [low, high].

    Covers every block, per arm × split and per source document; a share with nothing to measure gets None. The
    count behind a share is `correct_n` for `correct`, else the share × its base (exact: shares keep 4 decimals,
    so bases up to 10,000 round back to the count). The method and level are recorded under "intervals".
    """
    out = copy.deepcopy(dict(summary))
    for group in ("arms", "by_source"):
        for blocks in (out.get(group) or {}).values():
            for metrics in blocks.values():
                _add_intervals(metrics, confidence)
    out["intervals"] = {"method": INTERVAL_METHOD, "confidence": confidence}
    return out


def _add_intervals(metrics: dict[str, Any], confidence: float) -> None:
    for share, base_key in SHARE_BASES.items():
        if share not in metrics:
            continue
        value, base = metrics.get(share), metrics.get(base_key)
        if not isinstance(value, (int, float)) or not isinstance(base, int) or base <= 0:
            metrics[f"{share}_ci"] = None
            continue
        successes = metrics.get("correct_n") if share == "correct" else None
        if not isinstance(successes, int):
            successes = round(value * base)
        interval = wilson_interval(successes, base, confidence)
        metrics[f"{share}_ci"] = [round(interval[0], 4), round(interval[1], 4)] if interval else None
