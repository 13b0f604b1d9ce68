"""Benchmark (goal 1): ingestion throughput against the embedding model's own throughput, same chunks, same run.

Run: `.venv/bin/python -m benchmarks.ingestion [--corpora samples,pdf300,texts1000]`.

Corpora: the three sample documents; a generated 300-page PDF (≈4 chunks a page); 1,000 small text
files (≈2 chunks each, like a folder of abstracts). For each: the stages alone (parse every file the
way the library does, chunk, embed the chunks with the already loaded model, store them), then the
library's whole `ingest` on a fresh collection. "bare embedding" is the model embedding exactly the
chunks that ingestion produces, in batches of 64; the goal is ingest ≥ 0.9 × bare.
Peers' published figures, for scale: one private-RAG app took 28 minutes for a 7.5 MB text file,
another 10 minutes for 80 pages (0.13 pages/s).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from benchmarks.common import SAMPLES, Row, SyntheticText, machine, table
from core.config import Settings
from core.documents.chunking import chunk_pages
from core.documents.parse_worker import parse_in_subprocess
from core.documents.sniff import sniff
from core.embeddings import SentenceTransformerEmbedder, embedder_label
from core.library import UploadedFile
from core.services import build_services

EMBED_BATCH = 64


def corpus(name: str, tiny: bool, pdf_pages: int = 300, text_files: int = 1000) -> list[UploadedFile]:
    """The files of one corpus (deterministic; `pdf_pages`/`text_files` shrink it on a busy machine)."""
    text = SyntheticText(seed=len(name))
    if name == "samples":
        files = [p for p in sorted(SAMPLES.iterdir()) if p.suffix in (".pdf", ".docx")]
        return [UploadedFile(p.name, p.read_bytes()) for p in files[: 1 if tiny else None]]
    if name == "pdf300":
        from tests.helpers.fixtures_docs import pdf_bytes

        return [UploadedFile(f"generated-{pdf_pages}-pages.pdf", pdf_bytes([text.passage(3400) for _ in range(2 if tiny else pdf_pages)]))]
    if name == "texts1000":
        rng = random.Random(5)
        return [UploadedFile(f"abstract-{i:04d}.txt", text.passage(rng.randint(900, 2000)).encode()) for i in range(5 if tiny else text_files)]
    raise SystemExit(f"unknown corpus {name!r}: use samples, pdf300 or texts1000")


def run_corpus(name: str, files: list[UploadedFile], embedder: SentenceTransformerEmbedder, tmp: Path) -> list[Row]:
    """The stage split and the whole ingestion of one corpus."""
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp / name)
    svc = build_services(settings, embedder=embedder)
    try:
        split: dict[str, float] = {}
        started = time.perf_counter()
        parsed = []
        for i, f in enumerate(files):
            path = tmp / f"{name}-{i}"
            path.write_bytes(f.data)
            parsed.append(parse_in_subprocess(path, sniff(f.data, f.name).kind, settings.parse_timeout_s, settings.parse_memory_mb))  # type: ignore[arg-type]
        split["parse"] = time.perf_counter() - started
        started = time.perf_counter()
        texts = [c.text for pages in parsed for c in chunk_pages(pages, settings.chunk_size, settings.chunk_overlap)]
        split["chunk"] = time.perf_counter() - started
        started = time.perf_counter()
        vectors = [v for i in range(0, len(texts), EMBED_BATCH) for v in embedder.embed(texts[i : i + EMBED_BATCH])]
        split["embed"] = time.perf_counter() - started
        from core.chunks import Chunk

        svc.store.create_collection("scratch", embedder_label(settings), settings.chunk_size, settings.chunk_overlap)
        started = time.perf_counter()
        svc.store.add_chunks("scratch", [Chunk(f"{i:032x}-00000", f"{i:064x}", "x", 1, t) for i, t in enumerate(texts)], vectors)
        split["store"] = time.perf_counter() - started

        started = time.perf_counter()
        results = svc.library.ingest(name, files)
        wall = time.perf_counter() - started
    finally:
        svc.close()
    chunks = sum(r.chunks for r in results)
    pages = sum(r.pages for r in results)
    bad = [r for r in results if r.status != "indexed"]
    if bad or chunks != len(texts):
        raise RuntimeError(f"{name}: ingestion disagrees with the stages ({chunks} vs {len(texts)} chunks; {bad[:1]})")
    bare = len(texts) / split["embed"]
    label = f"{name} ({len(files)} files, {pages} pages, {chunks} chunks)"
    total = sum(split.values())
    return [
        Row("1 ingestion", f"{label}: bare embedding", bare, "chunks/s"),
        Row("1 ingestion", f"{label}: ingest", chunks / wall, "chunks/s", f"{chunks / wall / bare:.2f} × bare; {pages / wall:.2f} pages/s; {wall:.1f} s"),
        Row("1 ingestion", f"{label}: stages alone parse/chunk/embed/store", total, "s",
            " / ".join(f"{split[k]:.1f}" for k in ("parse", "chunk", "embed", "store")) + f" s ({', '.join(f'{k} {split[k] / total:.0%}' for k in split)})"),
    ]


def run(tiny: bool = False, corpora: tuple[str, ...] = ("samples", "pdf300", "texts1000"), pdf_pages: int = 300, text_files: int = 1000) -> list[Row]:
    """Rows per corpus (`tiny`: a 2-page PDF and 5 text files)."""
    if tiny:
        corpora = tuple(c for c in corpora if c != "samples")
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm-up"])  # the model load is not ingestion's cost
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in corpora:
            rows += run_corpus(name, corpus(name, tiny, pdf_pages, text_files), embedder, Path(tmp))
    return rows


def main() -> None:
    """Print the ingestion table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", default="samples,pdf300,texts1000")
    parser.add_argument("--pdf-pages", type=int, default=300, help="pages of the generated PDF")
    parser.add_argument("--text-files", type=int, default=1000, help="number of small text files")
    parser.add_argument("--tiny", action="store_true")
    ns = parser.parse_args()
    print(machine())
    print(table(run(ns.tiny, tuple(ns.corpora.split(",")), ns.pdf_pages, ns.text_files)))


if __name__ == "__main__":
    main()
