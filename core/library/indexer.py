"""The steps that put one document into a collection and take it out again.

The library (`DocumentLibrary`), its overlapped pipeline (`IngestPipeline`) and start-up recovery all index
through these public steps, so none of them reaches into another's private members:

    prepare → (parse) → chunk → embed → store → mark_indexed        one upload
    abandon / undo_pending / drop_generation / forget_original     undoing what an interrupted run left

The rules they keep (crash consistency): the catalog records a document `pending` before its first chunk is
stored; chunks carry the generation that wrote them and are embedded before anything of the old generation
goes; the row says `indexed` only once every chunk is stored; an original is deleted only when no row uses it.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, cast

from core.base.chunks import Chunk
from core.base.files import storage_error, write_bytes_atomic
from core.config import Settings
from core.index.embeddings import Embedder
from core.index.store import VectorStore
from core.library.catalog import Catalog, DocumentRecord, now
from core.library.parsing.chunking import chunk_pages
from core.library.parsing.loaders import Page, ParseFailure
from core.library.parsing.ocr import ocr_pages
from core.library.parsing.parse_pool import ParseWorker, SpareWorkers
from core.library.parsing.sniff import DocKind, sniff
from core.library.types import (
    EMBED_BATCH,
    IngestResult,
    Prepared,
    Progress,
    ProgressFn,
    UploadedFile,
    safe_display_name,
)


class Indexer:
    """Indexes documents into the vector store and keeps the catalog and the kept originals in step with it."""

    def __init__(
        self,
        settings: Settings,
        store: VectorStore,
        catalog: Catalog,
        embedder: Embedder,
        parsers: SpareWorkers,
        originals: Path,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.embedder = embedder
        self.parsers = parsers
        self.originals = originals
        self._parsing = threading.local()  # the parser process a pipeline keeps for its parsing thread

    # --- parsing -----------------------------------------------------------------------------

    @contextmanager
    def reusing_parser(self) -> Iterator[None]:
        """Parse on this thread with one parser process for the whole block (no process start per file)."""
        worker: ParseWorker = self.parsers.take()  # kept started between uploads (SpareWorkers)
        self._parsing.worker = worker
        try:
            yield
        finally:
            self._parsing.worker = None
            self.parsers.give_back(worker)

    def parse(self, path: Path, kind: str, name: str, report: ProgressFn, ocr: bool = False) -> list[Page]:
        """A kept original's pages: read in a parser process, scanned pages through OCR when `ocr` is on."""
        report(Progress(name, "parsing"))
        if kind == "image" and not ocr:
            raise ParseFailure(
                "needs_ocr",
                "This is an image: its text can only be read with OCR. Upload it again with OCR turned on (Documents "
                "page, or `--ocr`).",
            )
        pages: list[Page] | None = None
        if kind != "image":
            worker: ParseWorker | None = getattr(
                self._parsing, "worker", None
            )  # a reusable parser process, while a pipeline runs
            pages_done = lambda done, total: report(Progress(name, "parsing", done, total, f"page {done} of {total}"))  # noqa: E731
            doc_kind = cast(DocKind, kind)  # a kind sniff() gave when the file arrived (the catalog keeps it as text)
            try:
                if worker is not None:
                    pages = worker.parse(path, doc_kind, pages_done)
                else:
                    one_off = self.parsers.take()
                    try:
                        pages = one_off.parse(path, doc_kind, pages_done)
                    finally:
                        self.parsers.give_back(one_off)
            except ParseFailure as exc:
                if not (ocr and exc.code == "no_text"):
                    raise
        if ocr and kind in ("pdf", "image"):
            # Scans: only pages without a usable text layer are read (all of them when there is none at all).
            pages = ocr_pages(
                path,
                kind,
                pages,
                timeout_s=self.settings.parse_timeout_s,
                page_timeout_s=self.settings.ocr_page_timeout_s,
                memory_mb=self.settings.ocr_memory_mb,
                progress=lambda done, total: report(Progress(name, "ocr", done, total, f"page {done} of {total}")),
            )
        assert pages is not None
        report(Progress(name, "parsing", len(pages), len(pages), f"{len(pages)} pages"))
        return pages

    # --- one upload --------------------------------------------------------------------------

    def prepare(self, collection: str, upload: UploadedFile, report: ProgressFn, ocr: bool) -> IngestResult | Prepared:
        """Check and parse one upload: its final result (duplicate, rejected) or its pages, ready to chunk.

        A file that passes the checks is recorded `pending` (its original kept) before it is parsed.
        """
        name = safe_display_name(upload.name)
        size = len(upload.data)
        report(Progress(name, "checking", detail=f"{size} bytes"))
        doc_id = hashlib.sha256(upload.data).hexdigest()
        if size > self.settings.max_upload_bytes:
            return IngestResult(
                name,
                "rejected",
                doc_id,
                size=size,
                code="too_large",
                reason=(
                    f"The file is {size / 1e6:.1f} MB, over the {self.settings.max_upload_mb:g} MB limit: split it, or "
                    "raise DOMAINCHAT_MAX_UPLOAD_MB."
                ),
            )
        existing = self.catalog.get(collection, doc_id)
        if existing is not None and existing.status == "indexed" and self.is_intact(existing):
            return IngestResult(
                name,
                "duplicate",
                doc_id,
                existing.kind,
                existing.pages,
                existing.chunks,
                size,
                reason=f"Already indexed as '{existing.name}': nothing to do.",
            )
        sniffed = sniff(upload.data, name)
        if sniffed.kind is None:
            return IngestResult(name, "rejected", doc_id, size=size, reason=sniffed.reason, code=sniffed.code)
        gen = 0
        if existing is not None and existing.status != "rejected":
            # The catalog lists it but the store does not hold it whole (an interrupted run): index it afresh.
            self.store.delete_document(collection, doc_id)
            gen = existing.gen + 1
        stored_as = f"{doc_id}.{sniffed.kind}"  # server-generated: the uploaded name is never a path
        path = self.keep_original(stored_as, upload.data)
        pending = DocumentRecord(
            collection,
            doc_id,
            name,
            sniffed.kind,
            0,
            0,
            size,
            now(),
            "pending",
            "",
            stored_as,
            gen=gen,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
        )
        try:
            self.catalog.upsert(
                pending
            )  # before any chunk: a crash from here on is found and finished at the next start
        except BaseException:
            self.forget_original(stored_as)  # no row points at it: it must not stay behind
            raise
        try:
            pages = self.parse(path, sniffed.kind, name, report, ocr)
        except ParseFailure as exc:
            result = IngestResult(name, "rejected", doc_id, sniffed.kind, size=size, reason=str(exc), code=exc.code)
            self.record_rejection(collection, result)  # replaces the pending row, so the original can go
            self.forget_original(stored_as)
            return result
        except BaseException:
            self.undo_pending(pending)
            raise
        return Prepared(name, doc_id, sniffed.kind, size, stored_as, pages, gen)

    def chunk(
        self, doc_id: str, name: str, pages: list[Page], size: int, overlap: int, report: ProgressFn, gen: int = 0
    ) -> list[Chunk]:
        """A document's chunks as generation `gen` (ParseFailure `empty` when it holds no text)."""
        report(Progress(name, "chunking"))
        pieces = chunk_pages(pages, size, overlap)
        if not pieces:
            raise ParseFailure("empty", "The document contains no text: check that it is the right file.")
        report(Progress(name, "chunking", len(pieces), len(pieces), f"{len(pieces)} chunks"))
        scanned = {p.number for p in pages if p.ocr}
        return [
            Chunk(
                f"{doc_id[:32]}-{gen}-{c.index:05d}",
                doc_id,
                name,
                c.page,
                c.text,
                c.start,
                c.end,
                ocr=c.page in scanned,
                gen=gen,
            )
            for c in pieces
        ]

    def embed(self, name: str, records: list[Chunk], report: ProgressFn) -> list[list[float]]:
        """The chunks' vectors, in the library's model batches."""
        vectors: list[list[float]] = []
        for i in range(0, len(records), EMBED_BATCH):
            vectors.extend(self.embedder.embed([r.text for r in records[i : i + EMBED_BATCH]]))
            report(Progress(name, "embedding", len(vectors), len(records)))
        return vectors

    def store_chunks(self, collection: str, records: list[Chunk], vectors: list[list[float]]) -> None:
        """Write chunks, of one file or of several, in one go (a write costs ≈15 ms whatever its size)."""
        # Embedded before touching the index; an older generation stays until the catalog points at this one.
        self.store.add_chunks(collection, records, vectors)

    def index(
        self,
        collection: str,
        doc_id: str,
        name: str,
        pages: list[Page],
        size: int,
        overlap: int,
        report: ProgressFn,
        gen: int = 0,
    ) -> int:
        """Add a document's chunks as generation `gen` (older generations stay until the caller prunes them); returns
        how many."""
        records = self.chunk(doc_id, name, pages, size, overlap, report, gen)
        vectors = self.embed(name, records, report)
        report(Progress(name, "storing", 0, len(records)))
        self.store_chunks(collection, records, vectors)
        report(Progress(name, "storing", len(records), len(records)))
        return len(records)

    def mark_indexed(self, collection: str, prepared: Prepared, chunks: int) -> IngestResult:
        """Record a prepared file whose chunks are stored as indexed (its pending row becomes the indexed one)."""
        p = prepared
        ocr_count = sum(page.ocr for page in p.pages)
        self.catalog.upsert(
            DocumentRecord(
                collection,
                p.doc_id,
                p.name,
                p.kind,
                len(p.pages),
                chunks,
                p.size,
                now(),
                "indexed",
                "",
                p.stored_as,
                ocr_pages=ocr_count,
                gen=p.gen,
                chunk_size=self.settings.chunk_size,
                chunk_overlap=self.settings.chunk_overlap,
            )
        )
        return IngestResult(p.name, "indexed", p.doc_id, p.kind, len(p.pages), chunks, p.size, ocr_pages=ocr_count)

    def reject(self, collection: str, prepared: Prepared, exc: ParseFailure) -> IngestResult:
        """Record a prepared file that cannot be indexed (e.g. no text) as rejected, and let its original go."""
        result = IngestResult(
            prepared.name,
            "rejected",
            prepared.doc_id,
            prepared.kind,
            size=prepared.size,
            reason=str(exc),
            code=exc.code,
        )
        self.record_rejection(collection, result)  # replaces the pending row, so the original can go
        self.forget_original(prepared.stored_as)
        return result

    def record_rejection(self, collection: str, result: IngestResult) -> None:
        """Keep a rejected file in the catalog with its reason (never over an indexed document of the same bytes)."""
        existing = self.catalog.get(collection, result.doc_id)
        if existing is not None and existing.status == "indexed":
            return  # never let a failed re-upload hide an indexed document
        self.catalog.upsert(
            DocumentRecord(
                collection,
                result.doc_id,
                result.name,
                result.kind or "?",
                0,
                0,
                result.size,
                now(),
                "rejected",
                result.reason,
                "",
            )
        )

    # --- undoing -----------------------------------------------------------------------------

    def abandon(self, collection: str, prepared: Prepared) -> None:
        """Undo a file whose indexing was interrupted in this process (its pending row, chunks, original)."""
        record = self.catalog.get(collection, prepared.doc_id)
        if record is not None and record.status == "pending":
            self.undo_pending(record)

    def undo_pending(self, pending: DocumentRecord) -> None:
        """Undo a pending document: its chunks, its catalog row, its original (best effort)."""
        try:
            self.store.delete_document(pending.collection, pending.doc_id)
            self.catalog.delete(pending.collection, pending.doc_id)
            self.forget_original(pending.stored_as)
        except Exception:  # noqa: BLE001 (the original error matters more; recovery cleans up at the next start)
            pass

    def drop_generation(self, collection: str, doc_id: str, gen: int) -> None:
        """Remove the chunks one interrupted indexing run added (best effort: start-up recovery retries)."""
        try:
            self.store.delete_chunks(collection, self.store.document_generations(collection, doc_id).get(gen, []))
        except Exception:  # noqa: BLE001 (the original error matters more; recovery cleans up at the next start)
            pass

    def prune_generations(self, collection: str, doc_id: str, keep: int) -> int:
        """Delete a document's chunks of every generation but `keep`; returns how many went."""
        doomed = [
            i for gen, ids in self.store.document_generations(collection, doc_id).items() if gen != keep for i in ids
        ]
        self.store.delete_chunks(collection, doomed)
        return len(doomed)

    def is_intact(self, record: DocumentRecord) -> bool:
        """Whether the store holds exactly the chunks the catalog says an indexed document has."""
        gens = self.store.document_generations(record.collection, record.doc_id)
        return set(gens) == {record.gen} and len(gens[record.gen]) == record.chunks

    # --- kept originals ----------------------------------------------------------------------

    def keep_original(self, stored_as: str, data: bytes) -> Path:
        """Keep an upload's bytes under the server-made name `stored_as` (re-indexing reads them again)."""
        path = self.originals / stored_as
        try:
            self.originals.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, path) from exc
        if not path.exists():
            write_bytes_atomic(path, data)
        return path

    def forget_original(self, stored_as: str) -> None:
        """Delete a kept original once no catalog row uses it."""
        if stored_as and self.catalog.uses_of(stored_as) == 0:
            (self.originals / stored_as).unlink(missing_ok=True)
