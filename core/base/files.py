"""Atomic file writes: a reader (another process, a crash, a power cut) never sees half a file.

Every write goes to a temporary name in the target's own folder (so the final rename stays on one
file system) and is renamed over the target only when complete; on failure the temporary file is
removed and the old target, if any, is left as it was.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from core.errors import StorageError

_FULL = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def temp_sibling(target: Path) -> Path:
    """A temporary path next to `target`, unique per process and thread."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write (a file or a folder); it replaces `target` when the block succeeds."""
    target = Path(target)
    tmp = temp_sibling(target)
    _remove(tmp)
    try:
        try:
            yield tmp
            if tmp.is_dir() and target.is_dir():
                # os.replace cannot replace a non-empty folder: move the old one aside first.
                old = temp_sibling(target.with_name(target.name + ".old"))
                os.replace(target, old)
                os.replace(tmp, target)
                _remove(old)
            else:
                os.replace(tmp, target)
        except OSError as exc:
            translated = storage_error(exc, target)
            if translated is exc:
                raise
            raise translated from exc
    except BaseException:
        _remove(tmp)
        raise


def storage_error(exc: OSError, target: Path) -> OSError:
    """The app's error for a write that failed because the disk is full or not writable; other OSErrors as they are."""
    if isinstance(exc, StorageError) or exc.errno not in _FULL | _NOT_WRITABLE:
        return exc
    folder = Path(target).parent
    if exc.errno in _FULL:
        return StorageError(
            f"The disk holding {folder} is full: {Path(target).name} was not written (nothing was half-written). "
            "Free some space, or point DOMAINCHAT_DATA_DIR at a disk with room, and try again."
        )
    return StorageError(
        f"The data directory is not writable ({folder}: {exc.strerror}): nothing was written. "
        "Make it writable (e.g. `chmod -R u+w` on it), or point DOMAINCHAT_DATA_DIR at a writable folder, and try "
        "again."
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _write_file(path: Path, data: bytes) -> None:
    """The lowest-level write every atomic text/bytes write goes through (tests make it fail like a full disk)."""
    with open(path, "wb") as f:
        f.write(data)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        _write_file(tmp, data)


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        _write_file(tmp, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON (indented, non-ASCII kept) atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str))


def write_jsonl_atomic(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write records as JSON lines atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def copy_atomic(source: Path, target: Path) -> None:
    """Copy a file so `target` is either the old file or the whole new one."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
