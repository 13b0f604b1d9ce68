"""A damaged vector store (a truncated Chroma segment file): found at start-up by a child process, without a
crash, and rebuilt from the kept originals through the library and through the Documents page.

Chroma reads a collection's vectors from its HNSW segment files once it holds more than its sync threshold
(1,000 vectors by default; below that they come from its log): the damaged collection here is created with a
threshold of 100 so that 150 chunks reach the segment files, and a truncated file is then really read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.index.embeddings import embedder_label
from core.library.types import UploadedFile
from core.services import build_services

ROOT = Path(__file__).resolve().parents[2]
BIG = UploadedFile(
    "steps.txt", "\f".join(f"Step {i}: turn the dial to position {i} and wait." for i in range(150)).encode()
)
SMALL = UploadedFile("filter.txt", b"Clean the coarse filter every week under running water.")
OTHER = UploadedFile("guide.txt", b"Check blood glucose before breakfast and write it down.")


def _settings(data: Path) -> Settings:
    return Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded")


def _vector_file(data: Path, collection: str) -> Path:
    with sqlite3.connect(data / "chroma" / "chroma.sqlite3") as db:
        (segment,) = db.execute(
            "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
            "WHERE c.name = ? AND s.scope = 'VECTOR'",
            (collection,),
        ).fetchone()
    return data / "chroma" / segment / "data_level0.bin"


@pytest.fixture
def damaged_store(tmp_path: Path, embedder) -> tuple[Path, dict[str, int]]:
    """A data directory whose 'manuals' vector index file is cut to a fifth; 'other' is intact.

    Built afresh for each test: Chroma's native layer caches segments by id within a process, so copies of one
    store (same segment ids) opened one after another in one process would read each other's cached state.
    """
    data = tmp_path / "data"
    settings = _settings(data)
    svc = build_services(settings, embedder=embedder)
    try:
        svc.store.client.create_collection(
            "manuals",
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "sync_threshold": 100, "batch_size": 100}},
            metadata={
                "embedding_model": embedder_label(settings),
                "chunk_size": settings.chunk_size,
                "chunk_overlap": settings.chunk_overlap,
            },
        )
        assert all(r.status == "indexed" for r in svc.library.ingest("manuals", [BIG, SMALL]))
        assert svc.library.ingest("other", [OTHER])[0].status == "indexed"
        chunks = {r.name: r.chunks for r in svc.catalog.documents("manuals")}
    finally:
        svc.close()
    segment = _vector_file(data, "manuals")
    size = segment.stat().st_size
    assert size > 200_000  # the index was really written to its segment file
    with open(segment, "r+b") as f:
        f.truncate(size // 5)
    return data, chunks


def test_a_truncated_segment_is_found_at_start_up_and_rebuilt_from_the_originals(
    damaged_store, tmp_path: Path, embedder
) -> None:
    data = damaged_store[0]
    svc = build_services(_settings(data), embedder=embedder, check_store=True)  # as the app starts: must not crash
    try:
        health = svc.library.store_health
        assert list(health.damaged) == ["manuals"] and not health.unreadable
        assert "'manuals' is damaged" in health.summary() and "Rebuild from the kept originals" in health.summary()
        assert svc.retriever.search(
            "other", "When is blood glucose checked?", 2
        ).chunks  # the intact collection still answers

        rebuilt = svc.library.rebuild_from_originals()
        assert sorted((r.name, r.status) for r in rebuilt) == [("filter.txt", "indexed"), ("steps.txt", "indexed")]
        assert not svc.library.store_health
        rows = svc.catalog.documents("manuals")
        assert {r.name: r.chunks for r in rows} == damaged_store[1]
        assert all(svc.library.is_intact(r) for r in rows)
        found = svc.retriever.search("manuals", "How often is the coarse filter cleaned?", 3).chunks
        assert any("coarse filter" in c.text for c in found)
    finally:
        svc.close()
    svc = build_services(
        _settings(data), embedder=embedder, check_store=True
    )  # the next start checks the rebuilt store: healthy
    try:
        assert not svc.library.store_health and not svc.recovery
    finally:
        svc.close()


def test_the_documents_page_offers_the_rebuild_and_it_works(
    damaged_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = damaged_store[0]
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.chdir(ROOT)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).switch_page("pages/documents.py").run()
    assert not app.exception
    assert any("'manuals' is damaged" in w.value for w in app.warning)
    rebuild = next(b for b in app.button if b.label == "Rebuild from the kept originals")
    rebuild.click().run()
    assert not app.exception
    assert any("Rebuilt from the kept originals\\: 2 documents indexed again" in s.value for s in app.success), [
        s.value for s in app.success
    ]  # Markdown-escaped
    assert not any("damaged" in w.value for w in app.warning)
    assert not any(b.label == "Rebuild from the kept originals" for b in app.button)


def test_the_cli_rebuild_command_checks_the_store_and_rebuilds_it(
    damaged_store, tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import core.cli.main as cli

    data = damaged_store[0]
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setattr(cli, "build_services", lambda settings, **kw: build_services(settings, embedder=embedder, **kw))
    assert cli.main(["rebuild"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted((r["name"], r["status"]) for r in out["rebuilt"]) == [
        ("filter.txt", "indexed"),
        ("steps.txt", "indexed"),
    ]
    assert cli.main(["rebuild"]) == 0  # checked again: nothing left to rebuild
    assert json.loads(capsys.readouterr().out) == {"rebuilt": []}


def test_cli_commands_on_a_damaged_collection_say_to_rebuild_and_change_nothing(
    damaged_store, tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every command aimed at the damaged collection is refused up front with the rebuild to run; before, such commands
    died with Chroma's raw error (`retrieve`: "Error getting embedding") or wrote into the damaged index unawares."""
    import json

    import core.cli.main as cli
    from core.library.catalog import Catalog

    data = damaged_store[0]
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.setattr(cli, "build_services", lambda settings, **kw: build_services(settings, embedder=embedder, **kw))
    rows_before = sorted(
        (r.name, r.status, r.chunks, r.gen) for r in Catalog(data / "catalog.sqlite3").documents("manuals")
    )
    doc_id = next(r.doc_id for r in Catalog(data / "catalog.sqlite3").documents("manuals") if r.name == "filter.txt")
    upload = tmp_path / "new.txt"
    upload.write_bytes(b"Descale the boiler every three months with citric acid.")
    commands = [
        ["retrieve", "--collection", "manuals", "How often is the coarse filter cleaned?"],
        ["ask", "--collection", "manuals", "--mode", "rag", "How often is the coarse filter cleaned?"],
        ["ingest", "--collection", "manuals", str(upload)],
        ["docs", "list", "--collection", "manuals"],
        ["docs", "delete", "--collection", "manuals", doc_id],
        ["reindex", "--collection", "manuals", "--chunk-size", "500"],
    ]
    for argv in commands:
        assert cli.main(argv) == 1, argv
        out, err = capsys.readouterr()
        last = err.strip().splitlines()[-1]
        assert last.startswith("error: The vector index of 'manuals' is damaged"), (argv, err[-2000:])
        assert "`python -m core rebuild`" in last and "Traceback" not in err and out == "", argv
    assert (
        sorted((r.name, r.status, r.chunks, r.gen) for r in Catalog(data / "catalog.sqlite3").documents("manuals"))
        == rows_before
    )

    # A command on the intact collection goes on, with the damage noted on stderr.
    assert cli.main(["retrieve", "--collection", "other", "When is blood glucose checked?"]) == 0
    out, err = capsys.readouterr()
    assert "note: The vector index of 'manuals' is damaged" in err and "python -m core rebuild" in err
    assert any("blood glucose" in c["text"] for c in json.loads(out)["chunks"])

    # After the rebuild the refused command works.
    assert cli.main(["rebuild"]) == 0
    capsys.readouterr()
    assert cli.main(["retrieve", "--collection", "manuals", "How often is the coarse filter cleaned?"]) == 0
    out, err = capsys.readouterr()
    assert "damaged" not in err and any("coarse filter" in c["text"] for c in json.loads(out)["chunks"])
