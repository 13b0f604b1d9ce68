"""Benchmark: answer the 45 sample questions with the embedded engine in `base` and `rag` modes.

Run: `.venv/bin/python -m benchmarks.chat [--modes base,rag] [--limit N]`. Prints, per mode, how many
answers contain the reference answer, and first-token latency and generation speed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from benchmarks.common import samples_on_embedded
from core.chat.service import Question


def normalise(text: str) -> str:
    """Lower case with single spaces, for a lenient 'contains the reference' check."""
    return " ".join(text.lower().replace("°", " ° ").split())


def main() -> None:
    """Print accuracy and speed per mode."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--modes", default="base,rag")
    parser.add_argument("--limit", type=int, default=0, help="questions per document (0: all)")
    ns = parser.parse_args()
    with samples_on_embedded(False, ns.limit or None) as (svc, engine, questions):
        settings = svc.settings
        load_s = engine.warm_up()  # the model is loaded once: this is the time that load took
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


if __name__ == "__main__":
    main()
