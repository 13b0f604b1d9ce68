"""The indexer's public steps, one at a time, on a real Chroma with the real embedding model: what each step
leaves in the catalog, the store and the kept originals, so a run stopped between any two of them is undone."""

from __future__ import annotations

import dataclasses
import re
import threading

import pytest

from core.config import Settings
from core.library.parsing.loaders import Page, ParseFailure
from core.library.types import IngestResult, Prepared, Progress, UploadedFile
from core.services import Services, build_services
from tests.helpers import fixtures_docs as fx

C = "manuals"
TEXT = b"The filter is rinsed under running water every week. " * 40


def quiet(_p: Progress) -> None:
    pass


def prepared(services: Services, name: str = "care.txt", data: bytes = TEXT) -> Prepared:
    indexer = services.library.indexer
    services.library.create_collection(C)
    out = indexer.prepare(C, UploadedFile(name, data), quiet, ocr=False)
    assert isinstance(out, Prepared), out
    return out


def test_each_step_leaves_a_state_recovery_understands_and_marking_indexed_is_the_last(services: Services) -> None:
    indexer = services.library.indexer
    p = prepared(services)
    # prepared: the row says pending (recovery re-indexes it) and the original is kept; nothing is stored yet
    row = services.catalog.get(C, p.doc_id)
    assert row is not None and row.status == "pending" and row.stored_as == p.stored_as
    assert (services.library.originals / p.stored_as).is_file() and services.store.count(C) == 0

    seen: list[Progress] = []
    chunks = indexer.chunk(
        p.doc_id, p.name, p.pages, services.settings.chunk_size, services.settings.chunk_overlap, seen.append, p.gen
    )
    vectors = indexer.embed(p.name, chunks, seen.append)
    assert len(vectors) == len(chunks) > 1 and {len(v) for v in vectors} == {len(vectors[0])}
    assert [e.stage for e in seen] == ["chunking", "chunking", "embedding"]
    indexer.store_chunks(C, chunks, vectors)
    # stored but not recorded: still pending, so a kill here is re-indexed at the next start, never counted as done
    assert services.catalog.get(C, p.doc_id).status == "pending"  # type: ignore[union-attr]
    assert services.store.count(C, p.doc_id) == len(chunks)

    result = indexer.mark_indexed(C, p, len(chunks))
    assert (result.status, result.chunks, result.pages) == ("indexed", len(chunks), len(p.pages))
    record = services.catalog.get(C, p.doc_id)
    assert record is not None and record.status == "indexed" and indexer.is_intact(record)
    again = indexer.prepare(C, UploadedFile("copy.txt", TEXT), quiet, ocr=False)
    assert isinstance(again, IngestResult) and again.status == "duplicate" and "care.txt" in again.reason


def test_abandon_undoes_a_stored_but_unrecorded_file_and_never_an_indexed_one(services: Services) -> None:
    indexer = services.library.indexer
    p = prepared(services)
    chunks = indexer.chunk(p.doc_id, p.name, p.pages, 500, 50, quiet, p.gen)
    indexer.store_chunks(C, chunks, indexer.embed(p.name, chunks, quiet))
    indexer.abandon(C, p)
    assert services.catalog.get(C, p.doc_id) is None and services.store.count(C) == 0
    assert list(services.library.originals.iterdir()) == []

    done = services.library.ingest(C, [UploadedFile("care.txt", TEXT)])[0]
    assert done.status == "indexed"
    indexer.abandon(C, p)  # the same bytes, now indexed: not pending, so left alone
    assert services.catalog.get(C, p.doc_id).status == "indexed"  # type: ignore[union-attr]
    assert services.store.count(C, p.doc_id) == done.chunks and (services.library.originals / p.stored_as).is_file()


def test_a_new_generation_is_stored_beside_the_old_one_until_it_is_pruned(services: Services) -> None:
    indexer = services.library.indexer
    (done,) = services.library.ingest(C, [UploadedFile("manual.pdf", fx.pdf_bytes())])
    record = services.catalog.get(C, done.doc_id)
    assert record is not None and record.gen == 0
    pages = indexer.parse(services.library.originals / record.stored_as, record.kind, record.name, quiet)
    added = indexer.index(C, record.doc_id, record.name, pages, 200, 20, quiet, gen=1)
    generations = services.store.document_generations(C, record.doc_id)
    assert set(generations) == {0, 1} and len(generations[1]) == added
    assert not indexer.is_intact(record)  # two generations: recovery would prune the one the row does not name

    indexer.drop_generation(C, record.doc_id, 1)  # an interrupted re-index undone: the old generation still answers
    assert set(services.store.document_generations(C, record.doc_id)) == {0} and indexer.is_intact(record)

    indexer.index(C, record.doc_id, record.name, pages, 200, 20, quiet, gen=1)
    assert indexer.prune_generations(C, record.doc_id, keep=1) == record.chunks
    assert set(services.store.document_generations(C, record.doc_id)) == {1}


def test_a_file_without_text_is_rejected_and_a_rejection_never_hides_an_indexed_document(services: Services) -> None:
    indexer = services.library.indexer
    # what a parser may hand back for a file of layout only: pages, none with text to chunk
    blank = dataclasses.replace(prepared(services, "blank.txt", b"-"), pages=[Page(1, " \n "), Page(2, "")])
    with pytest.raises(ParseFailure) as failure:
        indexer.chunk(blank.doc_id, blank.name, blank.pages, 500, 50, quiet)
    result = indexer.reject(C, blank, failure.value)
    assert (result.status, result.code) == ("rejected", "empty")
    row = services.catalog.get(C, blank.doc_id)
    assert row is not None and (row.status, row.stored_as) == ("rejected", "") and "no text" in row.reason
    assert not (services.library.originals / blank.stored_as).exists()

    (done,) = services.library.ingest(C, [UploadedFile("care.txt", TEXT)])
    indexer.record_rejection(C, IngestResult("care.txt", "rejected", done.doc_id, "txt", reason="a failed re-upload"))
    assert services.catalog.get(C, done.doc_id).status == "indexed"  # type: ignore[union-attr]


def test_an_original_goes_only_when_no_row_in_any_collection_uses_it(services: Services) -> None:
    indexer = services.library.indexer
    (first,) = services.library.ingest("one", [UploadedFile("care.txt", TEXT)])
    services.library.ingest("two", [UploadedFile("care.txt", TEXT)])
    stored_as = services.catalog.get("one", first.doc_id).stored_as  # type: ignore[union-attr]
    services.catalog.delete("one", first.doc_id)
    indexer.forget_original(stored_as)
    assert (services.library.originals / stored_as).is_file()  # collection "two" still points at it
    services.catalog.delete("two", first.doc_id)
    indexer.forget_original(stored_as)
    assert not (services.library.originals / stored_as).exists()


def test_files_parsed_inside_reusing_parser_share_one_parser_process(settings: Settings, embedder) -> None:  # noqa: ANN001
    svc = build_services(settings, embedder=embedder, parser="tests.helpers.mixed_parser:parse")
    indexer = svc.library.indexer
    svc.library.create_collection(C)
    texts: list[str] = []

    def parse_three() -> None:  # on its own thread, as the pipeline's parsing thread does
        with indexer.reusing_parser():
            for i in range(3):
                out = indexer.prepare(
                    C, UploadedFile(f"n{i}.txt", f"PID note {i} about the pump.".encode()), quiet, ocr=False
                )
                assert isinstance(out, Prepared)
                texts.extend(page.text for page in out.pages)

    try:
        thread = threading.Thread(target=parse_three)
        thread.start()
        thread.join()
        pids = {pid_of(t) for t in texts}
        assert len(texts) == 3 and len(pids) == 1
        # the block gave its process back to the spares: the next file parsed outside it is read by the same one
        (row,) = [r for r in svc.library.list_documents(C) if r.name == "n0.txt"]
        (page,) = indexer.parse(svc.library.originals / row.stored_as, "txt", "n0.txt", quiet)
        assert {pid_of(page.text)} == pids
    finally:
        svc.close()


def pid_of(text: str) -> str:
    found = re.search(r"parsed-by-process-(\d+)", text)
    assert found, text
    return found.group(1)
