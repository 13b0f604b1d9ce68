"""Replacing a document by a new version (same name, new bytes) on a real Chroma with real embeddings."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import AmbiguousDocumentError, DocumentNotFoundError
from core.library.catalog import Catalog
from core.library.service import UploadedFile
from core.services import Services
from tests.helpers import fixtures_docs as fx

ROOT = Path(__file__).resolve().parents[2]
V1 = fx.PAGE_TEXTS
V2 = [V1[0], V1[1], "Page three covers warranty. The warranty lasts 36 months from purchase."]


def _add(svc: Services, name: str, data: bytes, collection: str = "manuals") -> str:
    (result,) = svc.library.ingest(collection, [UploadedFile(name, data)])
    assert result.status == "indexed", result.reason
    return result.doc_id


def test_replacing_swaps_the_chunks_keeps_the_name_and_counts_the_version(services: Services) -> None:
    svc = services
    old_id = _add(svc, "manual.pdf", fx.pdf_bytes(V1))
    _add(svc, "other.pdf", fx.pdf_bytes(["Another document about descaling the kettle every month."]))
    old_chunks = set(svc.store.chunk_ids("manuals", old_id))

    result = svc.library.replace_document("manuals", UploadedFile("manual.pdf", fx.pdf_bytes(V2)))

    assert (result.status, result.name, result.version, result.previous_doc_id) == ("replaced", "manual.pdf", 2, old_id)
    assert result.doc_id != old_id and result.pages == 3 and result.chunks > 0 and result.seconds > 0
    assert svc.store.count("manuals", old_id) == 0
    new_chunks = set(svc.store.chunk_ids("manuals", result.doc_id))
    assert len(new_chunks) == result.chunks and not new_chunks & old_chunks
    docs = {d.name: d for d in svc.library.list_documents("manuals")}
    assert set(docs) == {"manual.pdf", "other.pdf"}  # not a second "manual.pdf"
    assert (docs["manual.pdf"].doc_id, docs["manual.pdf"].version) == (result.doc_id, 2)
    # the old original is gone from the data directory, the new one is kept for re-indexing
    originals = {p.name for p in svc.library.originals.iterdir() if not p.name.startswith(".")}
    assert f"{old_id}.pdf" not in originals and docs["manual.pdf"].stored_as in originals
    top = svc.retriever.search("manuals", "How long does the warranty last?", 1).chunks[0]
    assert "36 months" in top.text and "24 months" not in top.text

    again = svc.library.replace_document("manuals", UploadedFile("manual.pdf", fx.pdf_bytes(V2)))
    assert again.status == "unchanged" and again.version == 2 and "same bytes" in again.reason
    third = svc.library.replace_document(
        "manuals", UploadedFile("renamed-on-disk.pdf", fx.pdf_bytes(V1)), doc_id=result.doc_id
    )
    assert (third.status, third.name, third.version) == ("replaced", "manual.pdf", 3)


def test_a_broken_new_version_is_rejected_and_the_old_one_stays_searchable(services: Services) -> None:
    svc = services
    old_id = _add(svc, "manual.pdf", fx.pdf_bytes(V1))
    before = sorted(svc.store.chunk_ids("manuals"))

    result = svc.library.replace_document("manuals", UploadedFile("manual.pdf", fx.truncated_pdf()))

    assert result.status == "rejected" and "indexed version is kept" in result.reason
    assert sorted(svc.store.chunk_ids("manuals")) == before
    (doc,) = svc.library.list_documents("manuals")
    assert (doc.doc_id, doc.version, doc.status) == (old_id, 1, "indexed")
    assert len([p for p in svc.library.originals.iterdir() if not p.name.startswith(".")]) == 1


def test_replacing_needs_exactly_one_target(services: Services) -> None:
    svc = services
    _add(svc, "manual.pdf", fx.pdf_bytes(V1))
    with pytest.raises(DocumentNotFoundError, match="ingest --collection manuals"):
        svc.library.replace_document("manuals", UploadedFile("unknown.pdf", fx.pdf_bytes(V2)))
    _add(
        svc, "manual.pdf", fx.pdf_bytes(["A different file that happens to have the same name, about water softeners."])
    )
    with pytest.raises(AmbiguousDocumentError, match="--doc-id"):
        svc.library.replace_document("manuals", UploadedFile("manual.pdf", fx.pdf_bytes(V2)))
    # bytes already indexed under another document are not a new version of this one
    other = _add(svc, "notes.pdf", fx.pdf_bytes(["Notes about the kettle."]))
    target = svc.library.list_documents("manuals")[-1].doc_id
    dup = svc.library.replace_document(
        "manuals", UploadedFile("manual.pdf", fx.pdf_bytes(["Notes about the kettle."])), doc_id=target
    )
    assert dup.status == "rejected" and dup.code == "duplicate" and "notes.pdf" in dup.reason
    assert svc.store.count("manuals", other) > 0


def test_upload_names_matching_a_document_are_offered_as_replacements(services: Services) -> None:
    svc = services
    old_id = _add(svc, "manual.pdf", fx.pdf_bytes(V1))
    files = [
        UploadedFile("manual.pdf", fx.pdf_bytes(V2)),
        UploadedFile("manual.pdf", fx.pdf_bytes(V1)),
        UploadedFile("new.pdf", fx.pdf_bytes(V2)),
    ]
    targets = svc.library.replacement_targets("manuals", files[:1] + files[2:])
    assert {name: r.doc_id for name, r in targets.items()} == {"manual.pdf": old_id}
    assert svc.library.replacement_targets("manuals", files[1:2]) == {}  # same bytes: a duplicate, not a version


def test_a_catalog_written_before_versions_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE documents (collection TEXT NOT NULL, doc_id TEXT NOT NULL, name TEXT NOT NULL,"
        " kind TEXT NOT NULL, pages INTEGER NOT NULL, chunks INTEGER NOT NULL, size INTEGER NOT NULL,"
        " indexed_at REAL NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, stored_as TEXT NOT NULL,"
        " PRIMARY KEY (collection, doc_id))"
    )
    db.execute("INSERT INTO documents VALUES ('m', 'abc', 'a.pdf', 'pdf', 1, 2, 3, 4.0, 'indexed', '', 'abc.pdf')")
    db.commit()
    db.close()
    (record,) = Catalog(path).documents("m")
    assert (record.name, record.version) == ("a.pdf", 1)


@pytest.mark.slow
def test_cli_docs_replace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data), "DOMAINCHAT_ENGINE": "embedded"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    (tmp_path / "v1" / "manual.pdf").write_bytes(fx.pdf_bytes(V1))
    (tmp_path / "v2" / "manual.pdf").write_bytes(fx.pdf_bytes(V2))
    assert run("ingest", "--collection", "manuals", str(tmp_path / "v1" / "manual.pdf")).returncode == 0
    proc = run("docs", "replace", "--collection", "manuals", str(tmp_path / "v2" / "manual.pdf"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["status"], out["name"], out["version"]) == ("replaced", "manual.pdf", 2)
    (doc,) = json.loads(run("docs", "list", "--collection", "manuals").stdout)
    assert (doc["doc_id"], doc["version"]) == (out["doc_id"], 2)
    missing = run("docs", "replace", "--collection", "manuals", str(tmp_path / "v2" / "nothing.pdf"))
    assert missing.returncode == 1 and "Cannot read" in missing.stderr
