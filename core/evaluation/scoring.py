"""Turning one answer into a scored row, and rows into the grid (per arm, per split, per source document).

Denominators, so every figure reads the same way:
- correctness, F1, similarity, judge, citations-with-reference: answerable questions;
- retrieval hit@1 / hit@k / MRR: answerable questions with a reference file, in the arms that retrieve,
  ranked over the passages the answer was given (none when retrieval found nothing close enough);
- refusal rates: unanswerable questions (should refuse) and answerable ones (should not); "declined" counts
  an answer that refused *or* that the app flagged "not supported by the documents" (the user is warned
  either way), so an unanswerable question is handled when it is declined;
- unsupported citations: a count over all answers (the goal is 0);
- no answer: all questions; an answer with no text at all (the chat marked it incomplete, NO_ANSWER, or the engine
  failed before any text) is counted here, not as a refusal, and its row keeps the reason in `error`;
- latency and tokens: every answer that finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from core.base.questions import SPLIT_LABELS, EvalQuestion
from core.chat.service import RETRIEVAL_MODES
from core.evaluation import metrics as m
from core.evaluation.answer_sources import answer_source
from core.evaluation.rows import ALL, no_answer

NO_ANSWER_LABEL = "no answer"


def score_answer(question: EvalQuestion, answer: Mapping[str, Any], k: int) -> dict[str, Any]:
    """One scored row from a question and the answer dict (`Answer.to_dict()`) an arm gave."""
    text = str(answer.get("text", ""))
    sources = list(answer.get("sources") or [])
    cited = [int(i) for i in answer.get("cited") or [] if 1 <= int(i) <= len(sources)]
    timings = answer.get("timings") or {}
    silent = m.gave_no_answer(text)
    refused = m.is_refusal(text) and not silent  # saying nothing is not declining: it is counted as "no answer"
    flagged = "unsupported" in (answer.get("flags") or [])
    row: dict[str, Any] = {
        "question": question.question,
        "reference": question.answer,
        "source": question.source,
        "page": question.page,
        "unanswerable": question.unanswerable,
        "split": question.split,
        "arm": answer.get("mode", ""),
        "engine": answer.get("engine", ""),
        "model": answer.get("model", ""),
        "answer": text,
        "no_answer": silent,
        "refused": refused,
        "flagged": flagged,
        "declined": refused or flagged,
        "incomplete": bool(answer.get("incomplete")),
        "error": str(answer.get("error") or ""),
        "first_token_ms": timings.get("first_token_ms"),
        "total_ms": timings.get("total_ms"),
        "prompt_tokens": timings.get("prompt_tokens"),
        "answer_tokens": timings.get("tokens"),
        "cited": cited,
        # how sure the app was (core/chat/confidence.py) and what from: the calibration is re-fitted on these
        "confidence": answer.get("confidence"),
        "unsure": "unsure" in (answer.get("flags") or []),
        "signals": answer.get("signals") or {},
        "passages": [
            {
                "file": s.get("file", ""),
                "page": s.get("page"),
                "score": s.get("score"),
                "contains_reference": bool(question.answer)
                and m.passage_contains(str(s.get("text", "")), question.answer),
            }
            for s in sources
        ],
    }
    if question.unanswerable:
        row.update(correct=None, contains=None, containment_reason="", f1=None)
    else:
        verdict = m.judge_containment(text, question.answer, question.question)
        row.update(
            correct=verdict.correct,
            contains=verdict.contains,
            containment_reason=verdict.reason,
            f1=round(m.token_f1(text, question.answer), 4),
        )
    rank = None
    if row["arm"] in RETRIEVAL_MODES and question.source and not question.unanswerable:
        rank = m.reference_rank(
            [(str(s.get("file", "")), s.get("page")) for s in sources], question.source, question.page, question.pages
        )
        row.update(rank=rank, hit_1=m.hit_at_k(rank, 1), hit_k=m.hit_at_k(rank, k), rr=m.reciprocal_rank(rank))
    else:
        row.update(rank=None, hit_1=None, hit_k=None, rr=None)
    cited_texts = [str(sources[i - 1].get("text", "")) for i in cited]
    row["unsupported_citation"] = bool(cited_texts) and any(
        not m.supports(t, text, question.question) for t in cited_texts
    )
    row["cites_reference"] = (
        any(m.passage_contains(t, question.answer) for t in cited_texts)
        if cited_texts and not question.unanswerable
        else None
    )
    row["answer_source"] = answer_source(row)
    return row


def _share(values: Iterable[Any]) -> float | None:
    data = [bool(v) for v in values if v is not None]
    return round(sum(data) / len(data), 4) if data else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def block(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The metrics of a group of rows (one arm, one split or source)."""
    answerable = [r for r in rows if not r.get("unanswerable")]
    unanswerable = [r for r in rows if r.get("unanswerable")]
    retrieved = [r for r in answerable if r.get("hit_k") is not None]
    citing = [r for r in answerable if r.get("cited")]
    finished = [r for r in rows if not r.get("error")]
    judged = [r.get("judge") for r in answerable if r.get("judge") is not None]
    return {
        "n": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "correct": _share(r.get("correct") for r in answerable),
        "correct_n": sum(bool(r.get("correct")) for r in answerable),
        "contains_any_length": _share(r.get("contains") for r in answerable),
        "f1": _round(m.mean([r.get("f1") for r in answerable]), 4),
        "similarity": _round(m.mean([r.get("similarity") for r in answerable]), 4),
        "judge": _share(judged),
        "retrieval_n": len(retrieved),
        "hit_1": _share(r.get("hit_1") for r in retrieved),
        "hit_k": _share(r.get("hit_k") for r in retrieved),
        "mrr": _round(m.mean([r.get("rr") for r in retrieved]), 4),
        "citing_n": len(citing),
        "cites_reference": _share(r.get("cites_reference") for r in citing),
        "unsupported_citations": sum(bool(r.get("unsupported_citation")) for r in rows),
        "no_answer": _share(no_answer(r) for r in rows),
        "no_answer_n": sum(no_answer(r) for r in rows),
        "refused_unanswerable": _share(r.get("refused") for r in unanswerable),
        "refused_answerable": _share(r.get("refused") for r in answerable),
        "declined_unanswerable": _share(r.get("declined") for r in unanswerable),
        "flagged_answerable": _share(r.get("flagged") for r in answerable),
        "first_token_p50_ms": _round(
            m.percentile([r["first_token_ms"] for r in finished if r.get("first_token_ms") is not None], 50)
        ),
        "first_token_p95_ms": _round(
            m.percentile([r["first_token_ms"] for r in finished if r.get("first_token_ms") is not None], 95)
        ),
        "total_p50_ms": _round(m.percentile([r["total_ms"] for r in finished if r.get("total_ms") is not None], 50)),
        "total_p95_ms": _round(m.percentile([r["total_ms"] for r in finished if r.get("total_ms") is not None], 95)),
        "prompt_tokens": _round(m.mean([r.get("prompt_tokens") for r in finished])),
        "answer_tokens": _round(m.mean([r.get("answer_tokens") for r in finished])),
        "errors": len(rows) - len(finished),
    }


def shown_answer(row: Mapping[str, Any]) -> str:
    """A row's answer as a reader sees it: the text, or "no answer" with its reason instead of an empty cell."""
    if not no_answer(row):
        return str(row.get("answer") or "")
    reason = str(row.get("error") or "").strip()
    return f"{NO_ANSWER_LABEL}: {reason}" if reason else NO_ANSWER_LABEL


def summarise(rows: Sequence[Mapping[str, Any]], arms: Sequence[str] | None = None) -> dict[str, Any]:
    """The grid: for each arm, its metrics over all rows, per split ("seen", "new", "" for unsplit) and per source."""
    arms = list(arms) if arms else list(dict.fromkeys(str(r.get("arm")) for r in rows))
    out: dict[str, Any] = {"arms": {}, "by_source": {}}
    for arm in arms:
        mine = [r for r in rows if r.get("arm") == arm]
        splits = {ALL: block(mine)}
        for split in dict.fromkeys(str(r.get("split") or "") for r in mine):
            splits[split or "unsplit"] = block([r for r in mine if (r.get("split") or "") == split])
        out["arms"][arm] = splits
        sources = sorted({str(r.get("source") or "") for r in mine})
        out["by_source"][arm] = {
            src or "(no source)": block([r for r in mine if (r.get("source") or "") == src]) for src in sources
        }
    return out


GRID_METRICS = {
    "correct": "correct (strict containment)",
    "contains_any_length": "reference anywhere (any length)",
    "f1": "token F1",
    "similarity": "semantic similarity",
    "judge": "LLM judge",
    "hit_1": "retrieval hit@1",
    "hit_k": "retrieval hit@k",
    "mrr": "retrieval MRR",
    "cites_reference": "cited passage holds the reference",
    "unsupported_citations": "citations of unsupporting passages (count)",
    "no_answer": "no answer given (share of all questions)",
    "refused_unanswerable": "refused when unanswerable",
    "refused_answerable": "refused when answerable",
    "declined_unanswerable": "refused or flagged when unanswerable",
    "flagged_answerable": "flagged 'not supported' when answerable",
    "first_token_p50_ms": "first token p50 (ms)",
    "first_token_p95_ms": "first token p95 (ms)",
    "total_p50_ms": "total p50 (ms)",
    "total_p95_ms": "total p95 (ms)",
    "prompt_tokens": "prompt tokens (mean)",
    "answer_tokens": "answer tokens (mean)",
}


class _Metrics:
    """Reading the metrics of one group of rows (a `block`) by metric name."""

    metrics: Mapping[str, Any]

    @property
    def n(self) -> int:
        """How many answers the group holds."""
        return int(self.metrics.get("n") or 0)

    def value(self, metric: str) -> float | None:
        """One metric of the group (None: nothing to measure it on); an unknown metric name is an error, not a blank."""
        if metric not in self.metrics and metric not in GRID_METRICS:
            raise KeyError(f"{metric!r} is not a grid metric: use one of {', '.join(GRID_METRICS)}.")
        value = self.metrics.get(metric)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class GridRow(_Metrics):
    """One row of the grid: an arm over one split of the questions ("all", "seen facts", "new documents"…)."""

    arm: str
    split: str
    metrics: Mapping[str, Any]


@dataclass(frozen=True)
class SourceRow(_Metrics):
    """One row of the grid per source document: an arm over the questions about one file."""

    arm: str
    source: str
    metrics: Mapping[str, Any]


def grid_rows(summary: Mapping[str, Any]) -> list[GridRow]:
    """The grid as rows (one per arm and split); a lone split is the same as "all" and is left out."""
    out = []
    for arm, splits in summary.get("arms", {}).items():
        for split, values in splits.items():
            if split != ALL and len(splits) == 2:
                continue
            out.append(GridRow(arm, SPLIT_LABELS.get(split, split) if split != ALL else ALL, dict(values)))
    return out


def source_rows(summary: Mapping[str, Any]) -> list[SourceRow]:
    """The grid per source document (one row per arm and source file)."""
    return [
        SourceRow(arm, source, dict(values))
        for arm, sources in summary.get("by_source", {}).items()
        for source, values in sources.items()
    ]


def chart_rows(summary: Mapping[str, Any], metric: str) -> list[dict[str, Any]]:
    """One metric as (mode, split, value, low, high) rows for a grouped bar chart; modes or splits without a value are
    left out. low/high: the share's interval (`<metric>_ci`), None for a measure that is not a counted share."""
    out = []
    for r in grid_rows(summary):
        value = r.value(metric)
        if value is None:
            continue
        interval = r.metrics.get(f"{metric}_ci")
        low, high = interval if isinstance(interval, (list, tuple)) and len(interval) == 2 else (None, None)
        out.append({"mode": r.arm, "split": r.split, "value": value, "low": low, "high": high})
    return out


def share_text(share: float, base: Any = None, interval: Sequence[float] | None = None) -> str:
    """A share as every table reads it: "8/15 · 53% (30–75%)", its count of `base` and its 95% interval, where known."""
    text = f"{share * 100:.0f}%"
    if isinstance(base, int) and not isinstance(base, bool) and base > 0:
        text = f"{round(share * base)}/{base} · {text}"
    if interval is not None and len(interval) == 2:
        text += f" ({interval[0] * 100:.0f}–{interval[1] * 100:.0f}%)"
    return text


# The chart's words for a reader: p50 is the median, p95 the time 95% of answers stay under.
LATENCY_METRICS = {
    "first_token_p50_ms": "first word, median",
    "first_token_p95_ms": "first word, 95% within",
    "total_p50_ms": "whole answer, median",
    "total_p95_ms": "whole answer, 95% within",
}


def latency_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """First-token and total latency (p50, p95) per arm over all its questions, in seconds, for a chart."""
    out = []
    for arm, splits in summary.get("arms", {}).items():
        values = splits.get(ALL) or {}
        for key, label in LATENCY_METRICS.items():
            if values.get(key) is not None:
                out.append({"mode": arm, "measure": label, "seconds": round(values[key] / 1000, 3)})
    return out
