"""Start-up check of the on-disk vector store, in a child process: a damaged index must not take the app down.

Chroma keeps each collection's vector index in segment files next to its SQLite file. A truncated or
overwritten segment (a full disk, a crash of the machine, a bad copy) makes Chroma fail when it loads the
index, and the native index reader could even crash the process. So before the app opens the store, a
child process opens it and reads a few vectors of every collection and asks one query; the parent reads
its JSON verdict. A healthy result is remembered with the store's file sizes and times, so an unchanged
store is not probed again at the next start.

Run as `python -m core.index.store_probe CHROMA_DIR` (the parent does that); it prints one JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.base.children import start_child
from core.config import Settings

VERDICT_FILE = ".store_probe.json"  # in the data directory: the fingerprint of the store last found healthy


@dataclass
class StoreHealth:
    """What the start-up probe found: `damaged` collections (name → what failed), or the store as a whole unreadable."""

    damaged: dict[str, str] = field(default_factory=dict)
    unreadable: str = ""  # the probe itself died or hung: the whole store is suspect

    def __bool__(self) -> bool:
        return bool(self.damaged or self.unreadable)

    def summary(self) -> str:
        """One paragraph for the Documents page and the command line."""
        if self.unreadable:
            what = f"The vector store could not be read ({self.unreadable})"
        else:
            what = "The vector index of " + ", ".join(f"'{n}'" for n in sorted(self.damaged)) + " is damaged"
        return (
            f"{what}: searching it fails until it is rebuilt. Rebuild it from the kept originals (Documents page, "
            "Rebuild from the kept originals, or `python -m core rebuild`): every document is indexed again; nothing "
            "else is lost."
        )


class StoreProbe:
    """The child process checking the store (started at once; `result` waits for its verdict)."""

    def __init__(self, settings: Settings, timeout_s: float = 120.0) -> None:
        self.chroma = settings.data_dir / "chroma"
        self.verdict = settings.data_dir / VERDICT_FILE
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        if not (self.chroma / "chroma.sqlite3").is_file():
            return  # a new data directory: nothing to check
        try:
            if json.loads(self.verdict.read_text(encoding="utf-8")) == fingerprint(self.chroma):
                return  # unchanged since it was last found healthy
        except (OSError, ValueError):
            pass
        # no memory limit: a large healthy store needs the memory its index takes, and must not be reported damaged
        self._proc = start_child("core.index.store_probe", [str(self.chroma)], None)

    def result(self) -> StoreHealth:
        """Wait for the verdict (healthy at once when nothing needed checking)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return StoreHealth()
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return StoreHealth(unreadable=f"checking it took longer than {self.timeout_s:g} s")
        try:
            result = json.loads(out.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            return StoreHealth(unreadable=f"the check stopped: {tail[0][:200]}")
        health = StoreHealth(damaged=dict(result.get("damaged", {})), unreadable=str(result.get("unreadable", "")))
        if not health:
            try:
                self.verdict.write_text(
                    json.dumps(fingerprint(self.chroma)), encoding="utf-8"
                )  # after the check: opening may touch files
            except OSError:
                pass  # not remembering only costs a check at the next start
        return health


def probe_store(settings: Settings, timeout_s: float = 120.0) -> StoreHealth:
    """Check the on-disk store in a child process (at once healthy when it is unchanged since it was last found so)."""
    return StoreProbe(settings, timeout_s).result()


def forget_verdict(settings: Settings) -> None:
    """Make the next start probe the store again (after it was changed outside the normal writes)."""
    (settings.data_dir / VERDICT_FILE).unlink(missing_ok=True)


def fingerprint(chroma: Path) -> list[list[object]]:
    """Every file of the store with its size and modification time."""
    rows = []
    for path in sorted(chroma.rglob("*")):
        if path.is_file():
            stat = path.stat()
            rows.append([str(path.relative_to(chroma)), stat.st_size, stat.st_mtime_ns])
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process."""
    args = sys.argv[1:] if argv is None else argv
    from core.index.store import check_store_files  # the only module importing chromadb

    result = check_store_files(Path(args[0]))
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
