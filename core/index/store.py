"""The vector store: the only module that imports chromadb.

On-disk `PersistentClient` under the data directory by default; `HttpClient` to a Chroma server
when CHROMA_HOST is set. We always pass embeddings we computed ourselves: Chroma's built-in
embedding function downloads a model at first use and fails offline.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Concatenate, Iterator, ParamSpec, Sequence, TypeVar

from core.base.chunks import Chunk
from core.base.files import storage_error
from core.base.names import validate_collection_name
from core.config import Settings
from core.errors import (
    AppError,
    CollectionNotFoundError,
    EmbeddingModelMismatchError,
    StorageError,
    StoreLockedError,
    StoreUnavailableError,
)
from core.index.keyword import KeywordIndexes

if TYPE_CHECKING:  # chromadb is imported where a store is opened (this is its only importer)
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import CreateHNSWConfiguration
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import PyEmbeddings

REBUILD_KEY = "domainchat_rebuild_of"  # metadata of a collection being written as a fresh copy of another
# Chroma (1.5.9) does not fail cleanly when its disk fills up: a write can hang, or fail with "Failed to apply logs to
# the metadata segment" and leave every later call hanging. So the store refuses a write that would leave less than
# this free, and takes a Chroma failure on a disk with less than this free for what it is.
RESERVE_BYTES = 64_000_000
_FULL_WORDS = (
    "database or disk is full",
    "no space left on device",
    "os error 28",
    "disk quota exceeded",
    "os error 122",
)
_READ_ONLY_WORDS = (
    "readonly database",
    "read-only file system",
    "os error 30",
    "permission denied",
    "os error 13",
    "unable to open database file",
)
_P = ParamSpec("_P")
_R = TypeVar("_R")
# Chroma's default graph (16 neighbours, construction search 100) strands a chunk behind a plateau of near-identical
# ones (a statement's 300 "Page N of 300." footers): a search of 3 missed the one relevant chunk in 19 of 200 insertion
# orders, and a wider search (ef_search 400) still missed 2 in 100. Twice the neighbours and a wider construction
# search missed 0 in 200, for ≈2× slower inserts (still ≈1,000 chunks/s, ten times the embedding model's rate).
HNSW_CONFIG: CreateHNSWConfiguration = {"space": "cosine", "max_neighbors": 32, "ef_construction": 200}


@dataclass(frozen=True)
class Hit:
    """A chunk returned by a similarity query; `score` is cosine similarity (higher is closer)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class CollectionInfo:
    """A collection's name, size and the settings it was indexed with."""

    name: str
    chunks: int
    embedding_model: str
    chunk_size: int
    chunk_overlap: int


def bytes_to_store(texts: Sequence[str], dimensions: int) -> int:
    """About what Chroma writes to disk for chunks with these texts (measured: ≈12 KB for a 1,000-character chunk with a
    384-d vector).

    Each vector is written to its log, its records and its vector index; each text to its log, its records and a
    trigram full-text index.
    """
    return sum(12 * dimensions + 8 * len((text or "").encode("utf-8")) + 512 for text in texts)


def storage_failure(exc: BaseException, folder: Path | None) -> StorageError | None:
    """The app's StorageError for a store operation that failed because the disk holding `folder` is full or not
    writable; else None."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError):  # the keyword index's files, the lock file
        translated = storage_error(exc, Path(exc.filename) if exc.filename else Path(folder or "."))
        return translated if isinstance(translated, StorageError) else None
    if folder is None:
        return None  # a Chroma server's disk is not ours to look at
    message = str(exc).lower()
    full = any(word in message for word in _FULL_WORDS)
    read_only = any(word in message for word in _READ_ONLY_WORDS)
    if not (full or read_only) and type(exc).__name__ == "InternalError":  # chromadb's own failure, cause unnamed
        room = _room(folder)
        if room is None:
            return None
        read_only, full = room[0], not room[0] and room[1] < RESERVE_BYTES
    detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    if full:
        return _full_error(folder, f"the vector store could not be written ({detail})")
    if read_only:
        return _read_only_error(folder, detail)
    return None


def _room(folder: Path) -> tuple[bool, int] | None:
    """Whether the file system holding `folder` is read-only (or not writable by us), and the bytes free on it."""
    try:
        disk = os.statvfs(folder)
    except OSError:
        return None
    return bool(disk.f_flag & os.ST_RDONLY) or not os.access(folder, os.W_OK), disk.f_bavail * disk.f_frsize


def _full_error(folder: Path, what: str) -> StorageError:
    return StorageError(
        f"The disk holding {folder} is full: {what}. Free some space, or point DOMAINCHAT_DATA_DIR at a disk with "
        "room, and try again."
    )


def _read_only_error(folder: Path, detail: str) -> StorageError:
    return StorageError(
        f"The vector store in {folder} cannot be written ({detail}). "
        "Make the data directory writable (e.g. `chmod -R u+w` on it), or point DOMAINCHAT_DATA_DIR at a writable "
        "folder, and try again."
    )


def _disk_errors(method: Callable[Concatenate[VectorStore, _P], _R]) -> Callable[Concatenate[VectorStore, _P], _R]:
    """Run a store method so that a full or read-only disk raises the app's StorageError (one translation point)."""

    @functools.wraps(method)
    def translated(self: VectorStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except AppError:
            raise
        except Exception as exc:  # noqa: BLE001 (chromadb's InternalError, OSError, sqlite3 errors: decided below)
            failure = storage_failure(exc, self.folder)
            if failure is None:
                raise
            raise failure from exc

    return translated


class VectorStore:
    """Collections of embedded chunks in Chroma."""

    def __init__(
        self,
        client: ClientAPI,
        lock: "_DirLock | None" = None,
        keywords: KeywordIndexes | None = None,
        folder: Path | None = None,
    ) -> None:
        self._client = client
        self._lock = lock
        self.folder = (
            folder  # the on-disk store's directory (None for a Chroma server): where a failed write looks for its cause
        )
        # Every chunk change below is told to the keyword index, so it never has to re-read the collection.
        self.keywords = keywords if keywords is not None else KeywordIndexes(None)
        # Collection handles kept between questions (on-disk store only): Chroma looks a collection up in its
        # SQLite catalog for every `get_collection`, ≈ 1 ms, and a fused question needed four of them.
        self._handles: dict[str, Collection] = {}

    @classmethod
    def open(cls, settings: Settings) -> "VectorStore":
        """Open the store configured in `settings` (a Chroma server if CHROMA_HOST is set, else on disk)."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if settings.chroma_host:
            try:
                client = chromadb.HttpClient(
                    host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
                )
                client.heartbeat()
            except Exception as exc:  # chromadb raises assorted httpx/ValueError types when unreachable
                raise StoreUnavailableError(
                    f"Chroma server at {settings.chroma_host}:{settings.chroma_port} is not reachable "
                    f"({type(exc).__name__}): start it with `chroma run --path DIR --host {settings.chroma_host} "
                    f"--port {settings.chroma_port}`, or unset CHROMA_HOST to use the on-disk store."
                ) from None
            return cls(client, keywords=KeywordIndexes(settings.data_dir / "keywords", shared=True))
        path = settings.data_dir / "chroma"
        lock = lock_store(settings)
        try:
            client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as exc:  # noqa: BLE001 (chromadb.errors.InternalError from its SQLite)
            lock.release()
            failure = storage_failure(exc, path)
            if failure is None:
                raise
            raise failure from exc
        return cls(client, lock, KeywordIndexes(settings.data_dir / "keywords", shared=False), folder=path)

    @property
    def is_local(self) -> bool:
        """Whether this process owns the store (on disk, locked) rather than sharing a Chroma server."""
        return self._lock is not None

    # --- collections -------------------------------------------------------------------------

    def list_collections(self) -> list[CollectionInfo]:
        """All collections with their sizes, sorted by name."""
        infos = [self._info(c) for c in self._client.list_collections() if REBUILD_KEY not in (c.metadata or {})]
        return sorted(infos, key=lambda i: i.name)

    @_disk_errors
    def create_collection(self, name: str, embedding_model: str, chunk_size: int, chunk_overlap: int) -> CollectionInfo:
        """Create a collection (or return the existing one) recording how it is indexed."""
        validate_collection_name(name)
        if self.folder is not None and not self.has_collection(name):
            self.ensure_room()
        collection = self._client.get_or_create_collection(
            name=name,
            metadata={"embedding_model": embedding_model, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap},
            configuration={"hnsw": HNSW_CONFIG.copy()},
            embedding_function=None,
        )
        self._handles.pop(name, None)
        return self._info(collection)

    def collection_info(self, name: str) -> CollectionInfo:
        """The collection called `name`."""
        return self._info(self._get(name))

    def has_collection(self, name: str) -> bool:
        """Whether a collection called `name` exists."""
        return any(c.name == name for c in self._client.list_collections())

    @_disk_errors
    def update_collection(self, name: str, embedding_model: str, chunk_size: int, chunk_overlap: int) -> None:
        """Record new indexing settings (after a re-index)."""
        collection = self._get(name)
        self.ensure_room()
        self._handles.pop(name, None)
        collection.modify(
            metadata={"embedding_model": embedding_model, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap}
        )

    @_disk_errors
    def delete_collection(self, name: str) -> None:
        """Delete a collection and all its chunks."""
        self._get(name)
        self.ensure_room()
        self._handles.pop(name, None)
        self._client.delete_collection(name)
        self.keywords.drop(name)

    def check_embedding_model(self, name: str, embedding_model: str) -> None:
        """Refuse to mix embedding models within a collection (their vectors are not comparable)."""
        # The metadata only: `collection_info` also counts the chunks, a cost per question that grows with the
        # collection.
        recorded = str((self._on_collection(name, lambda c: c.metadata) or {}).get("embedding_model", ""))
        if recorded and recorded != embedding_model:
            raise EmbeddingModelMismatchError(
                f"Collection '{name}' was indexed with the embedding model '{recorded}', but the app is set to "
                f"'{embedding_model}': re-index the collection (Documents page → Re-index, or `python -m core reindex "
                f"--collection {name}`), or set the embedding model back."
            )

    # --- chunks ------------------------------------------------------------------------------

    @_disk_errors
    def add_chunks(self, name: str, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        """Insert (or overwrite, by id) chunks with their embeddings."""
        if not chunks:
            return
        collection = self._get(name)
        self.ensure_room(bytes_to_store([c.text for c in chunks], len(embeddings[0])))
        batch = 1000  # under Chroma's max batch size on every backend
        with self._keywords_follow(name):
            for i in range(0, len(chunks), batch):
                part = chunks[i : i + batch]
                collection.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=[list(map(float, e)) for e in embeddings[i : i + batch]],
                    documents=[c.text for c in part],
                    metadatas=[
                        {
                            "doc_id": c.doc_id,
                            "source": c.source,
                            "page": c.page,
                            "start": c.start,
                            "end": c.end,
                            "ocr": c.ocr,
                            "gen": c.gen,
                        }
                        for c in part
                    ],
                )
        self.keywords.add(name, str(collection.id), [(c.chunk_id, c.doc_id, c.text) for c in chunks])

    @contextlib.contextmanager
    def _keywords_follow(self, name: str) -> Iterator[None]:
        """A write that fails half-way leaves the keyword index unsure of the store: it is re-checked at the next
        search."""
        try:
            yield
        except BaseException:
            self.keywords.forget(name)
            raise

    @_disk_errors
    def delete_document(self, name: str, doc_id: str) -> int:
        """Delete every chunk of one document; returns how many there were."""
        collection = self._get(name)
        ids = collection.get(where={"doc_id": doc_id}, include=[])["ids"]
        if ids:
            self.ensure_room(1024 * len(ids))
            with self._keywords_follow(name):
                collection.delete(ids=ids)
            self.keywords.delete_document(name, doc_id)
        return len(ids)

    def document_generations(self, name: str, doc_id: str) -> dict[int, list[str]]:
        """The ids of one document's chunks, grouped by the generation that wrote them."""
        got = self._get(name).get(where={"doc_id": doc_id}, include=["metadatas"])
        out: dict[int, list[str]] = {}
        for chunk_id, meta in zip(got["ids"], got["metadatas"]):
            out.setdefault(int((meta or {}).get("gen", 0)), []).append(chunk_id)
        return out

    def inventory(self, name: str) -> dict[str, dict[int, int]]:
        """Chunk counts of a whole collection by document and generation (what start-up checks compare)."""
        collection = self._get(name)
        out: dict[str, dict[int, int]] = {}
        batch, offset = 5000, 0
        while True:
            got = collection.get(include=["metadatas"], limit=batch, offset=offset)
            for meta in got["metadatas"]:
                per_gen = out.setdefault(str((meta or {}).get("doc_id", "")), {})
                gen = int((meta or {}).get("gen", 0))
                per_gen[gen] = per_gen.get(gen, 0) + 1
            if len(got["ids"]) < batch:
                return out
            offset += batch

    @_disk_errors
    def delete_chunks(self, name: str, ids: Sequence[str]) -> None:
        """Delete chunks by id."""
        if ids:
            collection = self._get(name)
            self.ensure_room(1024 * len(ids))
            with self._keywords_follow(name):
                for i in range(0, len(ids), 1000):
                    collection.delete(ids=list(ids[i : i + 1000]))
            self.keywords.delete_ids(name, ids)

    def count(self, name: str, doc_id: str | None = None) -> int:
        """Number of chunks in a collection, or of one document in it."""
        collection = self._get(name)
        if doc_id is None:
            return collection.count()
        return len(collection.get(where={"doc_id": doc_id}, include=[])["ids"])

    def chunk_ids(self, name: str, doc_id: str | None = None) -> list[str]:
        """Ids of all chunks (of one document, if given)."""
        where = {"doc_id": doc_id} if doc_id else None
        return list(self._get(name).get(where=where, include=[])["ids"])

    def all_chunks(self, name: str) -> list[Chunk]:
        """Every chunk of a collection (for keyword search and dataset building)."""
        got = self._get(name).get(include=["documents", "metadatas"])
        return [_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def get_chunks(self, name: str, ids: Sequence[str]) -> list[Chunk]:
        """The chunks with these ids (those that exist), in the order asked."""
        if not ids:
            return []
        got = self._on_collection(name, lambda c: c.get(ids=list(ids), include=["documents", "metadatas"]))
        found = {i: _record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
        return [found[i] for i in ids if i in found]

    @_disk_errors
    def keyword_search(self, name: str, question: str, n: int) -> list[tuple[str, float]]:
        """The `n` best chunk ids for the question's words (BM25), with their scores, best first."""
        every_chunk = self._keyword_source(name)
        return self._on_collection(
            name, lambda c: self.keywords.search(name, question, n, str(c.id), c.count, every_chunk)
        )

    @_disk_errors
    def prepare_keywords(self, name: str) -> int:
        """Load or build the collection's keyword index now and fold its journal into a snapshot (an ingest's last
        step, so the first question does not wait for it); returns how many chunks it holds."""
        every_chunk = self._keyword_source(name)
        return self._on_collection(name, lambda c: self.keywords.prepare(name, str(c.id), c.count, every_chunk).live)

    def _keyword_source(self, name: str) -> Callable[[], list[tuple[str, str, str]]]:
        """The collection's chunks as the keyword index reads them, should it have to be rebuilt."""
        return lambda: [(c.chunk_id, c.doc_id, c.text) for c in self.all_chunks(name)]

    @_disk_errors
    def query(self, name: str, embedding: Sequence[float], k: int) -> list[Hit]:
        """The `k` chunks closest to `embedding`, best first."""
        collection = self._cached(name)
        # No count() first: Chroma answers an empty collection, or fewer chunks than asked for, with what it has,
        # and counting cost a scan per question that grows with the collection.
        want = k
        hits: list[Hit] = []
        extra = 0
        healed = False
        while True:
            try:
                got = collection.query(
                    query_embeddings=[list(map(float, embedding))],
                    n_results=want + extra,
                    include=["documents", "metadatas", "distances"],
                )
            except Exception as exc:  # noqa: BLE001 (chromadb.errors.InternalError)
                if _gone(exc) and self._handles.pop(name, None) is not None:
                    collection = self._get(name)  # the kept handle outlived its collection (re-made through `client`)
                    continue
                if healed or not _stale_index_error(exc) or not self.is_local:
                    raise
                # The vector index kept entries a killed run deleted: write the collection afresh, once, and ask again.
                self.rebuild_collection(name)
                collection, healed = self._get(name), True
                continue
            rows = list(zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0]))
            # After a killed run Chroma's vector index can still hold ids whose records were deleted (they come back
            # with no metadata): skip them and ask for as many more, so `k` real chunks still come back.
            hits = [
                Hit(_record(i, d, m), 1.0 - float(dist)) for i, d, m, dist in rows if m is not None and d is not None
            ]
            stale = len(rows) - len(hits)
            if len(hits) >= want or stale == 0 or len(rows) < want + extra or extra >= 4 * k + 100:
                return hits[:k]  # enough, nothing stale, or Chroma has no more to give
            extra += stale

    def index_damaged(self, name: str, sample: int = 5000) -> bool:
        """Whether Chroma's vector index disagrees with its records (possible after a killed write).

        Each chunk's own vector is looked up (up to `sample` chunks): an entry whose record is gone makes
        Chroma fail ("Error finding id") or return no metadata; a missing vector does not find its chunk.
        """
        import random

        collection = self._get(name)
        got = collection.get(include=["embeddings"])
        pairs = list(zip(got["ids"], got["embeddings"]))
        if len(pairs) > sample:
            pairs = random.Random(0).sample(pairs, sample)
        for chunk_id, vector in pairs:
            try:
                found = collection.query(
                    query_embeddings=[list(map(float, vector))], n_results=5, include=["metadatas", "distances"]
                )
            except Exception as exc:  # noqa: BLE001 (chromadb.errors.InternalError, not importable at module level)
                if _stale_index_error(exc):
                    return True
                raise
            if any(m is None for m in found["metadatas"][0]):
                return True
            # Not found itself: lost, unless an identical chunk (same text, same vector) took its place.
            if chunk_id not in found["ids"][0] and min(found["distances"][0], default=1.0) > 1e-5:
                return True
        return False

    @_disk_errors
    def rebuild_collection(self, name: str) -> int:
        """Write a collection afresh from its records (a new vector index), keeping name, settings and chunks.

        The copy is made first under a temporary name that records the original's; `finish_rebuilds`
        completes a rebuild a kill interrupted.
        """
        old = self._get(name)
        got = old.get(include=["embeddings", "documents", "metadatas"])
        self.ensure_room(bytes_to_store(got["documents"], len(got["embeddings"][0]) if len(got["ids"]) else 0))
        meta = {**(old.metadata or {}), REBUILD_KEY: name}
        temp_name = f"rebuild-{os.urandom(6).hex()}"
        temp = self._client.create_collection(
            name=temp_name, metadata=meta, configuration={"hnsw": HNSW_CONFIG.copy()}, embedding_function=None
        )
        for i in range(0, len(got["ids"]), 1000):
            vectors: PyEmbeddings = [list(map(float, e)) for e in got["embeddings"][i : i + 1000]]
            temp.add(
                ids=got["ids"][i : i + 1000],
                embeddings=vectors,
                documents=got["documents"][i : i + 1000],
                metadatas=got["metadatas"][i : i + 1000],
            )
        self._handles.pop(name, None)
        self._client.delete_collection(name)
        self._finish_rebuild(temp)
        return len(got["ids"])

    @_disk_errors
    def finish_rebuilds(self) -> list[str]:
        """Complete rebuilds a kill interrupted: rename a full copy whose original is gone, drop a copy whose original
        is still there."""
        done = []
        names = {c.name for c in self._client.list_collections()}
        for collection in [
            self._client.get_collection(n, embedding_function=None) for n in names if n.startswith("rebuild-")
        ]:
            original = (collection.metadata or {}).get(REBUILD_KEY)
            if not original:
                continue
            if original in names:
                self._client.delete_collection(collection.name)  # the copy may be partial; the original is intact
            else:
                self._finish_rebuild(collection)
                done.append(str(original))
        return done

    def _finish_rebuild(self, temp: Collection) -> None:
        meta = dict(temp.metadata or {})
        original = meta.pop(REBUILD_KEY)
        self._handles.pop(original, None)
        temp.modify(name=original, metadata=meta)

    @property
    def client(self) -> Any:
        """The Chroma client, for LangChain interop (core/integrations); everything else goes through this class."""
        return self._client

    def close(self) -> None:
        """Release the on-disk lock (the client itself has no close)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def ensure_room(self, needed: int = 0) -> None:
        """Raise StorageError before a write when the disk is read-only or would keep less than RESERVE_BYTES free (then
        nothing was written)."""
        folder = self.folder
        room = _room(folder) if folder is not None else None
        if folder is None or room is None:
            return
        read_only, free = room
        if read_only:
            raise _read_only_error(
                folder, "its file system is read-only or not writable by this user; nothing was written"
            )
        if free < needed + RESERVE_BYTES:
            raise _full_error(
                folder,
                f"{free / 1e6:.1f} MB free, and the vector store keeps {RESERVE_BYTES / 1e6:.0f} MB free "
                f"besides the {needed / 1e6:.1f} MB this change needs, so that Chroma never runs out of disk "
                "mid-write; nothing was written",
            )

    # --- helpers -----------------------------------------------------------------------------

    def _cached(self, name: str) -> Any:
        """The collection's kept handle (on-disk store), or a fresh one: for the reads every question makes."""
        handle = self._handles.get(name)
        if handle is None:
            handle = self._get(name)
            if self.is_local:  # a Chroma server's other clients may delete and re-make it at any time
                self._handles[name] = handle
        return handle

    def _on_collection(self, name: str, use: Callable[[Any], _R]) -> _R:
        """`use(collection)` on the kept handle; a handle whose collection was deleted meanwhile is fetched afresh,
        once."""
        cached = name in self._handles
        try:
            return use(self._cached(name))
        except Exception as exc:  # noqa: BLE001 (chromadb.errors.NotFoundError)
            if not (cached and _gone(exc)):
                raise
            self._handles.pop(name, None)
            return use(self._cached(name))

    def _get(self, name: str) -> Any:
        validate_collection_name(name)
        try:
            return self._client.get_collection(name=name, embedding_function=None)
        except Exception as exc:  # chromadb raises NotFoundError/ValueError depending on backend and version
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                raise CollectionNotFoundError(
                    f"There is no collection called '{name}': create it first (Documents page, or `python -m core "
                    f"collections create {name}`)."
                ) from None
            raise

    @staticmethod
    def _info(collection: Collection) -> CollectionInfo:
        meta = collection.metadata or {}
        return CollectionInfo(
            name=collection.name,
            chunks=collection.count(),
            embedding_model=str(meta.get("embedding_model", "")),
            chunk_size=int(meta.get("chunk_size", 0)),
            chunk_overlap=int(meta.get("chunk_overlap", 0)),
        )


def _gone(exc: Exception) -> bool:
    """Chroma's error for a handle whose collection no longer exists."""
    return "does not exist" in str(exc)


def _stale_index_error(exc: Exception) -> bool:
    """Chroma's error for a vector-index entry whose record is gone."""
    return "Error finding id" in str(exc)


def _record(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        doc_id=str(meta["doc_id"]),
        source=str(meta["source"]),
        page=int(meta["page"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        ocr=bool(meta.get("ocr", False)),
        gen=int(meta.get("gen", 0)),
    )


def check_store_files(chroma: Path) -> dict[str, object]:
    """Open an on-disk store, read a few vectors of every collection and query with one of them (run in a child:
    core/store_probe.py)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    try:
        client = chromadb.PersistentClient(
            path=str(chroma), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        collections = client.list_collections()
    except Exception as exc:  # noqa: BLE001 (any failure here means the store cannot be opened)
        return {"unreadable": f"{type(exc).__name__}: {str(exc)[:200]}"}
    damaged: dict[str, str] = {}
    for collection in collections:
        try:
            if collection.count() == 0:
                continue
            got = collection.get(limit=20, include=["embeddings"])  # loads the vector index
            if got["embeddings"] is None or len(got["embeddings"]) == 0:
                raise ValueError("no vectors come back for its records")
            vector: Sequence[float] = [float(x) for x in got["embeddings"][0]]
            collection.query(query_embeddings=[vector], n_results=min(5, collection.count()), include=["distances"])
        except Exception as exc:  # noqa: BLE001 (chromadb.errors.InternalError and whatever a damaged file causes)
            damaged[collection.name] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return {"damaged": damaged}


def lock_store(settings: Settings) -> "_DirLock":
    """Take this process's exclusive lock on the on-disk store (StoreLockedError when another process holds it);
    `release` it."""
    path = settings.data_dir / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return _DirLock.acquire(path)
    except OSError as exc:
        translated = storage_error(exc, path / ".domainchat.lock")
        if translated is exc:
            raise
        raise translated from exc


class _DirLock:
    """An exclusive lock on an on-disk store, shared by everything in this process.

    Chroma's PersistentClient is not safe with two writer processes; a second app process on the
    same directory must get a clear error instead of a hang or a corrupted index.
    """

    _held: dict[Path, "_DirLock"] = {}
    _guard = threading.Lock()

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path, self.handle, self.users = path, handle, 1

    @classmethod
    def acquire(cls, directory: Path) -> "_DirLock":
        path = (directory / ".domainchat.lock").resolve()
        with cls._guard:  # the class's own members: one table of held locks per process, whichever store asks
            held = cls._held.get(path)
            if held is not None:
                held.users += 1
                return held
            handle = open(path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "another process"
                handle.close()
                raise StoreLockedError(
                    f"The index in {directory} is in use by {owner}: stop that domainchat process (the app or a "
                    "`python -m core` command) and try again, or set DOMAINCHAT_DATA_DIR to another directory."
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}")
            handle.flush()
            lock = cls(path, handle)
            cls._held[path] = lock
            return lock

    def release(self) -> None:
        with self._guard:
            self.users -= 1
            if self.users == 0:
                self._held.pop(self.path, None)
                fcntl.flock(self.handle, fcntl.LOCK_UN)
                self.handle.close()
