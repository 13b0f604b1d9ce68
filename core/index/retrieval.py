"""Retrieval methods: `dense` (embeddings in Chroma) or `fused` (BM25 + dense, fused by reciprocal rank).

(`fused` was called `hybrid` before; that name now belongs only to the chat mode "fine-tuned variant +
retrieved passages", and `core.config.retrieval_method` still maps the old setting value.)

Fused retrieval ends with a light re-ranking of its candidates by question-word coverage: each fused score is
scaled by the share of the question's content words that the passage contains (`question_coverage`, the same
term scoring that decides "nothing relevant"). Reciprocal-rank fusion rewards agreement between the two lists,
so a page that BM25 ranks first but MiniLM ranks 14th (a question naming a case whose name heads every page,
"When was … argued?") lost to pages both ranked middling; the one passage that also holds "argued" now wins.
Measured in README, "Answer quality on the embedded engine (issue 9)", retrieval levers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol, TypeGuard, get_args

from core.base.chunks import Chunk
from core.base.words import question_coverage
from core.index.embeddings import Embedder
from core.index.store import Hit, VectorStore

Method = Literal["dense", "fused"]
RRF_K = 60  # the constant from Cormack et al.; damps the weight of top ranks
CANDIDATES = 20  # fused retrieval: at least this many from each list are fused and re-ranked (4 × k when larger)


def is_method(name: str) -> TypeGuard[Method]:
    """Whether `name` is a retrieval method (a setting or a saved run holds it as a plain string)."""
    return name in get_args(Method)


@dataclass(frozen=True)
class Retrieval:
    """The chunks found for one question, best first, and how long it took."""

    chunks: list[Chunk]
    method: Method
    ms: float
    best_similarity: float  # cosine similarity of the closest chunk by embedding: "is anything relevant?"


class Searcher(Protocol):
    """What the chat asks of retrieval: the index's `Retriever`, or the results a background run recorded first."""

    def search(self, collection: str, question: str, k: int, method: Method = "dense") -> Retrieval:
        """The top `k` chunks for `question`."""
        ...


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
        dense = self.store.query(collection, vector, k if method == "dense" else candidates(k))
        if method == "dense":
            chunks = [h.chunk.scored(h.score, h.score) for h in dense]
        else:
            chunks = self._fused(collection, question, dense, k)
        best = max((h.score for h in dense), default=0.0)
        return Retrieval(chunks, method, (time.perf_counter() - started) * 1000, best)

    def keyword_wait(self, collection: str, method: Method) -> str:
        """What the first `method` search of `collection` in this process waits for, in words ("" when nothing)."""
        if method != "fused":
            return ""
        step = self.store.keywords.next_search(collection)
        if step == "ready":
            return ""
        chunks = self.store.count(collection)
        if step == "load":
            return f"Loading the keyword index of '{collection}' ({chunks:,} chunks): once after the app starts."
        return (
            f"Building the keyword index of '{collection}' ({chunks:,} chunks) before searching: once, the next "
            "questions will not wait."
        )

    def prepare(self, collection: str, method: Method) -> None:
        """Load (or build) now what the first `method` search would: the keyword index, for `fused`."""
        if method == "fused":
            self.store.prepare_keywords(collection)

    def _fused(self, collection: str, question: str, dense: list[Hit], k: int) -> list[Chunk]:
        pool = candidates(k)
        fused: dict[str, float] = {}
        by_id: dict[str, Chunk] = {}
        for rank, hit in enumerate(dense):
            fused[hit.chunk.chunk_id] = fused.get(hit.chunk.chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            by_id[hit.chunk.chunk_id] = hit.chunk
        # The keyword index answers from the question's posting lists; only the few winners it adds are read back.
        for rank, (cid, _score) in enumerate(self.store.keyword_search(collection, question, pool)):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
        shortlist = sorted(fused, key=fused.get, reverse=True)[:pool]  # type: ignore[arg-type]
        by_id.update(
            (c.chunk_id, c) for c in self.store.get_chunks(collection, [cid for cid in shortlist if cid not in by_id])
        )
        found = [by_id[cid] for cid in shortlist if cid in by_id]
        scores = rerank(question, found, [fused[c.chunk_id] for c in found])
        cosine = {
            hit.chunk.chunk_id: hit.score for hit in dense
        }  # shown to users: a rank-fusion value is not a similarity
        best = sorted(range(len(found)), key=lambda i: -scores[i])[:k]  # stable: equal scores keep the fused order
        return [found[i].scored(scores[i], cosine.get(found[i].chunk_id)) for i in best]


def candidates(k: int) -> int:
    """How many chunks fused retrieval takes from each list, fuses and re-ranks, for `k` wanted."""
    return max(k * 4, CANDIDATES)


def rerank(question: str, chunks: list[Chunk], scores: list[float]) -> list[float]:
    """Each score scaled by the share of the question's content words its chunk contains (0–1).

    A general rule, not a tuned one: a passage that lacks half of what the question names is half as likely
    to answer it. Cost: the words of the shortlisted chunks only, never the collection.
    """
    return [score * question_coverage(question, [chunk.text]) for chunk, score in zip(chunks, scores)]
