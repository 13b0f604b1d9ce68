"""A full disk or a read-only data directory: the app's own error with what to do, and nothing half-written.

Tests may run as root, where `chmod` does not stop writes, so the failures are made at the lowest level
instead: the one function every atomic file write goes through fails like a full disk (after writing half
its bytes, as a real ENOSPC does), and sqlite's own `query_only` switch makes the catalog refuse writes
with the error a read-only database gives (SQLITE_READONLY).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import core.__main__ as cli
import core.fsutil
from core.errors import StorageError
from core.ingest_types import UploadedFile
from core.services import Services, build_services

MANUAL = UploadedFile("manual.txt", b"Clean the filter every week under running water. The spray arm is removed by turning it.")
REAL_WRITE = core.fsutil._write_file
GUIDE = UploadedFile("guide.txt", b"Check blood glucose before breakfast. Walk thirty minutes a day, five days a week.")


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def write_half_then_fail(path: Path, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(core.fsutil, "_write_file", write_half_then_fail)


def _leftovers(svc: Services) -> list[str]:
    """Temp files anywhere under the data directory, and originals no catalog row points at."""
    data = svc.settings.data_dir
    temps = [str(p.relative_to(data)) for p in data.rglob("*") if p.name.endswith(".tmp")]
    kept = {p.name for p in svc.library.originals.iterdir()} if svc.library.originals.is_dir() else set()
    return temps + sorted(kept - svc.catalog.stored_originals())


def test_a_full_disk_while_keeping_the_original_is_the_apps_error_and_leaves_nothing(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    assert services.library.ingest("docs", [MANUAL])[0].status == "indexed"
    _disk_full(monkeypatch)
    with pytest.raises(StorageError, match="is full") as err:
        services.library.ingest("docs", [GUIDE])
    assert "Free some space" in str(err.value) and "DOMAINCHAT_DATA_DIR" in str(err.value)
    rows = services.catalog.list("docs")
    assert [r.name for r in rows] == ["manual.txt"] and rows[0].status == "indexed"
    assert set(services.store.inventory("docs")) == {rows[0].doc_id}
    assert _leftovers(services) == []
    monkeypatch.undo()  # space freed: the same upload now works, nothing in its way
    assert services.library.ingest("docs", [GUIDE])[0].status == "indexed"
    assert services.library.is_intact(services.catalog.find_by_name("docs", "guide.txt")[0])


def test_a_read_only_catalog_refuses_upload_and_delete_cleanly(services: Services) -> None:
    first = services.library.ingest("docs", [MANUAL])[0]
    services.catalog._db.execute("PRAGMA query_only = ON")  # sqlite answers every write "attempt to write a readonly database"
    try:
        with pytest.raises(StorageError, match="cannot be written") as err:
            services.library.ingest("docs", [GUIDE])
        assert "writable" in str(err.value)
        with pytest.raises(StorageError):
            services.library.delete_document("docs", first.doc_id)
        # Neither the refused upload nor the refused delete changed anything.
        rows = services.catalog.list("docs")
        assert [(r.name, r.status) for r in rows] == [("manual.txt", "indexed")]
        assert services.library.is_intact(rows[0])
        assert set(services.store.inventory("docs")) == {first.doc_id}
        assert _leftovers(services) == []
    finally:
        services.catalog._db.execute("PRAGMA query_only = OFF")
    assert services.library.ingest("docs", [GUIDE])[0].status == "indexed"


def test_the_cli_reports_a_full_disk_as_one_line_with_the_fix(tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setattr(cli, "build_services", lambda settings, **kw: build_services(settings, embedder=embedder, **kw))
    upload = tmp_path / "manual.txt"
    upload.write_bytes(MANUAL.data)
    _disk_full(monkeypatch)
    status = cli.main(["ingest", "--collection", "docs", str(upload)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.splitlines()[-1].startswith("error: The disk holding") and "Free some space" in err and "Traceback" not in err
    assert not [p for p in data.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or p.parent.name == "originals")]
    monkeypatch.setattr(core.fsutil, "_write_file", REAL_WRITE)  # space freed
    assert cli.main(["ingest", "--collection", "docs", str(upload)]) == 0
    listed = capsys.readouterr().out
    assert "manual.txt" in listed and '"indexed"' in listed

