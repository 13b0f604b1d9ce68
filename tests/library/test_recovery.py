"""Each half-done state an interrupted run can leave, made on a real Chroma, and what start-up recovery does with it."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import Settings
from core.library.catalog import ReindexIntent, now
from core.library.parsing.loaders import load
from core.library.service import Progress, UploadedFile
from core.services import Services, build_services
from tests.helpers import fixtures_docs as fx

C = "manuals"


class Stop(BaseException):
    """What Streamlit raises inside a callback when the user touches a widget mid-run (not an Exception)."""


def reopen(svc: Services, settings: Settings, embedder) -> Services:
    svc.close()
    return build_services(settings, embedder=embedder)


def upload(svc: Services, name: str = "manual.pdf", data: bytes | None = None):
    (result,) = svc.library.ingest(C, [UploadedFile(name, data or fx.pdf_bytes())])
    return result


def assert_consistent(svc: Services) -> None:
    rows = svc.catalog.documents(C)
    assert {r.status for r in rows} <= {"indexed", "rejected"}
    inventory = svc.store.inventory(C)
    indexed = {r.doc_id: r for r in rows if r.status == "indexed"}
    assert inventory == {d: {r.gen: r.chunks} for d, r in indexed.items()}
    assert {p.name for p in svc.library.originals.iterdir()} == {r.stored_as for r in rows if r.stored_as}


def test_a_stop_inside_the_progress_callback_leaves_nothing_half_done(services: Services, settings: Settings) -> None:
    def stop_while_storing(event: Progress) -> None:
        if event.stage == "storing" and event.done:
            raise Stop()  # after the chunks went into Chroma, before the catalog said "indexed"

    with pytest.raises(Stop):
        services.library.ingest(C, [UploadedFile("manual.pdf", fx.pdf_bytes())], progress=stop_while_storing)
    assert services.catalog.documents(C) == []
    assert services.store.count(C) == 0
    assert list(services.library.originals.iterdir()) == []
    assert upload(services).status == "indexed"


def test_an_interrupted_upload_is_indexed_again_from_its_kept_original(
    services: Services, settings: Settings, embedder
) -> None:
    good = upload(services)
    row = services.catalog.get(C, good.doc_id)
    # As a kill between "chunks stored" and "catalog says indexed" leaves it: pending, with a partial set of chunks.
    services.catalog.upsert(dataclasses.replace(row, status="pending", chunks=0))
    ids = services.store.chunk_ids(C, good.doc_id)
    services.store.delete_chunks(C, ids[1:])
    svc = reopen(services, settings, embedder)
    try:
        assert svc.recovery.reindexed == [f"{C}/manual.pdf"] and "re-indexed" in svc.recovery.summary()
        assert svc.catalog.get(C, good.doc_id).status == "indexed"
        assert_consistent(svc)
        assert svc.store.count(C) == good.chunks
    finally:
        svc.close()


def test_an_interrupted_upload_whose_original_is_gone_is_reported_not_hidden(
    services: Services, settings: Settings, embedder
) -> None:
    good = upload(services)
    row = services.catalog.get(C, good.doc_id)
    services.catalog.upsert(dataclasses.replace(row, status="pending"))
    (services.library.originals / row.stored_as).unlink()
    svc = reopen(services, settings, embedder)
    try:
        assert svc.recovery.lost == [f"{C}/manual.pdf"]
        after = svc.catalog.get(C, good.doc_id)
        assert after.status == "rejected" and "upload the file again" in after.reason
        assert svc.store.count(C) == 0
        assert upload(svc).status == "indexed"  # and uploading it again works
    finally:
        svc.close()


def test_an_indexed_row_without_chunks_is_not_a_duplicate_forever(services: Services) -> None:
    good = upload(services)
    services.store.delete_document(C, good.doc_id)  # as the old delete order left it after a crash
    again = upload(services, "manual-again.pdf")
    assert again.status == "indexed" and again.chunks == good.chunks
    assert services.store.count(C) == good.chunks
    assert_consistent(services)


def test_an_interrupted_delete_is_finished(services: Services, settings: Settings, embedder) -> None:
    good = upload(services)
    upload(services, "notes.txt", b"The filter is cleaned every two weeks. " * 20)
    services.catalog.set_status(C, "deleting", [good.doc_id])
    svc = reopen(services, settings, embedder)
    try:
        assert svc.recovery.finished_deletes == [f"{C}/manual.pdf"]
        assert svc.catalog.get(C, good.doc_id) is None and svc.store.count(C, good.doc_id) == 0
        assert_consistent(svc)
    finally:
        svc.close()


def test_an_interrupted_reindex_keeps_one_generation_and_is_resumed(
    services: Services, settings: Settings, embedder
) -> None:
    first = upload(services)
    second = upload(
        services,
        "contract.docx",
        fx.docx_bytes(["Clause one about fees. " * 40, "Clause two about termination. " * 40]),
    )
    lib = services.library
    # Kill after the first document switched to the new chunking and while the second had half its new chunks.
    services.catalog.start_reindex(ReindexIntent(C, 200, 20, now()))
    lib.index_from_original(services.catalog.get(C, first.doc_id), 200, 20)
    row = services.catalog.get(C, second.doc_id)
    pages = load(lib.originals / row.stored_as, "docx")
    lib._index(C, row.doc_id, row.name, pages[:1], 200, 20, lambda _p: None, gen=row.gen + 1)
    assert set(services.store.inventory(C)[second.doc_id]) == {row.gen, row.gen + 1}
    svc = reopen(services, settings, embedder)
    try:
        assert svc.recovery.resumed_reindex == [C]
        assert_consistent(svc)
        rows = svc.catalog.documents(C)
        assert {(r.chunk_size, r.chunk_overlap) for r in rows} == {(200, 20)}
        assert (svc.store.collection_info(C).chunk_size, svc.store.collection_info(C).chunk_overlap) == (200, 20)
        assert svc.catalog.reindex_intents() == []
        assert max(len(c.text) for c in svc.store.all_chunks(C)) <= 200
    finally:
        svc.close()


def test_stray_chunks_originals_and_temp_files_are_removed(services: Services, settings: Settings, embedder) -> None:
    good = upload(services)
    stray = services.library.originals / ("f" * 64 + ".pdf")
    stray.write_bytes(b"%PDF-1.4 orphan")
    temp = services.library.originals / ".upload-abc123"
    temp.write_bytes(b"half")
    # chunks of a document the catalog does not know (what the old ingest order left after a crash)
    services.catalog.delete(C, good.doc_id)
    svc = reopen(services, settings, embedder)
    try:
        assert svc.store.count(C) == 0
        assert list(svc.library.originals.iterdir()) == []
        assert svc.recovery.removed_chunks == good.chunks and svc.recovery.removed_files == 3
    finally:
        svc.close()


def test_a_clean_start_reports_nothing(services: Services, settings: Settings, embedder) -> None:
    upload(services)
    svc = reopen(services, settings, embedder)
    try:
        assert not svc.recovery
    finally:
        svc.close()


def test_only_one_process_repairs_at_a_time(services: Services, settings: Settings, embedder) -> None:
    assert services.maintenance_lock is not None
    second = build_services(dataclasses.replace(settings), embedder=embedder)  # same data dir, same process
    try:
        assert second.maintenance_lock is None
    finally:
        second.close()
