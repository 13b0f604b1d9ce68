"""Retrieval recorded before a background run, replayed inside it.

The on-disk index admits one process at a time (core/store.py's lock), and the app holds it. A background
evaluation therefore does not open the index: the starter runs the real retriever for every question of the
run first (≈20–50 ms each) and hands the results to the job with its config; inside the job the chat service
gets a `RecordedRetriever` that returns exactly those results. The answers are the ones the chat would give,
because retrieval depends only on the collection, the question, k and the method, all fixed for a run.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Iterable, Mapping, Sequence

from core.base.chunks import Chunk
from core.errors import EvaluationError
from core.index.embeddings import Embedder
from core.index.retrieval import Retrieval, Searcher, is_method

RETRIEVAL_FILE = "retrieval.jsonl"


def _key(collection: str, question: str, k: int, method: str) -> str:
    return json.dumps([collection, question, int(k), method])


def record_retrievals(
    retriever: Searcher, collection: str, questions: Iterable[str], k: int, method: str
) -> list[dict[str, Any]]:
    """Run the real retriever once per distinct question; JSON-ready records for `RecordedRetriever`."""
    if not is_method(method):
        raise EvaluationError(f"Retrieval method {method!r} is not known: use dense or fused.")
    records: dict[str, dict[str, Any]] = {}
    for question in questions:
        key = _key(collection, question, k, method)
        if key not in records:
            records[key] = {"key": key, "retrieval": asdict(retriever.search(collection, question, k, method))}
    return list(records.values())


class RecordedRetriever:
    """Answers `search` from recorded results: a `Searcher`, as the index's `Retriever` is."""

    def __init__(self, records: Sequence[Mapping[str, Any]], embedder: Embedder | None = None) -> None:
        self.embedder = embedder
        self._found: dict[str, Retrieval] = {}
        for raw in records:
            found = dict(raw["retrieval"])
            found["chunks"] = [Chunk(**c) for c in found["chunks"]]
            self._found[str(raw["key"])] = Retrieval(**found)

    def search(self, collection: str, question: str, k: int, method: str = "dense") -> Retrieval:
        """The recorded retrieval for this question, k and method."""
        found = self._found.get(_key(collection, question, k, method))
        if found is None:
            raise EvaluationError(
                f"No recorded retrieval for {question!r} (k={k}, {method}) in this run: start the run again "
                "from the Evaluate page or `python -m core eval`, which record it first."
            )
        return found
