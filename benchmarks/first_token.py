"""Benchmark (goal 3): time to the first token of a RAG answer against base mode + retrieval, embedded engine.

Run: `.venv/bin/python -m benchmarks.first_token [--limit 5]`.

The sample documents are indexed, the embedded engine (bundled Gemma 3 270M) is loaded once, and the
same questions are asked in `base` and `rag` mode (greedy), alternating so machine load hits both.
The goal is rag first token ≤ 1.2 × (base first token + retrieval time). RAG is timed with the app's kept
prompt prefix and without it (before), alternating, in the same run. The answers' quality on the
sample questions is `benchmarks.chat`'s and `benchmarks.quality`'s job; this prints the prompt size too.
"""

from __future__ import annotations

from benchmarks.common import Row, median, per_document_main, samples_on_embedded
from core.chat.service import Question


def run(tiny: bool = False, limit: int = 5) -> list[Row]:
    """Median first-token times per mode over `limit` questions per sample document (`tiny`: one question, one
    document).

    The RAG questions run twice in the same run, alternating with base-mode ones: with the kept prefix (the app)
    and without it (before: the instructions and worked examples read again after every base-mode question).
    """
    from core.engines import embedded

    with samples_on_embedded(tiny, limit) as (svc, engine, questions):
        settings = svc.settings
        first: dict[str, list[float]] = {"base": [], "rag": [], "rag, prefix not kept": []}
        retrieval, prompt_tokens, reused, threads = [], [], [], []
        kept = embedded.MIN_PREFIX_TOKENS
        for q in questions:
            for mode in ("base", "rag", "base", "rag, prefix not kept"):
                # the only switch: a prefix shorter than MIN_PREFIX_TOKENS is never kept
                embedded.MIN_PREFIX_TOKENS = kept if mode == "rag" else 10**9
                stream = svc.chat.ask(
                    Question(
                        q["question"],
                        mode.split(",")[0],
                        "bench",
                        engine.default_model,
                        temperature=0.0,  # type: ignore[arg-type]
                        top_k=settings.top_k,
                        retrieval=settings.retrieval,
                    ),
                    engine,
                )  # type: ignore[arg-type]
                "".join(stream)
                t = stream.answer.timings
                if t.get("first_token_ms") is not None:
                    first[mode].append(float(t["first_token_ms"]))  # type: ignore[arg-type]
                stats = stream._generation.stats if stream._generation is not None else None  # type: ignore[union-attr]
                if mode == "rag":
                    retrieval.append(float(t.get("retrieval_ms") or 0.0))
                    if t.get("prompt_tokens"):
                        prompt_tokens.append(float(t["prompt_tokens"]))  # type: ignore[arg-type]
                    if stats is not None:
                        reused.append(float(stats.reused_prompt_tokens))
                        threads.append(float(stats.batch_threads or 0))
        embedded.MIN_PREFIX_TOKENS = kept
    base, rag, before, ret = (
        median(first["base"]),
        median(first["rag"]),
        median(first["rag, prefix not kept"]),
        median(retrieval),
    )
    return [
        Row("3 first token", f"base mode ({len(questions)} questions)", base, "ms median"),
        Row("3 first token", "retrieval (fused)", ret, "ms median"),
        Row(
            "3 first token",
            "rag mode, shared prefix not kept (before)",
            before,
            "ms median",
            f"{before / (base + ret):.2f} × (base + retrieval)",
        ),
        Row(
            "3 first token",
            "rag mode, shared prefix kept (after)",
            rag,
            "ms median",
            f"{rag / (base + ret):.2f} × (base + retrieval); prompt {median(prompt_tokens):.0f} tokens, "
            f"{median(reused):.0f} kept; batch threads {median(threads):.0f}",
        ),
    ]


def main() -> None:
    """Print the first-token table."""
    per_document_main(__doc__, run)


if __name__ == "__main__":
    main()
