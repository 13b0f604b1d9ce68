"""Benchmark: answer quality of `rag` on the embedded engine, on the sample set and the public set.

Run: `.venv/bin/python -m benchmarks.quality [--sets samples,public,public2] [--docs DIR] [--data-dir DIR] [--limit N]`.
`--retrieval-only` skips answering: it prints, per set and per method (dense, fused), how often the right page
is first and among the first five, and the median retrieval time per question (`--misses` adds every question
whose right page is not first, with what ranked above it). With `--data-dir` the index is kept between runs.

Each set's documents are indexed into a collection of the set's name, then the questions are answered and
scored by the evaluation service (`python -m core eval`, the Evaluate page's scorer: strict containment,
token F1, refusals, "not supported" flags, citations, hit@k). Beside it this prints where the right page
ranks among the first five retrieved passages (goal: first ≥ 70%, top five ≥ 95%), which the answers
themselves cannot show when fewer passages are sent.

The public sets' PDFs are not committed: `eval_sets/public/README.md` and `eval_sets/public2/README.md` say where
each comes from. `public2` (forms/statements, medical papers, an OSHA manual, two court rulings) is not in the
default `--sets`; name it to run it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import machine
from core.config import Settings
from core.evaluation import metrics
from core.evaluation.runs import EvalConfig
from core.library.service import UploadedFile
from core.services import Services, build_services

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "samples": (
        ROOT / "sample_docs",
        [f"sample:{p.name}" for p in sorted((ROOT / "sample_docs").glob("*.questions.jsonl"))],
    ),
    "public": (ROOT / "eval_sets" / "public" / "docs", [str(ROOT / "eval_sets" / "public" / "public.questions.jsonl")]),
    "public2": (
        ROOT / "eval_sets" / "public2" / "docs",
        [str(ROOT / "eval_sets" / "public2" / "public2.questions.jsonl")],
    ),
}
FIGURES = (
    "correct_n",
    "answerable",
    "correct",
    "f1",
    "declined_unanswerable",
    "refused_unanswerable",
    "refused_answerable",
    "flagged_answerable",
    "unsupported_citations",
    "hit_1",
    "first_token_p50_ms",
    "total_p50_ms",
    "prompt_tokens",
)


def index(svc: Services, collection: str, folder: Path) -> None:
    """Index the set's documents (already indexed ones are reported as duplicates and skipped)."""
    # A folder's README describes the set (sample_docs/README.md lists the manual's error codes): it is not one of its
    # documents.
    files = [
        p
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in (".pdf", ".docx", ".txt", ".md") and p.name.lower() != "readme.md"
    ]
    if not files:
        raise SystemExit(f"No documents in {folder}: see the README.md beside it for where the set's PDFs come from.")
    svc.library.ingest(collection, [UploadedFile(p.name, p.read_bytes()) for p in files])


def rank_among_five(svc: Services, collection: str, questions: list[Any], method: str) -> dict[str, int]:
    """How many answerable questions have the right page first, and among the first five passages."""
    first = top5 = n = 0
    for q in questions:
        if q.unanswerable or not q.source:
            continue
        n += 1
        found = svc.retriever.search(collection, q.question, 5, method).chunks  # type: ignore[arg-type]
        rank = metrics.reference_rank([(c.source, c.page) for c in found], q.source, q.page, q.pages)
        first += rank == 1
        top5 += rank is not None and rank <= 5
    return {"questions": n, "right_page_first": first, "right_page_top5": top5}


def rank_report(
    svc: Services, collection: str, questions: list[Any], method: str, misses: bool = False
) -> dict[str, Any]:
    """Right page first / among the first five for one method, the median retrieval time, and (optionally) the
    misses."""
    first = top5 = n = 0
    times: list[float] = []
    for q in questions:
        if q.unanswerable or not q.source:
            continue
        n += 1
        found = svc.retriever.search(collection, q.question, 5, method)  # type: ignore[arg-type]
        times.append(found.ms)
        passages = [(c.source, c.page) for c in found.chunks]
        rank = metrics.reference_rank(passages, q.source, q.page, q.pages)
        first += rank == 1
        top5 += rank is not None and rank <= 5
        if misses and rank != 1:
            print(
                f"  [{method}] rank {rank}: {q.question!r} -> {q.answer!r} "
                f"on {q.source} p.{sorted({q.page, *q.pages})}",
                flush=True,
            )
            for c in found.chunks[: (rank or 6) - 1]:
                print(
                    f"      above: {c.source} p.{c.page} ({(c.similarity or 0):.2f}) "
                    f"{' '.join(c.text.split())[:110]!r}",
                    flush=True,
                )
    return {
        "questions": n,
        "first": first,
        "top5": top5,
        "p50_ms": round(statistics.median(times), 1) if times else None,
    }


def main() -> None:
    """Answer every question of the chosen sets in `rag` mode and print one JSON line per set."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="samples,public")
    parser.add_argument(
        "--docs",
        default=None,
        help="folder holding the PDFs of the public set named in --sets (default eval_sets/<set>/docs)",
    )
    parser.add_argument("--data-dir", default=None, help="reuse this data directory (the index is kept between runs)")
    parser.add_argument("--modes", default="rag")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions of each set (a quick trial)")
    parser.add_argument(
        "--retrieval-only",
        action="store_true",
        help="measure where the right page ranks (dense and fused); answer nothing",
    )
    parser.add_argument(
        "--misses", action="store_true", help="with --retrieval-only: print each question whose right page is not first"
    )
    ns = parser.parse_args()
    if ns.docs and sum(name.startswith("public") for name in ns.sets.split(",")) > 1:
        parser.error(
            "--docs names the folder of one public set: run the public sets one at a time, or put their PDFs in "
            "eval_sets/<set>/docs"
        )
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(data_dir=Path(ns.data_dir or tmp), engine="embedded")
        svc = build_services(settings)
        try:
            for name in ns.sets.split(","):
                folder, refs = SETS[name]
                index(svc, name, Path(ns.docs) if name.startswith("public") and ns.docs else folder)
                questions = [q for ref in refs for q in svc.evaluation.load_question_set(ref)]
                questions = questions[: ns.limit] if ns.limit else questions
                if ns.retrieval_only:
                    svc.retriever.search(name, "warm-up", 1)  # load the model outside the timing
                    for method in ("dense", "fused"):
                        print(
                            json.dumps(
                                {"set": name, "method": method, **rank_report(svc, name, questions, method, ns.misses)}
                            ),
                            flush=True,
                        )
                    continue
                config = EvalConfig(
                    collection=name,
                    arms=ns.modes.split(","),
                    engine="embedded",
                    top_k=settings.top_k,
                    retrieval=settings.retrieval,
                    question_set=name,
                    label=f"benchmark {name}",
                )
                run = svc.evaluation.run(config, questions)
                out: dict[str, Any] = {
                    "set": name,
                    "run_id": run.run_id,
                    **rank_among_five(svc, name, questions, settings.retrieval),
                }
                for arm, splits in run.summary["arms"].items():
                    out[arm] = {k: splits["all"].get(k) for k in FIGURES}
                print(json.dumps(out), flush=True)
        finally:
            svc.close()


if __name__ == "__main__":
    main()
