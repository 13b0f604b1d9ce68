"""Benchmark: ingest the sample documents, then measure embedding throughput and retrieval quality.

Run: `.venv/bin/python -m benchmarks.retrieval` (uses a temporary data directory; prints figures).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from core.config import Settings
from core.library.service import UploadedFile
from core.services import build_services

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_docs"


def main() -> None:
    """Print ingestion time and hit@k of dense and fused retrieval on the 45 sample questions."""
    with tempfile.TemporaryDirectory() as tmp:
        svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=Path(tmp)))
        files = [p for p in sorted(SAMPLES.iterdir()) if p.suffix in (".pdf", ".docx")]
        svc.embedder.embed(["warm-up"])  # load the model outside the timing
        started = time.perf_counter()
        results = svc.library.ingest("bench", [UploadedFile(p.name, p.read_bytes()) for p in files])
        ingest_s = time.perf_counter() - started
        chunks = sum(r.chunks for r in results)
        print(f"machine: {platform.machine()}, {platform.python_version()}, {__import__('os').cpu_count()} cores")
        print(
            f"ingest: {len(results)} files, {sum(r.pages for r in results)} pages, {chunks} chunks in {ingest_s:.1f} s "
            f"({chunks / ingest_s:.1f} chunks/s, including parsing in a child process)"
        )
        questions = [
            json.loads(line)
            for q in sorted(SAMPLES.glob("*.questions.jsonl"))
            for line in q.read_text().splitlines()
            if line.strip()
        ]
        for method in ("dense", "fused"):
            for k in (1, 3, 5):
                hits, ms = 0, 0.0
                for q in questions:
                    found = svc.retriever.search("bench", q["question"], k, method)
                    ms += found.ms
                    hits += any(c.source == q["source"] and c.page == q["page"] for c in found.chunks)
                print(
                    f"retrieval {method:6s} hit@{k}: {hits}/{len(questions)} ({hits / len(questions):.0%}), mean "
                    f"{ms / len(questions):.1f} ms/question"
                )
        svc.close()


if __name__ == "__main__":
    main()
