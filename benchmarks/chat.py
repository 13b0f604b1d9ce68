"""Benchmark: answer the 45 sample questions with the embedded engine in `base` and `rag` modes.

Run: `.venv/bin/python -m benchmarks.chat [--modes base,rag] [--limit N]`. Prints, per mode, how many
answers contain the reference answer, and first-token latency and generation speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from core.chat.service import Question
from core.config import Settings
from core.engines.embedded import EmbeddedEngine
from core.library.service import UploadedFile
from core.services import build_services

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_docs"


def normalise(text: str) -> str:
    """Lower case with single spaces, for a lenient 'contains the reference' check."""
    return " ".join(text.lower().replace("°", " ° ").split())


def main() -> None:
    """Print accuracy and speed per mode."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="base,rag")
    parser.add_argument("--limit", type=int, default=0, help="questions per document (0: all)")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(env={}, dotenv=None, data_dir=Path(tmp), engine="embedded")
        svc = build_services(settings)
        files = [p for p in sorted(SAMPLES.iterdir()) if p.suffix in (".pdf", ".docx")]
        svc.library.ingest("bench", [UploadedFile(p.name, p.read_bytes()) for p in files])
        engine = EmbeddedEngine(settings)
        load_s = engine.warm_up()
        questions = []
        for qfile in sorted(SAMPLES.glob("*.questions.jsonl")):
            rows = [json.loads(line) for line in qfile.read_text().splitlines() if line.strip()]
            questions += rows[: ns.limit] if ns.limit else rows
        print(
            f"machine: {platform.machine()}, Python {platform.python_version()}, {__import__('os').cpu_count()} cores; "
            f"model load {load_s:.2f} s"
        )
        for mode in ns.modes.split(","):
            correct, first, speed, totals = 0, [], [], []
            started = time.perf_counter()
            for q in questions:
                stream = svc.chat.ask(
                    Question(
                        q["question"],
                        mode,
                        "bench",
                        engine.default_model,
                        temperature=0.0,  # type: ignore[arg-type]
                        top_k=settings.top_k,
                        retrieval=settings.retrieval,
                    ),
                    engine,
                )  # type: ignore[arg-type]
                text = "".join(stream)
                t = stream.answer.timings
                correct += normalise(q["answer"]) in normalise(text)
                if t.get("first_token_ms") is not None:
                    first.append(t["first_token_ms"])
                if t.get("tokens_per_s"):
                    speed.append(t["tokens_per_s"])
                totals.append(t["total_ms"])
            wall = time.perf_counter() - started
            print(
                f"{mode:9s} contains reference: {correct}/{len(questions)} ({correct / len(questions):.0%}); "
                f"first token median {statistics.median(first):.0f} ms; {statistics.median(speed):.0f} tok/s median; "
                f"answer median {statistics.median(totals) / 1000:.1f} s; {wall:.0f} s for all"
            )
        svc.close()


if __name__ == "__main__":
    main()
