"""The document library: upload → parse → chunk → embed → store, and everything the Documents page manages.

Rules live here, not in a page: content hashes are document ids, re-uploading the same bytes is a
duplicate, every file ends indexed, duplicate or rejected with a reason that says what to do.

Crash consistency: the catalog records a document as `pending` before its first chunk is stored and
`deleting` before its first chunk is removed; chunks carry the generation that wrote them, and a
re-index adds the new generation before it removes the old one. Whatever moment a run is killed at,
`core/library/recovery.py` can finish or undo it at the next start from the catalog and the kept originals.
The steps themselves (prepare, parse, chunk, embed, store, mark indexed, undo) are the `Indexer`'s
(`core/library/indexer.py`), shared with the overlapped pipeline and recovery.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Callable, Literal

from core.base.chunks import Chunk
from core.base.names import validate_collection_name
from core.config import Settings
from core.errors import (
    AmbiguousDocumentError,
    AppError,
    DocumentNotFoundError,
    InvalidNameError,
    StoreDamagedError,
)
from core.index.embeddings import Embedder, embedder_label
from core.index.store import CollectionInfo, VectorStore
from core.index.store_probe import StoreHealth, forget_verdict
from core.library.catalog import Catalog, DocumentRecord, ReindexIntent, now
from core.library.indexer import Indexer
from core.library.ingest import IngestPipeline
from core.library.journal import InterruptedUpload, UploadJournal
from core.library.parsing.loaders import Page, ParseFailure
from core.library.parsing.parse_pool import SpareWorkers
from core.library.parsing.sniff import sniff
from core.library.samples import SAMPLE_COLLECTION, SamplesProgress, SamplesStep, sample_uploads
from core.library.types import KEYWORD_INDEX, IngestResult, Progress, ProgressFn, UploadedFile, safe_display_name

# Re-exported: the faces and tests import the upload types from the library service.
__all__ = [
    "DocumentLibrary",
    "IngestResult",
    "Progress",
    "ProgressFn",
    "ReplaceResult",
    "TEST_COLLECTION_PREFIX",
    "UploadedFile",
    "is_test_collection",
    "safe_display_name",
]

# Collections the app makes for its own tests (the document-update test) are marked by a reserved name prefix rather
# than by Chroma metadata or a catalog row: the name survives a restart, a Chroma server, a rebuild and a re-index
# (which rewrites a collection's metadata), and an empty collection has no catalog row. Users cannot create a
# collection with this prefix, so the mark never hides one of theirs.
TEST_COLLECTION_PREFIX = "update-test-"


def is_test_collection(name: str) -> bool:
    """Whether `name` is a collection the app made for a test (kept apart from the user's collections)."""
    return name.startswith(TEST_COLLECTION_PREFIX)


@dataclass(frozen=True)
class ReplaceResult:
    """How replacing a document by a new version ended: `replaced`, `unchanged` (same bytes) or `rejected`.

    `seconds` is the wall time to index the change (parse, chunk, embed, store, drop the old chunks).
    """

    name: str
    status: Literal["replaced", "unchanged", "rejected"]
    doc_id: str
    previous_doc_id: str
    version: int
    kind: str = ""
    pages: int = 0
    chunks: int = 0
    previous_chunks: int = 0
    size: int = 0
    seconds: float = 0.0
    reason: str = ""
    code: str = ""


class DocumentLibrary:
    """Collections of documents: ingestion, listing, deletion, re-indexing."""

    def __init__(
        self,
        settings: Settings,
        store: VectorStore,
        catalog: Catalog,
        embedder: Embedder,
        parser: str | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.embedder = embedder
        self.originals = settings.data_dir / "originals"
        self.uploads = UploadJournal(settings.data_dir)  # which files of an upload cut off half-way are indexed
        # `parser`: "module:function" replacing the built-in loaders (tests only)
        self.parsers = SpareWorkers(
            settings.parse_timeout_s, settings.parse_memory_mb, parser, page_timeout_s=settings.parse_page_timeout_s
        )
        self.indexer = Indexer(settings, store, catalog, embedder, self.parsers, self.originals)
        self.store_health = StoreHealth()  # what the start-up probe found (core/store_probe.py); set by build_services

    @property
    def settings(self) -> Settings:
        """The settings the library and its indexer share (one object: upload limit, chunking, OCR)."""
        return self.indexer.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self.indexer.settings = value

    def ensure_store_readable(self, collection: str | None = None) -> None:
        """Raise StoreDamagedError (saying how to rebuild) when the start-up check found the store unreadable or
        `collection` damaged."""
        health = self.store_health
        if health.unreadable or (collection and collection in health.damaged):
            raise StoreDamagedError(health.summary())

    # --- collections -------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        """The user's collections (what every collection picker offers); test collections are not among them."""
        return [c for c in self.store.list_collections() if not is_test_collection(c.name)]

    def list_test_collections(self) -> list[CollectionInfo]:
        """The collections the app made for its tests and kept (or left by a killed run), sorted by name."""
        return [c for c in self.store.list_collections() if is_test_collection(c.name)]

    def create_collection(self, name: str) -> CollectionInfo:
        """Create a collection indexed with the configured embedding model and chunking."""
        name = validate_collection_name(name.strip())
        if is_test_collection(name):
            raise InvalidNameError(_reserved(name))
        return self._create(name)

    def create_test_collection(self, name: str) -> CollectionInfo:
        """Create a new, empty test collection (its name starts with TEST_COLLECTION_PREFIX)."""
        if not is_test_collection(name):
            raise InvalidNameError(
                f"A test collection's name must start with '{TEST_COLLECTION_PREFIX}': got {name!r}."
            )
        if self.store.has_collection(name):
            raise InvalidNameError(
                f"The test collection '{name}' already exists (kept from an earlier run): delete it on the Documents "
                "page (Test collections) or give another name."
            )
        return self._create(validate_collection_name(name))

    def _create(self, name: str) -> CollectionInfo:
        return self.store.create_collection(
            name, embedder_label(self.settings), self.settings.chunk_size, self.settings.chunk_overlap
        )

    def delete_collection(self, name: str) -> int:
        """Delete a collection, its chunks and its catalog rows; returns how many documents it held."""
        self.store.collection_info(name)  # a clear error for a collection that does not exist
        self.store.ensure_room()  # a full or read-only disk refuses the delete before anything is marked
        self.catalog.set_status(name, "deleting")  # first: a crash below is finished at the next start
        self.store.delete_collection(name)
        rows = self.catalog.delete_collection(name)
        for row in rows:
            self.indexer.forget_original(row.stored_as)
        return len(rows)

    # --- documents ---------------------------------------------------------------------------

    def collection_info(self, name: str) -> CollectionInfo:
        """One collection's size and indexing settings (CollectionNotFoundError says how to create it)."""
        return self.store.collection_info(name)

    def chunks(self, collection: str) -> list[Chunk]:
        """Every chunk of a collection, in document order (for training-set generation)."""
        self.store.collection_info(collection)  # CollectionNotFoundError with the fix
        return self.store.all_chunks(collection)

    def list_documents(self, collection: str) -> list[DocumentRecord]:
        """The collection's documents (indexed and rejected), newest first."""
        return self.catalog.documents(collection)

    def delete_document(self, collection: str, doc_id: str) -> DocumentRecord:
        """Delete one document: its chunks, its catalog row and (if unused elsewhere) its original."""
        record = self.catalog.get(collection, doc_id)
        if record is None:
            raise DocumentNotFoundError(
                f"No document {doc_id[:12]}… in collection '{collection}': list them with `python -m core docs list "
                f"--collection {collection}`."
            )
        if record.status != "rejected":
            self.store.ensure_room()  # a full or read-only disk refuses the delete before anything is marked
            self.catalog.set_status(
                collection, "deleting", [doc_id]
            )  # first: a crash below is finished at the next start
            self.store.delete_document(collection, doc_id)
        self.catalog.delete(collection, doc_id)
        self.indexer.forget_original(record.stored_as)
        return record

    def ingest(
        self, collection: str, files: list[UploadedFile], progress: ProgressFn | None = None, ocr: bool | None = None
    ) -> list[IngestResult]:
        """Index each file into `collection`; one file's failure never stops the others. `ocr` None: as configured."""
        if is_test_collection(collection) and not self.store.has_collection(collection):
            raise InvalidNameError(_reserved(collection))  # an upload never creates a collection the pickers hide
        self._create(validate_collection_name(collection))
        self.store.check_embedding_model(collection, embedder_label(self.settings))
        report = progress or (lambda _p: None)
        # Left on disk if the upload is cut off (a rerun, a closed tab, a kill): `interrupted_uploads` reports it.
        upload_id = self.uploads.begin(collection, [safe_display_name(f.name) for f in files])
        finished = False
        try:
            results = IngestPipeline(self.indexer).run(
                collection, files, report, self.settings.ocr if ocr is None else ocr
            )
            finished = True
        finally:
            self.uploads.end(upload_id, finished)
        if any(r.status == "indexed" for r in results):
            self.prepare_keywords(collection, report)
        return results

    def prepare_keywords(self, collection: str, progress: ProgressFn | None = None) -> int:
        """An indexing run's last step: the keyword index built (or loaded) and saved whole now, so the first question
        does not wait for it (≈ 9 s at 50k chunks here); returns the collection's chunk count."""
        chunks = self.store.count(collection)
        (progress or (lambda _p: None))(Progress(KEYWORD_INDEX, "keywords", detail=f"{chunks:,} chunks"))
        return self.store.prepare_keywords(collection)

    def load_samples(self, progress: Callable[[SamplesStep], None] | None = None) -> list[IngestResult]:
        """Index the sample documents into the 'samples' collection, saying which document is being indexed
        ("Indexing 2 of 3: …") and how many are finished."""
        uploads = sample_uploads()
        report = SamplesProgress([safe_display_name(u.name) for u in uploads], progress or (lambda _s: None))
        return self.ingest(SAMPLE_COLLECTION, uploads, progress=report)

    def interrupted_uploads(self, collection: str) -> list[InterruptedUpload]:
        """Uploads into `collection` that were cut off: which of their files are indexed, which to upload again."""

        def indexed(name_of_collection: str, name: str) -> bool:
            return any(r.status == "indexed" for r in self.catalog.find_by_name(name_of_collection, name))

        return self.uploads.interrupted(collection, indexed)

    def dismiss_interrupted_upload(self, upload_id: str) -> None:
        """Stop reporting an interrupted upload (its files stay as they are)."""
        self.uploads.dismiss(upload_id)

    def reindex(
        self,
        collection: str,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        progress: ProgressFn | None = None,
    ) -> list[IngestResult]:
        """Re-chunk and re-embed every indexed document of a collection from the kept originals."""
        size = chunk_size or self.settings.chunk_size
        overlap = self.settings.chunk_overlap if chunk_overlap is None else chunk_overlap
        replace(self.settings, chunk_size=size, chunk_overlap=overlap)  # validates the pair
        self.store.collection_info(collection)
        self.store.ensure_room()  # a full or read-only disk refuses the re-index before it is recorded
        intent = ReindexIntent(collection, size, overlap, now())
        self.catalog.start_reindex(intent)  # an interrupted re-index is resumed at the next start
        return self.continue_reindex(intent, progress)

    def continue_reindex(self, intent: ReindexIntent, progress: ProgressFn | None = None) -> list[IngestResult]:
        """Re-index the documents a re-index has not reached yet, then record the collection's new settings."""
        report = progress or (lambda _p: None)
        results: list[IngestResult] = []
        for record in self.catalog.documents(intent.collection):
            if record.status != "indexed" or record.indexed_at >= intent.started_at:
                continue  # rejected, or already re-indexed by this run before an interruption
            results.append(self._reindex_one(record, intent.chunk_size, intent.chunk_overlap, report))
        self.store.update_collection(
            intent.collection, embedder_label(self.settings), intent.chunk_size, intent.chunk_overlap
        )
        self.catalog.finish_reindex(intent.collection)
        if results:
            self.prepare_keywords(intent.collection, report)
        return results

    def reindex_documents(
        self, collection: str, doc_ids: list[str], progress: ProgressFn | None = None
    ) -> list[IngestResult]:
        """Re-parse, re-chunk and re-embed some documents from their kept originals, with the collection's chunking.

        (Other chunking applies to a whole collection: `reindex`.) Each document's old chunks stay until its new
        ones are stored; one that cannot be read again keeps them and is reported rejected.
        """
        info = self.store.collection_info(collection)
        report = progress or (lambda _p: None)
        results: list[IngestResult] = []
        for doc_id in doc_ids:
            record = self.catalog.get(collection, doc_id)
            if record is None:
                raise DocumentNotFoundError(
                    f"No document {doc_id[:12]}… in collection '{collection}': list them with `python -m core docs "
                    f"list --collection {collection}`."
                )
            if record.status != "indexed":
                results.append(
                    IngestResult(
                        record.name,
                        "rejected",
                        record.doc_id,
                        record.kind,
                        size=record.size,
                        reason=f"Not indexed ({record.reason or record.status}): upload the file again.",
                        code="not-indexed",
                    )
                )
                continue
            size = info.chunk_size or self.settings.chunk_size
            results.append(self._reindex_one(record, size, info.chunk_overlap, report))
        return results

    def _reindex_one(
        self, record: DocumentRecord, chunk_size: int, chunk_overlap: int, report: ProgressFn
    ) -> IngestResult:
        try:
            done = self.index_from_original(record, chunk_size, chunk_overlap, report)
        except ParseFailure as exc:
            return IngestResult(
                record.name, "rejected", record.doc_id, record.kind, size=record.size, reason=str(exc), code=exc.code
            )
        except FileNotFoundError:
            return IngestResult(
                record.name,
                "rejected",
                record.doc_id,
                record.kind,
                size=record.size,
                reason="The original file is missing from the data directory: upload it again.",
                code="missing",
            )
        report(Progress(record.name, "done", detail="indexed"))
        return indexed_result(record, done)

    def index_from_original(
        self, record: DocumentRecord, chunk_size: int, chunk_overlap: int, progress: ProgressFn | None = None
    ) -> DocumentRecord:
        """Index a document again from its kept original as a new generation; the old one goes only afterwards.

        Raises ParseFailure or FileNotFoundError with the document's old chunks untouched.
        """
        report = progress or (lambda _p: None)
        gen = record.gen + 1
        path = self.originals / record.stored_as
        if not record.stored_as or not path.is_file():
            raise FileNotFoundError(path)  # the parser would call a missing file "damaged"
        try:
            pages = self.indexer.parse(
                path, record.kind, record.name, report, record.ocr_pages > 0 or self.settings.ocr
            )
            n = self.indexer.index(
                record.collection, record.doc_id, record.name, pages, chunk_size, chunk_overlap, report, gen=gen
            )
        except BaseException:
            self.indexer.drop_generation(record.collection, record.doc_id, gen)
            raise
        done = replace(
            record,
            pages=len(pages),
            chunks=n,
            indexed_at=now(),
            status="indexed",
            reason="",
            gen=gen,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            ocr_pages=sum(p.ocr for p in pages),
        )
        self.catalog.upsert(done)  # the switch to the new generation is this one row
        self.prune_generations(record.collection, record.doc_id, keep=gen)
        return done

    def prune_generations(self, collection: str, doc_id: str, keep: int) -> int:
        """Delete a document's chunks of every generation but `keep`; returns how many went."""
        return self.indexer.prune_generations(collection, doc_id, keep)

    def is_intact(self, record: DocumentRecord) -> bool:
        """Whether the store holds exactly the chunks the catalog says an indexed document has."""
        return self.indexer.is_intact(record)

    def rebuild_from_originals(
        self, collections: list[str] | None = None, progress: ProgressFn | None = None
    ) -> list[IngestResult]:
        """Write collections afresh from the kept originals: drop the vector index, index every document again.

        `None` rebuilds what the start-up probe found damaged (every collection when the store was unreadable).
        A kill half-way is finished at the next start (recovery indexes documents the store lacks).
        """
        report = progress or (lambda _p: None)
        health = self.store_health
        if collections is None:
            collections = sorted(set(self.catalog.collections())) if health.unreadable else sorted(health.damaged)
        results: list[IngestResult] = []
        for name in collections:
            validate_collection_name(name)
            size, overlap = self.settings.chunk_size, self.settings.chunk_overlap
            if self.store.has_collection(name):
                info = self.store.collection_info(name)  # settings and count come from SQLite, not the damaged index
                size, overlap = info.chunk_size or size, info.chunk_overlap
                self.store.delete_collection(name)
            self.store.create_collection(name, embedder_label(self.settings), size, overlap)
            for record in self.catalog.documents(name):
                if record.status not in ("indexed", "pending"):
                    continue
                try:
                    done = self.index_from_original(record, size, overlap, report)
                except (ParseFailure, FileNotFoundError) as exc:
                    reason = (
                        str(exc)
                        if isinstance(exc, ParseFailure)
                        else "The original file is missing from the data directory: upload it again."
                    )
                    self.catalog.upsert(
                        replace(
                            record, status="rejected", reason=reason, pages=0, chunks=0, indexed_at=now(), stored_as=""
                        )
                    )
                    self.indexer.forget_original(record.stored_as)
                    results.append(
                        IngestResult(
                            record.name,
                            "rejected",
                            record.doc_id,
                            record.kind,
                            size=record.size,
                            reason=reason,
                            code=exc.code if isinstance(exc, ParseFailure) else "missing",
                        )
                    )
                    continue
                results.append(indexed_result(record, done))
                report(Progress(record.name, "done", detail="indexed"))
            health.damaged.pop(name, None)
        if not health.damaged:
            health.unreadable = ""
        forget_verdict(self.settings)  # the next start checks the rebuilt store again
        return results

    # --- new versions of a document --------------------------------------------------------

    def replacement_targets(self, collection: str, files: list[UploadedFile]) -> dict[str, DocumentRecord]:
        """For each upload named like one indexed document but with other bytes: that document (by upload name)."""
        targets: dict[str, DocumentRecord] = {}
        for upload in files:
            same_name = self.catalog.find_by_name(collection, safe_display_name(upload.name))
            if len(same_name) == 1 and same_name[0].doc_id != hashlib.sha256(upload.data).hexdigest():
                targets[upload.name] = same_name[0]
        return targets

    def replace_document(
        self, collection: str, upload: UploadedFile, doc_id: str | None = None, progress: ProgressFn | None = None
    ) -> ReplaceResult:
        """Replace an indexed document (by `doc_id`, else by the upload's name) with new bytes.

        The new version is parsed, chunked and embedded and its chunks stored before the old chunks go,
        so a failure at any point leaves the old version searchable. The document keeps its name; its
        catalog row counts the version.
        """
        started = time.perf_counter()
        report = progress or (lambda _p: None)
        old = self._replace_target(collection, safe_display_name(upload.name), doc_id)
        new_id = hashlib.sha256(upload.data).hexdigest()
        size = len(upload.data)

        def ended(
            status: Literal["replaced", "unchanged", "rejected"],
            doc: str = old.doc_id,
            version: int = old.version,
            kind: str = "",
            pages: int = 0,
            chunks: int = 0,
            reason: str = "",
            code: str = "",
        ) -> ReplaceResult:
            report(Progress(old.name, "done", detail=status))
            return ReplaceResult(
                old.name,
                status,
                doc,
                old.doc_id,
                version,
                kind,
                pages,
                chunks,
                old.chunks,
                size,
                round(time.perf_counter() - started, 3),
                reason,
                code,
            )

        report(Progress(old.name, "checking", detail=f"{size} bytes"))
        if new_id == old.doc_id:
            return ended(
                "unchanged",
                kind=old.kind,
                pages=old.pages,
                chunks=old.chunks,
                reason="The new file has the same bytes as the indexed version: nothing to do.",
            )
        other = self.catalog.get(collection, new_id)
        if other is not None and other.status == "indexed":
            return ended(
                "rejected",
                code="duplicate",
                reason=(
                    f"These bytes are already indexed as '{other.name}': delete that document first, or pick the right "
                    "file."
                ),
            )
        if size > self.settings.max_upload_bytes:
            return ended(
                "rejected",
                code="too_large",
                reason=(
                    f"The file is {size / 1e6:.1f} MB, over the {self.settings.max_upload_mb:g} MB limit: split it, or "
                    "raise DOMAINCHAT_MAX_UPLOAD_MB."
                ),
            )
        sniffed = sniff(upload.data, old.name)
        if sniffed.kind is None:
            return ended("rejected", reason=sniffed.reason, code=sniffed.code)
        self.store.check_embedding_model(collection, embedder_label(self.settings))
        stored_as = f"{new_id}.{sniffed.kind}"
        path = self.indexer.keep_original(stored_as, upload.data)
        info = self.store.collection_info(collection)  # the new version is chunked like the rest of the collection
        try:
            pages = self.indexer.parse(path, sniffed.kind, old.name, report, self.settings.ocr)
            chunks = self.indexer.index(
                collection,
                new_id,
                old.name,
                pages,
                info.chunk_size or self.settings.chunk_size,
                info.chunk_overlap,
                report,
            )
        except ParseFailure as exc:
            self.indexer.forget_original(stored_as)
            return ended("rejected", kind=sniffed.kind, reason=f"{exc} The indexed version is kept.", code=exc.code)
        except AppError:
            self.indexer.forget_original(stored_as)
            raise
        self.catalog.upsert(
            DocumentRecord(
                collection,
                new_id,
                old.name,
                sniffed.kind,
                len(pages),
                chunks,
                size,
                now(),
                "indexed",
                "",
                stored_as,
                old.version + 1,
                ocr_pages=sum(p.ocr for p in pages),
                chunk_size=info.chunk_size or self.settings.chunk_size,
                chunk_overlap=info.chunk_overlap,
            )
        )
        self.store.delete_document(collection, old.doc_id)
        self.catalog.delete(collection, old.doc_id)
        self.indexer.forget_original(old.stored_as)
        return ended(
            "replaced", doc=new_id, version=old.version + 1, kind=sniffed.kind, pages=len(pages), chunks=chunks
        )

    def _replace_target(self, collection: str, name: str, doc_id: str | None) -> DocumentRecord:
        if doc_id:
            record = self.catalog.get(collection, doc_id)
            if record is None or record.status != "indexed":
                raise DocumentNotFoundError(
                    f"No indexed document {doc_id[:12]}… in collection '{collection}' to replace: list them with "
                    f"`python -m core docs list --collection {collection}`."
                )
            return record
        matches = self.catalog.find_by_name(collection, name)
        if not matches:
            raise DocumentNotFoundError(
                f"No indexed document called '{name}' in collection '{collection}' to replace: add it as a new "
                f"document (`python -m core ingest --collection {collection} FILE`), or name the document to replace "
                "with --doc-id."
            )
        if len(matches) > 1:
            ids = ", ".join(m.doc_id[:12] for m in matches)
            raise AmbiguousDocumentError(
                f"{len(matches)} documents in '{collection}' are called '{name}' ({ids}): say which one to replace "
                "with --doc-id."
            )
        return matches[0]

    def _index(
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
        # Kept for tests/library/test_recovery.py, which stores half a re-index by hand to stand for a kill.
        return self.indexer.index(collection, doc_id, name, pages, size, overlap, report, gen=gen)


def _reserved(name: str) -> str:
    return (
        f"Collection name {name!r} starts with '{TEST_COLLECTION_PREFIX}', which is kept for the collections the "
        "document-update test makes: choose another name."
    )


def indexed_result(record: DocumentRecord, done: DocumentRecord) -> IngestResult:
    """The outcome of indexing `record` again from its kept original, as `done` now holds it."""
    return IngestResult(
        record.name,
        "indexed",
        record.doc_id,
        record.kind,
        done.pages,
        done.chunks,
        record.size,
        ocr_pages=done.ocr_pages,
    )
