"""A test-only parser that never finishes: proves the parse timeout kills the child process."""

from __future__ import annotations

import time
from pathlib import Path

from core.library.parsing.loaders import Page, load


def parse(path: Path, kind: str) -> list[Page]:
    """Hang on files whose text says HANG; parse the rest normally."""
    if b"HANG" in path.read_bytes():
        time.sleep(3600)
    return load(path, kind)  # type: ignore[arg-type]


def crash(path: Path, kind: str) -> list[Page]:
    """Die like a segfaulting native parser would."""
    import os

    os.abort()
    return []


def hog(path: Path, kind: str) -> list[Page]:
    """Allocate far beyond any sane memory limit."""
    blocks = []
    while True:
        blocks.append(bytearray(256 * 1024 * 1024))
