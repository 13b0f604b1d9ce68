"""Benchmark: what judging an answer's confidence costs at answer time, embedded engine.

Run: `.venv/bin/python -m benchmarks.confidence_cost [--limit 5]`.

Two costs: recording the answer's token probabilities while it is generated (a log-sum-exp over the bundled
model's 262k-wide logit row per token, core/engines/embedded.py `_TokenLogprobs`) and judging the finished answer
(core/chat/confidence.py: the signals and the fitted model, no model call). The sample documents are indexed and
the same `rag` questions asked twice, alternating "recording" and "not recording" (the recorder's step replaced by a
pass-through) so machine load hits both; greedy, so both give the same answers. Printed: median first token and total
time of each, their ratio, and the median time of the judgement itself. Goal: first token unchanged, total ≤ +5%.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import Row, median, per_document_main, samples_on_embedded
from core.chat.confidence import judge_answer
from core.chat.service import Question


def run(tiny: bool = False, limit: int = 5) -> list[Row]:
    """Median first-token and total times of `rag` answers with and without the token-probability recorder."""
    from core.engines import embedded

    recording = embedded._TokenLogprobs.__call__

    def passing(self: Any, input_ids: Any, scores: Any) -> Any:
        return scores

    with samples_on_embedded(tiny, limit) as (svc, engine, questions):
        settings = svc.settings
        first: dict[str, list[float]] = {"recording": [], "not recording": []}
        total: dict[str, list[float]] = {"recording": [], "not recording": []}
        judged: list[float] = []
        same = 0
        try:
            for q in questions:
                texts = []
                for arm in ("recording", "not recording"):
                    embedded._TokenLogprobs.__call__ = recording if arm == "recording" else passing  # type: ignore[method-assign]
                    stream = svc.chat.ask(
                        Question(
                            q["question"],
                            "rag",
                            "bench",
                            engine.default_model,
                            top_k=settings.top_k,
                            temperature=0.0,
                            retrieval=settings.retrieval,  # type: ignore[arg-type]  # a checked Method
                        ),
                        engine,
                    )
                    "".join(stream)
                    t = stream.answer.timings
                    texts.append(stream.answer.text)
                    if t.get("first_token_ms") is not None and t.get("generation_ms") is not None:
                        first[arm].append(float(t["first_token_ms"]))  # type: ignore[arg-type]
                        total[arm].append(float(t["generation_ms"]))  # type: ignore[arg-type]
                    if arm == "recording":
                        answer = stream.answer
                        started = time.perf_counter()
                        judge_answer(q["question"], answer.text, [s.text for s in answer.sources])
                        judged.append((time.perf_counter() - started) * 1000)
                same += texts[0] == texts[1]
        finally:
            embedded._TokenLogprobs.__call__ = recording  # type: ignore[method-assign]
    n = len(questions)
    f_on, f_off = median(first["recording"]), median(first["not recording"])
    t_on, t_off = median(total["recording"]), median(total["not recording"])
    return [
        Row(
            "confidence cost", f"first token, token probabilities not recorded ({n} rag questions)", f_off, "ms median"
        ),
        Row("confidence cost", "first token, recorded", f_on, "ms median", f"{f_on / f_off:.3f} × not recorded"),
        Row("confidence cost", "generation, not recorded", t_off, "ms median"),
        Row(
            "confidence cost",
            "generation, recorded",
            t_on,
            "ms median",
            f"{t_on / t_off:.3f} × not recorded; the same answer {same} of {n} times",
        ),
        Row("confidence cost", "judging the finished answer (signals + model)", median(judged), "ms median"),
    ]


def main() -> None:
    """Print the confidence-cost table."""
    per_document_main(__doc__, run)


if __name__ == "__main__":
    main()
