"""Benchmark (goal 3): time to the first token of a RAG answer against base mode + retrieval, embedded engine.

Run: `.venv/bin/python -m benchmarks.first_token [--limit 5]`.

The sample documents are indexed, the embedded engine (bundled Gemma 3 270M) is loaded once, and the
same questions are asked in `base` and `rag` mode (greedy), alternating so machine load hits both.
The goal is rag first token ≤ 1.2 × (base first token + retrieval time). The answers' quality on the
sample questions is `benchmarks.chat`'s and `benchmarks.quality`'s job; this prints the prompt size too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.common import SAMPLES, Row, machine, median, table
from core.chat import Question
from core.config import Settings
from core.library import UploadedFile
from core.services import build_services


def run(tiny: bool = False, limit: int = 5) -> list[Row]:
    """Median first-token times per mode over `limit` questions per sample document (`tiny`: one question, one document)."""
    from core.engines.embedded import EmbeddedEngine

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(env={}, dotenv=None, data_dir=Path(tmp), engine="embedded")
        svc = build_services(settings)
        try:
            docs = [p for p in sorted(SAMPLES.iterdir()) if p.suffix in (".pdf", ".docx")][: 1 if tiny else None]
            svc.library.ingest("bench", [UploadedFile(p.name, p.read_bytes()) for p in docs])
            engine = EmbeddedEngine(settings)
            engine.warm_up()
            questions = []
            for doc in docs:
                qfile = doc.with_name(doc.name.rsplit(".", 1)[0] + ".questions.jsonl")
                rows = [json.loads(line) for line in qfile.read_text().splitlines() if line.strip()]
                questions += rows[: 1 if tiny else limit]
            first: dict[str, list[float]] = {"base": [], "rag": []}
            retrieval, prompt_tokens = [], []
            for q in questions:
                for mode in ("base", "rag"):
                    stream = svc.chat.ask(Question(q["question"], mode, "bench", engine.default_model, temperature=0.0,  # type: ignore[arg-type]
                                                   top_k=settings.top_k, retrieval=settings.retrieval), engine)  # type: ignore[arg-type]
                    "".join(stream)
                    t = stream.answer.timings
                    if t.get("first_token_ms") is not None:
                        first[mode].append(float(t["first_token_ms"]))  # type: ignore[arg-type]
                    if mode == "rag":
                        retrieval.append(float(t.get("retrieval_ms") or 0.0))
                        if t.get("prompt_tokens"):
                            prompt_tokens.append(float(t["prompt_tokens"]))  # type: ignore[arg-type]
        finally:
            svc.close()
    base, rag, ret = median(first["base"]), median(first["rag"]), median(retrieval)
    return [
        Row("3 first token", f"base mode ({len(questions)} questions)", base, "ms median"),
        Row("3 first token", "retrieval (fused)", ret, "ms median"),
        Row("3 first token", "rag mode", rag, "ms median", f"{rag / (base + ret):.2f} × (base + retrieval); prompt {median(prompt_tokens):.0f} tokens"),
    ]


def main() -> None:
    """Print the first-token table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=5, help="questions per sample document")
    parser.add_argument("--tiny", action="store_true")
    ns = parser.parse_args()
    print(machine())
    print(table(run(ns.tiny, ns.limit)))


if __name__ == "__main__":
    main()
