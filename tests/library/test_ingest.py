"""Ingestion end to end on a real Chroma: every file ends indexed, duplicate or rejected; nothing is lost."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from core.config import Settings
from core.errors import EmbeddingModelMismatchError, InvalidNameError
from core.library.service import UploadedFile
from core.services import Services, build_services
from tests.helpers import fixtures_docs as fx
from tests.helpers.chroma_server import chroma_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["disk", "server"])
def any_store(request: pytest.FixtureRequest, settings: Settings, embedder, tmp_path: Path) -> Iterator[Services]:
    """The same services over an on-disk store and over a real Chroma server."""
    if request.param == "disk":
        svc = build_services(settings, embedder=embedder)
        yield svc
        svc.close()
        return
    with chroma_server(tmp_path / "chroma-server-data") as port:
        svc = build_services(
            dataclasses.replace(settings, chroma_host="127.0.0.1", chroma_port=port), embedder=embedder
        )
        yield svc
        svc.close()


def ingest(svc: Services, *files: tuple[str, bytes], collection: str = "manuals"):
    return svc.library.ingest(collection, [UploadedFile(n, d) for n, d in files])


def test_ingest_is_idempotent_deletable_and_reindexable(any_store: Services) -> None:
    svc = any_store
    (first,) = ingest(svc, ("manual.pdf", fx.pdf_bytes()))
    assert (first.status, first.pages) == ("indexed", 3)
    ids = svc.store.chunk_ids("manuals")
    assert len(ids) == len(set(ids)) == first.chunks == svc.store.count("manuals")
    assert all(i.startswith(first.doc_id[:32]) for i in ids)

    (again,) = ingest(svc, ("copy-of-manual.pdf", fx.pdf_bytes()))
    assert again.status == "duplicate" and "Already indexed" in again.reason
    assert sorted(svc.store.chunk_ids("manuals")) == sorted(ids)

    ingest(
        svc, ("contract.docx", fx.docx_bytes(["Clause one about fees. " * 40, "Clause two about termination. " * 40]))
    )
    before = svc.store.count("manuals")
    docs = {d.name: d for d in svc.library.list_documents("manuals")}
    assert set(docs) == {"manual.pdf", "contract.docx"}

    results = svc.library.reindex("manuals", chunk_size=200, chunk_overlap=20)
    assert {r.status for r in results} == {"indexed"}
    after_ids = svc.store.chunk_ids("manuals")
    assert len(after_ids) > before and len(after_ids) == len(set(after_ids))
    info = svc.store.collection_info("manuals")
    assert (info.chunk_size, info.chunk_overlap) == (200, 20)
    catalog_total = sum(d.chunks for d in svc.library.list_documents("manuals"))
    assert catalog_total == len(after_ids)
    # ids stay derived from the document hash
    contract = next(d for d in svc.library.list_documents("manuals") if d.name == "contract.docx")
    assert all(i.startswith(contract.doc_id[:32]) for i in svc.store.chunk_ids("manuals", contract.doc_id))

    svc.library.delete_document("manuals", contract.doc_id)
    assert svc.store.count("manuals", contract.doc_id) == 0
    assert [d.name for d in svc.library.list_documents("manuals")] == ["manual.pdf"]
    hits = svc.retriever.search("manuals", "What does error E7 mean?", 1).chunks
    assert hits[0].page == 2 and hits[0].source == "manual.pdf"

    svc.library.delete_collection("manuals")
    assert "manuals" not in [c.name for c in svc.library.list_collections()]
    assert svc.library.list_documents("manuals") == []


def test_each_bad_file_is_rejected_with_a_reason_and_the_rest_index(services: Services, settings: Settings) -> None:
    small = dataclasses.replace(settings, max_upload_mb=0.05)
    services.library.settings = small
    files = [
        ("locked.pdf", fx.encrypted_pdf()),
        ("scan.pdf", fx.image_only_pdf()),
        ("truncated.pdf", fx.truncated_pdf()),
        ("empty.pdf", b""),
        ("tool.pdf", fx.ELF_BYTES),
        ("huge.txt", b"x " * 40_000),
        ("good.pdf", fx.pdf_bytes()),
    ]
    results = {r.name: r for r in ingest(services, *files)}
    expected = {
        "locked.pdf": ("password", "password"),
        "scan.pdf": ("no_text", "no text layer"),  # OCR is on by default and reads nothing on a page of drawn shapes
        "truncated.pdf": ("corrupt", "damaged"),
        "empty.pdf": ("empty", "empty"),
        "tool.pdf": ("unsupported", "executable"),
        "huge.txt": ("too_large", "DOMAINCHAT_MAX_UPLOAD_MB"),
    }
    for name, (code, words) in expected.items():
        assert results[name].status == "rejected", name
        assert results[name].code == code, name
        assert words in results[name].reason, name
    assert results["good.pdf"].status == "indexed"
    table = {d.name: d.status for d in services.library.list_documents("manuals")}
    assert table == {**{n: "rejected" for n in expected}, "good.pdf": "indexed"}
    # only the indexed document's original is kept
    assert [p.name for p in (settings.data_dir / "originals").iterdir()] == [f"{results['good.pdf'].doc_id}.pdf"]


def test_a_hanging_parser_is_killed_and_the_next_file_still_indexes(settings: Settings, embedder) -> None:
    svc = build_services(
        dataclasses.replace(settings, parse_timeout_s=3), embedder=embedder, parser="tests.helpers.slow_parser:parse"
    )
    try:
        started = time.monotonic()
        hang, good = ingest(svc, ("hang.txt", b"HANG forever"), ("ok.txt", b"The filter is cleaned every 2 weeks."))
        assert time.monotonic() - started < 30
        assert (hang.status, hang.code) == ("rejected", "timeout")
        assert "longer than 3 s" in hang.reason
        assert good.status == "indexed" and svc.store.count("manuals") == good.chunks
    finally:
        svc.close()


@pytest.mark.parametrize(("parser", "code"), [("crash", "crash"), ("hog", "memory")])
def test_a_crashing_or_memory_hungry_parser_is_contained(settings: Settings, embedder, parser: str, code: str) -> None:
    svc = build_services(
        dataclasses.replace(settings, parse_memory_mb=600),
        embedder=embedder,
        parser=f"tests.helpers.slow_parser:{parser}",
    )
    try:
        (result,) = ingest(svc, ("x.txt", b"some text"))
        assert (result.status, result.code) == ("rejected", code)
        assert svc.store.count("manuals") == 0
    finally:
        svc.close()


def test_upload_names_never_become_paths(services: Services, settings: Settings) -> None:
    (result,) = ingest(services, ("../../x.pdf", fx.pdf_bytes()))
    assert result.status == "indexed" and result.name == "x.pdf"
    stored = list((settings.data_dir / "originals").iterdir())
    assert [p.name for p in stored] == [f"{result.doc_id}.pdf"]
    assert not (settings.data_dir.parent / "x.pdf").exists() and not (settings.data_dir / "x.pdf").exists()
    (evil,) = ingest(services, ("..\\..\\evil.txt", b"plain words here"))
    assert evil.name == "evil.txt"


def test_collection_names_are_validated(services: Services) -> None:
    with pytest.raises(InvalidNameError, match="not valid"):
        services.library.create_collection("../etc")


def test_a_different_embedding_model_is_refused(services: Services, settings: Settings) -> None:
    ingest(services, ("ok.txt", b"The filter is cleaned every 2 weeks."))
    services.store.update_collection("manuals", "ollama/nomic-embed-text", 1000, 150)
    with pytest.raises(EmbeddingModelMismatchError, match="re-index"):
        services.retriever.search("manuals", "filter", 1)
    with pytest.raises(EmbeddingModelMismatchError):
        ingest(services, ("more.txt", b"More text about the filter."))


def test_a_second_process_on_the_same_store_gets_a_clear_error(services: Services, settings: Settings) -> None:
    probe = (
        "import sys\n"
        "from core.config import Settings\n"
        "from core.index.store import VectorStore\n"
        "from core.errors import StoreLockedError\n"
        f"s = Settings.from_env(env={{}}, dotenv=None, data_dir={str(settings.data_dir)!r})\n"
        "try:\n    VectorStore.open(s)\nexcept StoreLockedError as e:\n    print(e); sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "in use by process" in proc.stdout and "DOMAINCHAT_DATA_DIR" in proc.stdout


def test_ollama_embeddings_index_and_retrieve_through_the_ollama_api(settings: Settings, ollama_server) -> None:
    ollama_settings = dataclasses.replace(settings, embedding_backend="ollama", ollama_host=ollama_server.url)
    svc = build_services(ollama_settings)
    try:
        (result,) = ingest(svc, ("manual.pdf", fx.pdf_bytes()))
        assert result.status == "indexed"
        assert svc.store.collection_info("manuals").embedding_model == "ollama/nomic-embed-text"
        assert {b["model"] for b in ollama_server.bodies("/api/embed")} == {"nomic-embed-text"}
        found = svc.retriever.search(
            "manuals", "Page two lists error codes. Error E7 means the drain pump is blocked.", 1
        )
        assert found.chunks[0].page == 2  # the fake's vectors are deterministic per text: an exact text finds itself
    finally:
        svc.close()
