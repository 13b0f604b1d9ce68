"""A test-only parser whose behaviour the file's text chooses: hang, crash, eat memory, print, or parse."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.library.parsing.loaders import Page, load


def parse(path: Path, kind: str) -> list[Page]:
    """HANG sleeps, CRASH aborts the process, HOG allocates without end, PRINT writes to stdout, PID appends the
    parsing process id; the rest parse normally."""
    data = path.read_bytes()
    if b"HANG" in data:
        time.sleep(3600)
    if b"CRASH" in data:
        os.abort()
    if b"HOG" in data:
        blocks = []
        while True:
            blocks.append(bytearray(256 * 1024 * 1024))
    if b"PRINT" in data:
        print("noise a careless library writes to stdout")
    pages = load(path, kind)  # type: ignore[arg-type]
    if b"PID" in data:  # say which process parsed the file
        pages = [Page(p.number, f"{p.text} parsed-by-process-{os.getpid()}") for p in pages]
    return pages
