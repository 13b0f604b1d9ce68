"""Ingestion with both cores busy: upcoming files are checked and parsed while earlier ones are embedded.

One thread runs the indexer's checks and parsing for the next files, in one reusable parser process
(`ParseWorker`, kept started between uploads by `SpareWorkers`: no interpreter start per file); the calling
thread chunks, embeds the chunks of several files in shared model batches, and stores them. Every step is
a public step of `core/library/indexer.py`, so the outcome per file is exactly the library's (indexed,
duplicate or rejected with its reason), in the order given; progress reports and every Streamlit-visible
callback happen on the calling thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from core.base.chunks import Chunk
from core.library.indexer import Indexer
from core.library.parsing.loaders import ParseFailure
from core.library.types import EMBED_BATCH, IngestResult, Prepared, Progress, ProgressFn, UploadedFile

AHEAD = 32  # parsed files waiting at most (bounds the memory held by parsed pages; lets small files group)
SETTLE_S = 0.3  # with files waiting but none ready, how long to wait for more before embedding a smaller group
GROUP_CHUNKS = 256  # chunks of several small files embedded together, in the library's model batches


class IngestPipeline:
    """Runs `DocumentLibrary` ingestion overlapped: parse ahead on a thread, embed and store here."""

    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer

    def run(
        self, collection: str, files: list[UploadedFile], report: ProgressFn, ocr: bool = False
    ) -> list[IngestResult]:
        """Index every file; one file's failure never stops the others (an AppError from the store or model does)."""
        steps = self.indexer
        events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        room = threading.Semaphore(AHEAD)
        stop = threading.Event()

        def produce() -> None:
            try:
                with steps.reusing_parser():  # one parser process for every file of this upload
                    for i, upload in enumerate(files):
                        room.acquire()
                        if stop.is_set():
                            return
                        prepared = steps.prepare(collection, upload, lambda p: events.put(("progress", p)), ocr)
                        events.put(("file", i, prepared))
            except BaseException as exc:  # handed to the calling thread, which raises it there
                events.put(("error", exc))
            finally:
                events.put(("end",))  # after the parser process went back to the spares

        results: dict[int, IngestResult] = {}
        first_of: dict[str, str] = {}  # doc id → the name it is being indexed under in this run
        pending: list[tuple[int, Prepared, list[Chunk]]] = []
        producer = threading.Thread(target=produce, name="ingest-parse", daemon=True)
        producer.start()
        try:
            while True:
                try:
                    event = events.get(timeout=SETTLE_S) if pending else events.get()
                except queue.Empty:  # nothing more parsed for a moment: embed what is waiting rather than idle
                    self._flush(collection, pending, results, report)
                    continue
                if event[0] == "progress":
                    report(event[1])
                elif event[0] == "error":
                    raise event[1]
                elif event[0] == "end":
                    self._flush(collection, pending, results, report)
                    break
                else:
                    room.release()
                    i, prepared = event[1], event[2]
                    self._take(collection, i, prepared, first_of, pending, results, report)
                    if sum(len(r) for _, _, r in pending) >= GROUP_CHUNKS:
                        self._flush(collection, pending, results, report)
        except BaseException:
            # Stopped (an error, or Streamlit ending the script in a progress callback): undo every file
            # that is pending here or already parsed ahead, so nothing stays half-done.
            stop.set()
            for _ in range(AHEAD + 1):
                room.release()
            producer.join()
            ahead = []
            while not events.empty():
                event = events.get_nowait()
                if event[0] == "file" and not isinstance(event[2], IngestResult):
                    ahead.append(event[2])
            for prepared in [p for _, p, _ in pending] + ahead:
                steps.abandon(collection, prepared)
            raise
        finally:
            stop.set()
            for _ in range(AHEAD + 1):
                room.release()
            producer.join()
        return [results[i] for i in sorted(results)]

    def _take(
        self,
        collection: str,
        i: int,
        prepared: IngestResult | Prepared,
        first_of: dict[str, str],
        pending: list,
        results: dict,
        report: ProgressFn,
    ) -> None:
        """A file off the parsing thread: finish it (duplicate, rejected, empty) or chunk it and queue it for
        embedding."""
        steps = self.indexer
        if isinstance(prepared, IngestResult):
            self._done(collection, i, prepared, results, report)
            return
        if prepared.doc_id in first_of:  # the same bytes twice in one upload: the first copy is being indexed
            self._done(
                collection,
                i,
                IngestResult(
                    prepared.name,
                    "duplicate",
                    prepared.doc_id,
                    prepared.kind,
                    len(prepared.pages),
                    0,
                    prepared.size,
                    reason=f"Already indexed as '{first_of[prepared.doc_id]}': nothing to do.",
                ),
                results,
                report,
            )
            return
        try:
            records = steps.chunk(
                prepared.doc_id,
                prepared.name,
                prepared.pages,
                steps.settings.chunk_size,
                steps.settings.chunk_overlap,
                report,
                prepared.gen,
            )
        except ParseFailure as exc:
            self._done(collection, i, steps.reject(collection, prepared, exc), results, report)
            return
        first_of[prepared.doc_id] = prepared.name
        pending.append((i, prepared, records))

    def _flush(self, collection: str, pending: list, results: dict, report: ProgressFn) -> None:
        """Embed the waiting files' chunks together, then store each file and record it."""
        if not pending:
            return
        steps = self.indexer
        texts = [c.text for _, _, records in pending for c in records]
        vectors: list[list[float]] = []
        offsets, total = [], 0
        for _, _, records in pending:
            offsets.append(total)
            total += len(records)
        for start in range(0, len(texts), EMBED_BATCH):
            vectors.extend(steps.embedder.embed(texts[start : start + EMBED_BATCH]))
            done = len(vectors)
            for (_, prepared, records), offset in zip(pending, offsets):  # each file with chunks in this batch
                if offset < done and offset + len(records) > start:
                    report(Progress(prepared.name, "embedding", min(len(records), done - offset), len(records)))
        # One store write for the whole group (a write per small file cost 14% of ingesting 1,000 text files). No
        # progress is reported during it, so Streamlit cannot stop the script there; each file stays "pending" in the
        # catalog until its own row says "indexed", and a stop after the write undoes only the files not yet recorded.
        try:
            steps.store_chunks(collection, [c for _, _, records in pending for c in records], vectors)
        except BaseException:  # an AppError from the store (disk full, locked)
            for _, prepared, _ in pending:
                steps.abandon(collection, prepared)
            pending.clear()
            raise
        while pending:
            i, prepared, records = pending.pop(0)
            try:
                report(Progress(prepared.name, "storing", len(records), len(records)))  # written with its group
                indexed = steps.mark_indexed(
                    collection, prepared, len(records)
                )  # the catalog write can fail too (disk full)
            except BaseException:  # an AppError, or Streamlit stopping the script in a progress callback
                steps.abandon(collection, prepared)
                raise
            self._done(collection, i, indexed, results, report)

    def _done(self, collection: str, i: int, result: IngestResult, results: dict, report: ProgressFn) -> None:
        if result.status == "rejected":
            self.indexer.record_rejection(collection, result)
        report(Progress(result.name, "done", detail=result.status))
        results[i] = result
