"""What an upload set out to index, kept on disk until it ends.

Each file of an upload is indexed on its own (pending → indexed in the catalog), so an upload cut off
half-way — a click elsewhere reruns the page, a closed tab stops it, a kill — leaves its finished files
indexed and the rest undone. This journal is how the user learns which is which: the Documents page
lists, for an upload that never ended, the files that are indexed and those to upload again.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.base.files import write_json_atomic
from core.errors import StorageError


@dataclass(frozen=True)
class InterruptedUpload:
    """An upload that did not end: which of its files are indexed now and which are not."""

    id: str
    collection: str
    started: float
    indexed: list[str]
    missing: list[str]


class UploadJournal:
    """One JSON file per upload in flight under `<data_dir>/uploads/`, removed when the upload ends."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "uploads"
        self._active: set[str] = set()  # uploads running in this process (other sessions' are not interrupted)
        self._guard = threading.Lock()

    def begin(self, collection: str, names: list[str]) -> str | None:
        """Record an upload about to start; None when it cannot be written (the upload goes on without it)."""
        upload_id = uuid.uuid4().hex
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(
                self.root / f"{upload_id}.json",
                {"collection": collection, "names": names, "started": time.time(), "pid": os.getpid()},
            )
        except (OSError, StorageError):
            return None  # a full disk: the upload itself will say so; the journal is only a report
        with self._guard:
            self._active.add(upload_id)
        return upload_id

    def end(self, upload_id: str | None, finished: bool) -> None:
        """The upload stopped: forget it if it ran to its end, else leave it to be reported."""
        if upload_id is None:
            return
        if finished:
            self.dismiss(upload_id)
        with self._guard:
            self._active.discard(upload_id)

    def dismiss(self, upload_id: str) -> None:
        """Forget an upload (the user has read what it left)."""
        if len(upload_id) == 32 and upload_id.isalnum():
            (self.root / f"{upload_id}.json").unlink(missing_ok=True)
        with self._guard:
            self._active.discard(upload_id)

    def interrupted(self, collection: str, is_indexed: Callable[[str, str], bool]) -> list[InterruptedUpload]:
        """Uploads into `collection` that never ended, oldest first; `is_indexed(collection, name)` says a file's state
        now."""
        found = []
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                names, pid, started = [str(n) for n in data["names"]], int(data["pid"]), float(data["started"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            with self._guard:
                running_here = path.stem in self._active
            if data.get("collection") != collection or running_here or (pid != os.getpid() and _alive(pid)):
                continue  # another collection, or still running (here, or in a command-line process)
            indexed = [n for n in names if is_indexed(collection, n)]
            found.append(
                InterruptedUpload(path.stem, collection, started, indexed, [n for n in names if n not in indexed])
            )
        return sorted(found, key=lambda u: u.started)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
