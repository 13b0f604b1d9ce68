"""A full disk or a read-only data directory: the app's own error with what to do, and nothing half-written.

Tests may run as root, where `chmod` does not stop writes, so the failures are made at the lowest level
instead: the one function every atomic file write goes through fails like a full disk (after writing half
its bytes, as a real ENOSPC does), and sqlite's own `query_only` switch makes the catalog refuse writes
with the error a read-only database gives (SQLITE_READONLY).

The vector store is tested on a real full disk and a real read-only file system instead: `unshare --user
--map-root-user --mount` gives a child process its own mount namespace without any privilege, where it mounts a
small tmpfs (filled up by a ballast file) or bind-mounts the data directory read-only. Nothing outlives the child.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import core.base.files
import core.cli.main as cli
from core.config import Settings
from core.errors import StorageError
from core.index.store import RESERVE_BYTES
from core.library.types import UploadedFile
from core.services import Services, build_services

ROOT = Path(__file__).resolve().parents[2]
MANUAL = UploadedFile(
    "manual.txt", b"Clean the filter every week under running water. The spray arm is removed by turning it."
)
REAL_WRITE = core.base.files._write_file
GUIDE = UploadedFile("guide.txt", b"Check blood glucose before breakfast. Walk thirty minutes a day, five days a week.")


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def write_half_then_fail(path: Path, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(core.base.files, "_write_file", write_half_then_fail)


def _leftovers(svc: Services) -> list[str]:
    """Temp files anywhere under the data directory, and originals no catalog row points at."""
    data = svc.settings.data_dir
    temps = [str(p.relative_to(data)) for p in data.rglob("*") if p.name.endswith(".tmp")]
    kept = {p.name for p in svc.library.originals.iterdir()} if svc.library.originals.is_dir() else set()
    return temps + sorted(kept - svc.catalog.stored_originals())


def test_a_full_disk_while_keeping_the_original_is_the_apps_error_and_leaves_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert services.library.ingest("docs", [MANUAL])[0].status == "indexed"
    _disk_full(monkeypatch)
    with pytest.raises(StorageError, match="is full") as err:
        services.library.ingest("docs", [GUIDE])
    assert "Free some space" in str(err.value) and "DOMAINCHAT_DATA_DIR" in str(err.value)
    rows = services.catalog.documents("docs")
    assert [r.name for r in rows] == ["manual.txt"] and rows[0].status == "indexed"
    assert set(services.store.inventory("docs")) == {rows[0].doc_id}
    assert _leftovers(services) == []
    monkeypatch.undo()  # space freed: the same upload now works, nothing in its way
    assert services.library.ingest("docs", [GUIDE])[0].status == "indexed"
    assert services.library.is_intact(services.catalog.find_by_name("docs", "guide.txt")[0])


def test_a_read_only_catalog_refuses_upload_and_delete_cleanly(services: Services) -> None:
    first = services.library.ingest("docs", [MANUAL])[0]
    services.catalog._db.execute(
        "PRAGMA query_only = ON"
    )  # sqlite answers every write "attempt to write a readonly database"
    try:
        with pytest.raises(StorageError, match="cannot be written") as err:
            services.library.ingest("docs", [GUIDE])
        assert "writable" in str(err.value)
        with pytest.raises(StorageError):
            services.library.delete_document("docs", first.doc_id)
        # Neither the refused upload nor the refused delete changed anything.
        rows = services.catalog.documents("docs")
        assert [(r.name, r.status) for r in rows] == [("manual.txt", "indexed")]
        assert services.library.is_intact(rows[0])
        assert set(services.store.inventory("docs")) == {first.doc_id}
        assert _leftovers(services) == []
    finally:
        services.catalog._db.execute("PRAGMA query_only = OFF")
    assert services.library.ingest("docs", [GUIDE])[0].status == "indexed"


def test_the_cli_reports_a_full_disk_as_one_line_with_the_fix(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setattr(cli, "build_services", lambda settings, **kw: build_services(settings, embedder=embedder, **kw))
    upload = tmp_path / "manual.txt"
    upload.write_bytes(MANUAL.data)
    _disk_full(monkeypatch)
    status = cli.main(["ingest", "--collection", "docs", str(upload)])
    err = capsys.readouterr().err
    assert status == 1
    assert (
        err.splitlines()[-1].startswith("error: The disk holding")
        and "Free some space" in err
        and "Traceback" not in err
    )
    assert not [p for p in data.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or p.parent.name == "originals")]
    monkeypatch.setattr(core.base.files, "_write_file", REAL_WRITE)  # space freed
    assert cli.main(["ingest", "--collection", "docs", str(upload)]) == 0
    listed = capsys.readouterr().out
    assert "manual.txt" in listed and '"indexed"' in listed


def _own_mount_namespace_works() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return (
            subprocess.run(
                ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, timeout=30
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_mount_namespace = pytest.mark.skipif(
    not _own_mount_namespace_works(), reason="needs unprivileged user and mount namespaces (`unshare -rm`)"
)


def _in_own_mount_namespace(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run `sh -c script sh ARGS…` as root of a fresh user + mount namespace (mounts there are private and vanish with
    it)."""
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
@needs_mount_namespace
def test_a_really_full_disk_refuses_the_upload_that_does_not_fit_and_keeps_nothing_of_it(tmp_path: Path) -> None:
    """On a tmpfs of RESERVE + 16 MB filled by a ballast file (tests/helpers/full_disk.py, in its own mount namespace).

    Chroma 1.5.9 hangs or fails obscurely once its disk is full, so the store refuses a write that would not leave its
    reserve free; with the reserve check gone this test hangs (its timeout fails it) or sees Chroma's raw error.
    """
    disk = tmp_path / "disk"
    disk.mkdir()
    size_mb = RESERVE_BYTES // 1_000_000 + 16
    proc = _in_own_mount_namespace(
        f'mount -t tmpfs -o size={size_mb}m tmpfs "$1" && exec "$2" -m tests.helpers.full_disk "$1"',
        str(disk),
        sys.executable,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["first"] == "indexed"

    def held(step: dict) -> dict:
        return {k: v for k, v in step["after"].items() if k != "free_kb"}

    only_first = {"rows": [["manual.txt", "indexed", 1]], "chunks": {"manual.txt": 1}, "intact": True, "temps": []}
    # No room for the original itself: the atomic write hits ENOSPC.
    step = report["original_does_not_fit"]
    assert step["error"] == "StorageError" and "is full" in step["message"] and "Free some space" in step["message"], (
        step
    )
    assert held(step) | only_first == held(step) and held(step)["originals"] == held(step)["referenced"]
    # Room for the original and the pending row, not for the chunks: refused by the store, the pending document undone.
    step = report["chunks_do_not_fit"]
    assert step["error"] == "StorageError", step
    assert (
        "vector store" in step["message"]
        and "nothing was written" in step["message"]
        and "Free some space" in step["message"]
    )
    assert held(step) == held(report["original_does_not_fit"])  # no row, no chunk, no original of the refused upload
    assert report["search_when_full"] == ["manual.txt"]  # the app still answers from what it holds
    # A delete on the full disk is refused before the document is marked: it stays indexed, not "deleting".
    step = report["delete_when_full"]
    assert step["error"] == "StorageError" and "nothing was written" in step["message"], step
    assert held(step) == held(report["original_does_not_fit"])
    # Space freed: the same upload is indexed whole.
    step = report["space_freed"]
    assert step.get("status") == "indexed", step
    assert held(step)["rows"] == [
        ["handbook.txt", "indexed", held(step)["chunks"]["handbook.txt"]],
        ["manual.txt", "indexed", 1],
    ]
    assert held(step)["intact"] and held(step)["originals"] == held(step)["referenced"] and held(step)["temps"] == []
    # The next start finds nothing to repair.
    assert report["recovery_at_restart"] == ""
    assert {k: v for k, v in report["after_restart"].items() if k != "free_kb"} == held(step)


@needs_mount_namespace
def test_a_read_only_data_directory_is_the_apps_error_on_the_command_line(tmp_path: Path, embedder) -> None:
    """The data directory bind-mounted read-only (a real EROFS, which root cannot write through, unlike `chmod`)."""
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded"), embedder=embedder)
    try:
        assert svc.library.ingest("docs", [MANUAL])[0].status == "indexed"
    finally:
        svc.close()
    before = sorted((str(p.relative_to(data)), p.stat().st_size) for p in data.rglob("*") if p.is_file())
    upload = tmp_path / "guide.txt"
    upload.write_bytes(GUIDE.data)
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data), "DOMAINCHAT_ENGINE": "embedded"}
    proc = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && '
            'exec "$2" -m core ingest --collection docs "$3"',
            "sh",
            str(data),
            sys.executable,
            str(upload),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: The data directory is not writable") and "Read-only file system" in last, (
        proc.stderr[-3000:]
    )
    assert "DOMAINCHAT_DATA_DIR" in last and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert sorted((str(p.relative_to(data)), p.stat().st_size) for p in data.rglob("*") if p.is_file()) == before
