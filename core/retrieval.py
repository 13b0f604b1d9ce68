"""Retrieval methods: `dense` (embeddings in Chroma) or `fused` (BM25 + dense, fused by reciprocal rank).

(`fused` was called `hybrid` before; that name now belongs only to the chat mode "fine-tuned variant +
retrieved passages", and `core.config.retrieval_method` still maps the old setting value.)"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Literal

from core.embeddings import Embedder
from core.store import ChunkRecord, VectorStore

Method = Literal["dense", "fused"]
RRF_K = 60  # the constant from Cormack et al.; damps the weight of top ranks
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk retrieved for a question, with what a citation needs."""

    chunk_id: str
    doc_id: str
    source: str
    page: int
    text: str
    score: float
    start: int = 0
    end: int = 0
    similarity: float | None = None  # cosine similarity to the question (the score is a rank-fusion value in fused retrieval)

    @classmethod
    def of(cls, chunk: ChunkRecord, score: float, similarity: float | None = None) -> "RetrievedChunk":
        """Wrap a stored chunk with its score (and its cosine similarity when known)."""
        return cls(chunk.chunk_id, chunk.doc_id, chunk.source, chunk.page, chunk.text, score, chunk.start, chunk.end, similarity)


@dataclass(frozen=True)
class Retrieval:
    """The chunks found for one question, best first, and how long it took."""

    chunks: list[RetrievedChunk]
    method: Method
    ms: float
    best_similarity: float  # cosine similarity of the closest chunk by embedding: "is anything relevant?"


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens for BM25."""
    return _TOKEN.findall(text.lower())


class Retriever:
    """Finds the chunks of a collection that best match a question."""

    def __init__(self, store: VectorStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._bm25: dict[str, tuple[int, object, list[ChunkRecord]]] = {}
        self._lock = threading.Lock()

    def search(self, collection: str, question: str, k: int, method: Method = "dense") -> Retrieval:
        """The top `k` chunks for `question`."""
        started = time.perf_counter()
        self.store.check_embedding_model(collection, self.embedder.name)
        vector = self.embedder.embed([question])[0]
        dense = self.store.query(collection, vector, k if method == "dense" else max(k * 4, 20))
        if method == "dense":
            chunks = [RetrievedChunk.of(h.chunk, h.score, h.score) for h in dense]
        else:
            chunks = self._fused(collection, question, dense, k)
        best = max((h.score for h in dense), default=0.0)
        return Retrieval(chunks, method, (time.perf_counter() - started) * 1000, best)

    def _fused(self, collection: str, question: str, dense: list, k: int) -> list[RetrievedChunk]:
        pool = len(dense)
        bm25, records = self._bm25_index(collection)
        fused: dict[str, float] = {}
        by_id: dict[str, ChunkRecord] = {}
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
        cosine = {hit.chunk.chunk_id: hit.score for hit in dense}
        return [RetrievedChunk.of(by_id[cid], fused[cid], cosine.get(cid)) for cid in best]

    def _bm25_index(self, collection: str) -> tuple[object | None, list[ChunkRecord]]:
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
