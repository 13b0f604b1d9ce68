"""Retrieval methods: `dense` (embeddings in Chroma) or `fused` (BM25 + dense, fused by reciprocal rank).

(`fused` was called `hybrid` before; that name now belongs only to the chat mode "fine-tuned variant +
retrieved passages", and `core.config.retrieval_method` still maps the old setting value.)"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from core.embeddings import Embedder
from core.text import tokenize
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
        self._bm25: dict[str, tuple[int, object, list[Chunk]]] = {}
        self._lock = threading.Lock()

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
        bm25, records = self._bm25_index(collection)
        fused: dict[str, float] = {}
        by_id: dict[str, Chunk] = {}
        for rank, hit in enumerate(dense):
            fused[hit.chunk.chunk_id] = fused.get(hit.chunk.chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            by_id[hit.chunk.chunk_id] = hit.chunk
        terms = tokenize(question)
        if bm25 is not None and terms:
            scores = bm25.get_scores(terms)
            ranked = sorted(range(len(records)), key=lambda i: scores[i], reverse=True)[:pool]
            for rank, i in enumerate(ranked):
                if scores[i] <= 0:
                    break
                cid = records[i].chunk_id
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
                by_id[cid] = records[i]
        best = sorted(fused, key=fused.get, reverse=True)[:k]  # type: ignore[arg-type]
        cosine = {hit.chunk.chunk_id: hit.score for hit in dense}  # shown to users: a rank-fusion value is not a similarity
        return [by_id[cid].scored(fused[cid], cosine.get(cid)) for cid in best]

    def _bm25_index(self, collection: str) -> tuple[object | None, list[Chunk]]:
        """A BM25 index of the collection, rebuilt only when its chunks change."""
        info = self.store.collection_info(collection)
        # Chunk ids derive from content hashes, so the id set plus the chunking settings identify the content.
        version = hash((tuple(sorted(self.store.chunk_ids(collection))), info.chunk_size, info.chunk_overlap))
        with self._lock:
            cached = self._bm25.get(collection)
            if cached is not None and cached[0] == version:
                return cached[1], cached[2]
        records = self.store.all_chunks(collection)
        if not records:
            return None, []
        from rank_bm25 import BM25Okapi

        index = BM25Okapi([tokenize(r.text) for r in records])
        with self._lock:
            self._bm25[collection] = (version, index, records)
        return index, records
