"""Benchmark (goal 2): retrieval latency at 1k, 10k and 100k chunks, dense and fused, against bare Chroma.

Run: `.venv/bin/python -m benchmarks.retrieval_scale [--sizes 1000,10000,100000] [--backends disk,server]`.

The collections are synthetic: Zipf-distributed English-like text (so keyword statistics look real) with
random unit vectors as their embeddings, written straight through `VectorStore.add_chunks` — embedding
100k real chunks with the model would take half an hour here and would not change a query's cost.
Questions are eight words taken from a random chunk; each question *is* embedded with the real
all-MiniLM-L6-v2, as in the app. "bare Chroma" is `collection.query` with the same vector, k and fields.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, SyntheticText, machine, median, percentile, table, unit_vectors
from core.base.chunks import Chunk
from core.config import Settings
from core.index.embeddings import SentenceTransformerEmbedder, embedder_label
from core.services import Services, build_services

COLLECTION = "bench"
K = 5


def rss_mb() -> float:
    """Resident memory of this process, in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def fill(svc: Services, n: int, text: SyntheticText, batch: int = 5000) -> tuple[list[str], float]:
    """Write `n` synthetic chunks (20 per document) through the store API; returns their texts and the seconds taken.

    Each synthetic document also gets its catalog row, as an upload leaves it: without one, the start-up
    recovery (core/recovery.py) takes the chunks for a killed upload's leftovers and deletes them.
    """
    from core.library.catalog import DocumentRecord

    svc.store.create_collection(
        COLLECTION, embedder_label(svc.settings), svc.settings.chunk_size, svc.settings.chunk_overlap
    )
    texts: list[str] = []
    started = time.perf_counter()
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        records = []
        for i in range(lo, hi):
            body = text.passage()
            texts.append(body)
            doc = hashlib.sha256(str(i // 20).encode()).hexdigest()
            records.append(
                Chunk(
                    f"{doc[:32]}-{i % 20:05d}", doc, f"synthetic-{i // 20}.txt", 1 + (i % 20) // 4, body, 0, len(body)
                )
            )
        svc.store.add_chunks(COLLECTION, records, unit_vectors(hi - lo, seed=lo))
        for doc in sorted({(c.doc_id, c.source) for c in records}):
            chunks = sum(1 for c in records if c.doc_id == doc[0])
            svc.catalog.upsert(
                DocumentRecord(
                    COLLECTION,
                    doc[0],
                    doc[1],
                    "txt",
                    5,
                    chunks,
                    1000 * chunks,
                    time.time(),
                    "indexed",
                    "",
                    "",
                    chunk_size=svc.settings.chunk_size,
                    chunk_overlap=svc.settings.chunk_overlap,
                )
            )
    return texts, time.perf_counter() - started


def measure(svc: Services, questions: list[str], method: str) -> list[float]:
    """Milliseconds per question of the app's retrieval (`Retriever.search`, question embedding included)."""
    return [svc.retriever.search(COLLECTION, q, K, method).ms for q in questions]  # type: ignore[arg-type]


def bare(svc: Services, vectors: list[list[float]]) -> list[float]:
    """Milliseconds per query of Chroma alone, same vector, k and fields as the store asks for."""
    collection = svc.store.client.get_collection(COLLECTION)  # the reference: Chroma itself, past our wrapper
    out = []
    for v in vectors:
        started = time.perf_counter()
        collection.query(query_embeddings=[v], n_results=K, include=["documents", "metadatas", "distances"])
        out.append((time.perf_counter() - started) * 1000)
    return out


def run_one(
    n: int,
    backend: str,
    n_questions: int,
    embedder: SentenceTransformerEmbedder,
    tmp: Path,
    torch_embedder: SentenceTransformerEmbedder,
) -> list[Row]:
    """Fill a store of `n` chunks on `backend` (disk|server), then time questions every way."""
    from tests.helpers.chroma_server import chroma_server

    label = f"{n // 1000}k {backend}" if n >= 1000 else f"{n} {backend}"
    text = SyntheticText(seed=n)
    data = tmp / f"{backend}-{n}"
    rows: list[Row] = []

    def body(settings: Settings) -> None:
        svc = build_services(settings, embedder=embedder)
        try:
            texts, fill_s = fill(svc, n, text)
            # An ingest's last step (DocumentLibrary.ingest): the keyword index built and saved whole, so the first
            # question below does not replay the fill's journal.
            started = time.perf_counter()
            svc.library.prepare_keywords(COLLECTION)
            keywords_s = time.perf_counter() - started
            rng = random.Random(3)
            questions = [text.question(rng.choice(texts)) for _ in range(n_questions)]
            vectors = embedder.embed(questions)
            embed_ms, torch_ms = [], []
            for q in questions:  # the app's question embedding (onnxruntime) and PyTorch's, alternating
                started = time.perf_counter()
                embedder.embed([q])
                embed_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                torch_embedder.embed([q])
                torch_ms.append((time.perf_counter() - started) * 1000)
            gc.collect()
            before = rss_mb()
            first_started = time.perf_counter()
            svc.retriever.search(COLLECTION, questions[0], K, "fused")
            first_ms = (time.perf_counter() - first_started) * 1000
            grown = rss_mb() - before
            # Alternate the methods per round so load from other processes spreads evenly.
            chroma_ms, dense_ms, fused_ms = [], [], []
            for q, v in zip(questions, vectors):
                chroma_ms += bare(svc, [v])
                dense_ms += measure(svc, [q], "dense")
                fused_ms += measure(svc, [q], "fused")
            keyword_mb = svc.store.keywords.memory_bytes() / 1e6
            svc.close()
            # A restart: the keyword index comes back from its files (the old code rebuilt it from every chunk).
            svc = build_services(settings, embedder=embedder)
            restart_started = time.perf_counter()
            svc.retriever.search(COLLECTION, questions[1 % len(questions)], K, "fused")
            restart_ms = (time.perf_counter() - restart_started) * 1000
            rows.extend(
                [
                    Row("2 retrieval", f"{label}: fill through the store API", n / fill_s, "chunks/s"),
                    Row(
                        "2 retrieval",
                        f"{label}: keyword index built as the fill's last step",
                        keywords_s * 1000,
                        "ms",
                        "what an ingest's last step costs (before: the first question paid it)",
                    ),
                    Row(
                        "2 retrieval",
                        f"{label}: bare Chroma query p50 / p95",
                        percentile(chroma_ms, 95),
                        "ms p95",
                        f"p50 {median(chroma_ms):.1f} ms",
                    ),
                    Row(
                        "2 retrieval",
                        f"{label}: question embedding p95",
                        percentile(embed_ms, 95),
                        "ms p95",
                        f"p50 {median(embed_ms):.1f} ms; PyTorch p50 / p95 {median(torch_ms):.1f} / "
                        f"{percentile(torch_ms, 95):.1f} ms",
                    ),
                    Row(
                        "2 retrieval",
                        f"{label}: dense p95",
                        percentile(dense_ms, 95),
                        "ms p95",
                        f"p50 {median(dense_ms):.1f} ms",
                    ),
                    Row(
                        "2 retrieval",
                        f"{label}: fused p95",
                        percentile(fused_ms, 95),
                        "ms p95",
                        f"p50 {median(fused_ms):.1f} ms",
                    ),
                    Row(
                        "2 retrieval",
                        f"{label}: first fused question after filling",
                        first_ms,
                        "ms",
                        f"RSS +{grown:.0f} MB; index ≈{keyword_mb:.0f} MB by its own count",
                    ),
                    Row(
                        "2 retrieval",
                        f"{label}: first fused question after a restart",
                        restart_ms,
                        "ms",
                        f"process RSS {rss_mb():.0f} MB",
                    ),
                ]
            )
        finally:
            svc.close()

    if backend == "server":
        (data / "chroma-server").mkdir(parents=True)
        with chroma_server(data / "chroma-server") as port:
            body(Settings.from_env(env={}, dotenv=None, data_dir=data, chroma_host="127.0.0.1", chroma_port=port))
    else:
        body(Settings.from_env(env={}, dotenv=None, data_dir=data))
    return rows


def keyword_only(n: int, n_questions: int, old_questions: int = 5) -> list[Row]:
    """The keyword part alone, in memory, at `n` chunks: our index against rank_bm25 scoring every chunk (the old
    way)."""
    from core.base.words import tokenize
    from core.index.keyword import KeywordIndex

    text = SyntheticText(seed=n)
    texts = [text.passage() for _ in range(n)]
    rng = random.Random(3)
    questions = [text.question(rng.choice(texts)) for _ in range(n_questions)]
    started = time.perf_counter()
    index = KeywordIndex("bench")
    index.add((f"c{i}", f"d{i // 20}", t) for i, t in enumerate(texts))
    build_s = time.perf_counter() - started
    ms = []
    for q in questions:
        started = time.perf_counter()
        index.search(q, 20)
        ms.append((time.perf_counter() - started) * 1000)
    label = f"{n // 1000}k" if n >= 1000 else str(n)
    ours = Row(
        "2 retrieval",
        f"{label} keyword part alone: index search p95",
        percentile(ms, 95),
        "ms p95",
        f"p50 {median(ms):.1f} ms; built in {build_s:.1f} s; ≈{index.memory_bytes() / 1e6:.0f} MB",
    )
    try:
        from rank_bm25 import BM25Okapi  # the old way; no longer a requirement of the app
    except ImportError:
        return [ours]
    started = time.perf_counter()
    old = BM25Okapi([tokenize(t) for t in texts])
    old_build_s = time.perf_counter() - started
    old_ms = []
    for q in questions[:old_questions]:
        started = time.perf_counter()
        scores = old.get_scores(tokenize(q))
        sorted(range(len(texts)), key=lambda i: scores[i], reverse=True)[:20]
        old_ms.append((time.perf_counter() - started) * 1000)
    return [
        ours,
        Row(
            "2 retrieval",
            f"{label} keyword part alone: old BM25 over every chunk",
            median(old_ms),
            "ms median",
            f"built in {old_build_s:.1f} s; {len(old_ms)} questions",
        ),
    ]


def run(
    tiny: bool = False,
    sizes: tuple[int, ...] = (1000, 10000, 100000),
    backends: tuple[str, ...] = ("disk", "server"),
    questions: int = 200,
) -> list[Row]:
    """Rows for every size × backend (`tiny`: 300 chunks, 5 questions, on disk only)."""
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm-up"])
    if not embedder.question_encoder_ready(timeout_s=600):
        raise RuntimeError("the question encoder's ONNX export failed: see the log above")
    torch_embedder = SentenceTransformerEmbedder(onnx_questions=False)  # the reference: questions on PyTorch
    torch_embedder.embed(["warm-up"])
    if tiny:
        sizes, backends, questions = (300,), ("disk",), 5
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for n in sizes:
                rows += run_one(n, backend, questions, embedder, Path(tmp), torch_embedder)
    for n in sizes:
        rows += keyword_only(n, questions, 2 if tiny else 5)
    return rows


def main() -> None:
    """Print the retrieval table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backends", default="disk,server")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run that proves the benchmark works")
    parser.add_argument(
        "--keyword-only", action="store_true", help="only the keyword index against rank_bm25, in memory, at each size"
    )
    ns = parser.parse_args()
    print(machine())
    if ns.keyword_only:
        print(table([r for n in (int(s) for s in ns.sizes.split(",")) for r in keyword_only(n, ns.questions)]))
        return
    rows = run(ns.tiny, tuple(int(s) for s in ns.sizes.split(",")), tuple(ns.backends.split(",")), ns.questions)
    print(table(rows))


if __name__ == "__main__":
    main()
