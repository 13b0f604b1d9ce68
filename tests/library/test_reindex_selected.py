"""Re-indexing chosen documents from their kept originals (the Documents table's selection): real parsing, Chroma,
embeddings."""

from __future__ import annotations

import pytest

from core.errors import DocumentNotFoundError
from core.library.service import UploadedFile
from core.services import Services
from tests.helpers import fixtures_docs as fx


@pytest.fixture
def two_docs(services: Services) -> Services:
    results = services.library.ingest(
        "manuals", [UploadedFile("a.pdf", fx.pdf_bytes()), UploadedFile("b.pdf", fx.pdf_bytes(fx.PAGE_TEXTS[:2]))]
    )
    assert [r.status for r in results] == ["indexed", "indexed"]
    return services


def records(svc: Services) -> dict:
    return {r.name: r for r in svc.library.list_documents("manuals")}


def test_only_the_chosen_document_gets_a_new_generation_and_keeps_its_chunk_count(two_docs: Services) -> None:
    before = records(two_docs)
    (result,) = two_docs.library.reindex_documents("manuals", [before["b.pdf"].doc_id])
    assert (result.name, result.status, result.pages, result.chunks) == ("b.pdf", "indexed", 2, before["b.pdf"].chunks)
    after = records(two_docs)
    assert after["b.pdf"].gen == before["b.pdf"].gen + 1 and after["b.pdf"].indexed_at > before["b.pdf"].indexed_at
    assert after["a.pdf"] == before["a.pdf"]
    assert all(two_docs.library.is_intact(r) for r in after.values())  # the old generation's chunks are gone
    assert two_docs.library.collection_info("manuals").chunks == sum(r.chunks for r in after.values())


def test_a_document_whose_original_is_missing_is_reported_and_keeps_its_chunks(two_docs: Services) -> None:
    before = records(two_docs)
    (two_docs.library.originals / before["a.pdf"].stored_as).unlink()
    (result,) = two_docs.library.reindex_documents("manuals", [before["a.pdf"].doc_id])
    assert result.status == "rejected" and "upload it again" in result.reason
    assert records(two_docs)["a.pdf"] == before["a.pdf"] and two_docs.library.is_intact(before["a.pdf"])


def test_an_unknown_document_id_says_how_to_list_the_documents(two_docs: Services) -> None:
    with pytest.raises(DocumentNotFoundError, match="docs list --collection manuals"):
        two_docs.library.reindex_documents("manuals", ["0" * 64])
