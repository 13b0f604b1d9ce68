"""Benchmark: answer quality of `rag` on the embedded engine, on the sample set and the public set.

Run: `.venv/bin/python -m benchmarks.quality [--sets samples,public] [--docs DIR] [--limit N] [--out FILE]`.

Per set it prints: containment of the reference in answers of a sensible length, token F1, refusals on
unanswerable and on answerable questions, answers citing a passage that does not support them, the rank of
the right page among the first five retrieved passages, and first-token / total time (medians).

This is a stop-gap until `python -m core eval` lands on main; the scoring rules are stated in `score()`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from core.config import Settings
from core.engines.embedded import EmbeddedEngine
from core.library import UploadedFile
from core.chat import Question
from core.services import build_services

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "samples": (ROOT / "sample_docs", sorted((ROOT / "sample_docs").glob("*.questions.jsonl"))),
    "public": (Path("/work/eval_public_docs"), [ROOT / "eval_sets" / "public" / "public.questions.jsonl"]),
}
_WORD = re.compile(r"[a-z0-9]+")
REFUSAL = re.compile(r"could not find this in the documents|not in the documents|not supported by the documents", re.I)


def normalise(text: str) -> str:
    """Lower case, single spaces, a degree sign split off: the lenient 'contains' form."""
    return " ".join(text.lower().replace("°", " ° ").split())


def words(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD.findall(text.lower())


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style token F1 between an answer and the reference."""
    a, r = words(answer), words(reference)
    common = sum((Counter(a) & Counter(r)).values())
    if not a or not r or not common:
        return 0.0
    p, rec = common / len(a), common / len(r)
    return 2 * p * rec / (p + rec)


def sensible(answer: str, reference: str) -> bool:
    """An answer short enough that containing the reference means it picked the reference (no lists of candidates)."""
    return len(words(answer)) <= max(15, 3 * len(words(reference)))


def strip_marker(text: str) -> str:
    """The answer without citation markers."""
    return re.sub(r"\s*\[\d{1,2}\]", "", text).strip()


def score(q: dict[str, Any], answer: Any, ranked: list[Any]) -> dict[str, Any]:
    """One question's row.

    - refused: the answer says the documents do not hold it, or the app flagged it as not supported;
    - contained: answerable, not refused, the reference is in the answer, and the answer is of a sensible length;
    - false_citation: a cited passage that does not hold the answer: for a correct answer the cited passage
      must contain the reference; for any other answer (wrong, or to an unanswerable question) any cited
      passage must contain the answer text itself (a citation of anything else is false).
    """
    text = strip_marker(answer.text)
    flags = list(getattr(answer, "flags", []) or [])
    refused = bool(REFUSAL.search(text)) or "unsupported" in flags
    unans = bool(q.get("unanswerable"))
    ref = q.get("answer", "")
    contained = (not unans) and (not refused) and normalise(ref) in normalise(text) and sensible(text, ref)
    false_cite = False
    for i in answer.cited or []:
        passage = normalise(answer.sources[i - 1].text)
        if contained:
            ok = normalise(ref) in passage
        else:
            ok = bool(text) and normalise(text) in passage
        false_cite = false_cite or not ok
    rank = None
    if not unans:
        pages = set(q.get("pages") or [q["page"]])
        for pos, c in enumerate(ranked, 1):
            if c.source == q["source"] and c.page in pages:
                rank = pos
                break
    t = answer.timings
    return {
        "question": q["question"], "reference": ref, "unanswerable": unans, "answer": answer.text, "flags": flags,
        "refused": refused, "contained": contained, "f1": 0.0 if unans else round(token_f1(text, ref), 3),
        "cited": list(answer.cited or []), "false_citation": false_cite, "rank": rank,
        "first_token_ms": t.get("first_token_ms"), "total_ms": t.get("total_ms"), "coverage": t.get("question_coverage"),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The set's figures from its rows."""
    ans = [r for r in rows if not r["unanswerable"]]
    una = [r for r in rows if r["unanswerable"]]
    ranks = [r["rank"] for r in ans]
    first = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
    total = [r["total_ms"] for r in rows if r["total_ms"] is not None]
    return {
        "answerable": len(ans), "unanswerable": len(una),
        "contained": sum(r["contained"] for r in ans),
        "f1": round(statistics.mean(r["f1"] for r in ans), 3) if ans else None,
        "refused_unanswerable": sum(r["refused"] for r in una),
        "refused_answerable": sum(r["refused"] for r in ans),
        "false_citations": sum(r["false_citation"] for r in rows),
        "right_page_first": sum(1 for k in ranks if k == 1),
        "right_page_top5": sum(1 for k in ranks if k is not None and k <= 5),
        "first_token_ms_median": round(statistics.median(first)) if first else None,
        "total_ms_median": round(statistics.median(total)) if total else None,
        "prompt_tokens_median": round(statistics.median(p)) if (p := [r["prompt_tokens"] for r in rows if r.get("prompt_tokens")]) else None,
    }


def _spread(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    if len(rows) <= limit:
        return rows
    return [rows[i * len(rows) // limit] for i in range(limit)]


def load_questions(files: list[Path], limit: int) -> list[dict[str, Any]]:
    """Rows of the question files (the first `limit` answerable and unanswerable per file when limit > 0)."""
    out: list[dict[str, Any]] = []
    for f in files:
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        if limit:  # evenly spread over the file, so every document keeps some questions
            rows = _spread([r for r in rows if not r.get("unanswerable")], limit) + _spread([r for r in rows if r.get("unanswerable")], limit)
        out += rows
    return out


def main() -> None:
    """Answer every question of the chosen sets in `rag` mode and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", default="samples,public")
    parser.add_argument("--docs", default=None, help="directory holding the public set's PDFs")
    parser.add_argument("--limit", type=int, default=0, help="questions per file and kind (0: all)")
    parser.add_argument("--sample-limit", type=int, default=0, help="questions per sample file (0: as --limit)")
    parser.add_argument("--out", default=None, help="write the per-question rows and the summary here (JSON)")
    parser.add_argument("--label", default="run")
    parser.add_argument("--data-dir", default=None, help="reuse this data directory (index kept between runs)")
    parser.add_argument("--without", default="", help="levers to switch off for a before/after row: sentences, coverage")
    ns = parser.parse_args()
    off = {x for x in ns.without.split(",") if x}
    if "sentences" in off:
        import core.chat

        core.chat.select_evidence = lambda question, chunks: None  # type: ignore[assignment]  # whole passages
    results: dict[str, Any] = {"label": ns.label, "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(env={}, dotenv=None, data_dir=Path(ns.data_dir or tmp), engine="embedded")
        if "coverage" in off:
            settings = dataclasses.replace(settings, min_coverage=0.0)
        svc = build_services(settings)
        engine = EmbeddedEngine(settings)
        engine.warm_up()
        for name in ns.sets.split(","):
            docs_dir, qfiles = SETS[name]
            if name == "public" and ns.docs:
                docs_dir = Path(ns.docs)
            files = [p for p in sorted(docs_dir.iterdir()) if p.suffix in (".pdf", ".docx")]
            svc.library.ingest(name, [UploadedFile(p.name, p.read_bytes()) for p in files])
            rows = []
            started = time.perf_counter()
            for q in load_questions(qfiles, (ns.sample_limit or ns.limit) if name == "samples" else ns.limit):
                question = Question(q["question"], "rag", name, engine.default_model, temperature=0.0, top_k=settings.top_k,
                                    retrieval=settings.retrieval, max_tokens=settings.max_answer_tokens)  # type: ignore[arg-type]
                stream = svc.chat.ask(question, engine)
                for _ in stream:
                    pass
                ranked = svc.retriever.search(name, q["question"], 5, settings.retrieval).chunks  # type: ignore[arg-type]
                row = score(q, stream.answer, ranked)
                stats = getattr(getattr(stream, "_generation", None), "stats", None)
                row["prompt_tokens"] = getattr(stats, "prompt_tokens", None)
                rows.append(row)
                print(f"  {name} {len(rows)}: contained={row['contained']} refused={row['refused']} rank={row['rank']} "
                      f"ft={row['first_token_ms']} {row['answer'][:60]!r}", flush=True)
            summary = summarise(rows)
            summary["wall_s"] = round(time.perf_counter() - started)
            results[name] = {"summary": summary, "rows": rows}
            print(name, json.dumps(summary))
        svc.close()
    if ns.out:
        Path(ns.out).write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
