"""Retrieval methods: `dense` (embeddings in Chroma) or `fused` (BM25 + dense, fused by reciprocal rank).

(`fused` was called `hybrid` before; that name now belongs only to the chat mode "fine-tuned variant +
retrieved passages", and `core.config.retrieval_method` still maps the old setting value.)"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from core.embeddings import Embedder
from core.chunks import Chunk
from core.store import VectorStore

Method = Literal["dense", "fused"]
RRF_K = 60  # the constant from Cormack et al.; damps the weight of top ranks


@dataclass(frozen=True)
class Retrieval:
    """The chunks found for one question, best first, and how long it took."""

    chunks: list[Chunk]
    method: Method
    ms: float
    best_similarity: float  # cosine similarity of the closest chunk by embedding: "is anything relevant?"


class Retriever:
    """Finds the chunks of a collection that best match a question."""

    def __init__(self, store: VectorStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def search(self, collection: str, question: str, k: int, method: Method = "dense") -> Retrieval:
        """The top `k` chunks for `question`."""
        started = time.perf_counter()
        self.store.check_embedding_model(collection, self.embedder.name)
        vector = self.embedder.embed([question])[0]
        dense = self.store.query(collection, vector, k if method == "dense" else max(k * 4, 20))
        if method == "dense":
            chunks = [h.chunk.scored(h.score, h.score) for h in dense]
        else:
            chunks = self._fused(collection, question, dense, k)
        best = max((h.score for h in dense), default=0.0)
        return Retrieval(chunks, method, (time.perf_counter() - started) * 1000, best)

    def _fused(self, collection: str, question: str, dense: list, k: int) -> list[Chunk]:
        pool = len(dense)
        fused: dict[str, float] = {}
        by_id: dict[str, Chunk] = {}
        for rank, hit in enumerate(dense):
            fused[hit.chunk.chunk_id] = fused.get(hit.chunk.chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            by_id[hit.chunk.chunk_id] = hit.chunk
        # The keyword index answers from the question's posting lists; only the few winners it adds are read back.
        for rank, (cid, _score) in enumerate(self.store.keyword_search(collection, question, pool)):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused, key=fused.get, reverse=True)[:k]  # type: ignore[arg-type]
        by_id.update((c.chunk_id, c) for c in self.store.get_chunks(collection, [cid for cid in best if cid not in by_id]))
        cosine = {hit.chunk.chunk_id: hit.score for hit in dense}  # shown to users: a rank-fusion value is not a similarity
        return [by_id[cid].scored(fused[cid], cosine.get(cid)) for cid in best if cid in by_id]
