"""A long-lived parser child process: many files, one interpreter start, the same protection per file.

Starting a Python process per file costs 0.1–0.3 s on an idle machine here (seconds under load) —
more than parsing and embedding a small text file. This worker is started once per ingestion and
parses files one after another: requests and replies are JSON lines on its stdin/stdout. Each file
still has the wall-clock limit (a hang kills the worker, which is restarted for the next file), the
process has the same address-space limit, and a crash or out-of-memory is reported for that file
only; the worker is restarted after any such failure, and after `max_files` files so memory a
parser leaked does not pile up.

The limit grows with the file: the child reports a PDF's page count and then each page done (JSON
lines `{"progress": done, "pages": total}` before the reply), and the parent allows `timeout_s` plus
`page_timeout_s` per page, so a legitimate 800-page manual is not stopped as "too slow"; a file in
which no page finishes within `timeout_s` (a hostile page) is stopped all the same.

Run as `python -m core.library.parsing.parse_pool [--parser MOD:FUNC]` (the parent does that).
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from core.base.children import start_child
from core.library.parsing.loaders import Page, PageProgress, preload_parsers
from core.library.parsing.parse_worker import (
    failure_from_exit,
    pages_from_reply,
    parse_time_limit,
    reply_for,
    timeout_failure,
)
from core.library.parsing.sniff import DocKind


class ParseWorker:
    """Parses files in one reusable child process; `parse` raises ParseFailure like `parse_in_subprocess`."""

    def __init__(
        self,
        timeout_s: float,
        memory_mb: int,
        parser: str | None = None,
        max_files: int = 200,
        page_timeout_s: float = 0.0,
    ) -> None:
        self.timeout_s, self.memory_mb, self.parser, self.max_files = timeout_s, memory_mb, parser, max_files
        self.page_timeout_s = page_timeout_s  # extra time per page of the file, on top of timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[bytes] = queue.Queue()
        self._stderr: list[bytes] = []
        self._served = 0
        self.starts = 0  # how many processes were started (tests check reuse and restarts)

    def parse(self, path: Path, kind: DocKind, progress: PageProgress | None = None) -> list[Page]:
        """Parse one file in the worker (starting or restarting it as needed); `progress` hears (pages done, pages)."""
        proc = self._ensure()
        assert proc.stdin is not None
        try:
            proc.stdin.write((json.dumps({"path": str(path), "kind": kind}) + "\n").encode("utf-8"))
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._stop()
            proc = self._ensure()  # it died between files: one fresh try
            assert proc.stdin is not None
            proc.stdin.write((json.dumps({"path": str(path), "kind": kind}) + "\n").encode("utf-8"))
            proc.stdin.flush()
        line = self._next_reply(progress)
        if not line:  # end of output: the worker died on this file
            returncode = proc.wait()
            stderr = b"".join(self._stderr)
            self._stop()
            raise failure_from_exit(stderr, returncode, self.memory_mb)
        self._served += 1
        result = json.loads(line.decode("utf-8"))
        if (not result.get("ok") and result.get("code") == "memory") or self._served >= self.max_files:
            self._stop()  # after a MemoryError the process may be in a poor state: start clean
        return pages_from_reply(result)

    def _next_reply(self, progress: PageProgress | None) -> bytes:
        """The reply line (b"" if the worker died), passing progress lines on; stops the worker at the time limit."""
        started = last = time.monotonic()
        pages = 0
        while True:
            now = time.monotonic()
            # Two limits: the whole file (growing with its page count) and the time since the last page finished.
            whole = started + parse_time_limit(self.timeout_s, pages, self.page_timeout_s)
            deadline = min(whole, last + self.timeout_s)
            try:
                line = self._replies.get(timeout=max(0.0, deadline - now))
            except queue.Empty:
                self._stop()
                stalled = deadline < whole
                raise timeout_failure(self.timeout_s, pages, self.page_timeout_s, stalled=stalled) from None
            if not line.startswith(b'{"progress"'):
                return line
            report = json.loads(line.decode("utf-8"))
            pages, last = int(report["pages"]), time.monotonic()
            if progress:
                progress(int(report["progress"]), pages)

    def start(self) -> None:
        """Start the child now (it loads the parsing libraries while the caller does other work)."""
        self._ensure()

    @property
    def running(self) -> bool:
        """Whether the child process is alive (a worker stopped after a timeout or crash is not)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    def close(self) -> None:
        """Stop the worker."""
        self._stop()

    def __enter__(self) -> "ParseWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop()
        args = ["--parser", self.parser] if self.parser else []
        self._proc = start_child("core.library.parsing.parse_pool", args, self.memory_mb, stdin=subprocess.PIPE)
        self._replies = queue.Queue()
        self._stderr = []
        self._served = 0
        self.starts += 1
        # Readers on threads: a reply is waited for with a timeout, and stderr never fills its pipe.
        threading.Thread(target=_pump_lines, args=(self._proc.stdout, self._replies), daemon=True).start()
        threading.Thread(target=_pump_tail, args=(self._proc.stderr, self._stderr), daemon=True).start()
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


class SpareWorkers:
    """Parser processes kept started between ingestions, so an upload does not wait for one to start.

    Starting the child and importing the PDF and Word libraries costs ≈ 0.2 s on an idle machine here,
    about a tenth of ingesting the three sample documents. `take` hands out a kept worker (or a new one);
    `give_back` keeps one running worker for the next ingestion and stops any other. An idle worker is
    a Python process with those libraries loaded (≈ 40 MB); it exits by itself when this process does
    (its stdin closes).
    """

    KEEP = 1

    def __init__(
        self, timeout_s: float, memory_mb: int, parser: str | None = None, page_timeout_s: float = 0.0
    ) -> None:
        self._make = lambda: ParseWorker(timeout_s, memory_mb, parser, page_timeout_s=page_timeout_s)
        self._idle: list[ParseWorker] = []
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start a spare worker now, unless one is already kept."""
        with self._lock:
            if any(w.running for w in self._idle):
                return
            worker = self._make()
            worker.start()
            self._idle.append(worker)

    def take(self) -> ParseWorker:
        """A running kept worker, or a new one (started on its first file)."""
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.running:
                    return worker
                worker.close()
        return self._make()

    def give_back(self, worker: ParseWorker) -> None:
        """Keep `worker` for the next ingestion if it is running and none is kept yet; stop it otherwise."""
        with self._lock:
            if worker.running and len(self._idle) < self.KEEP:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        """Stop every kept worker."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


def _pump_lines(pipe: IO[bytes], into: "queue.Queue[bytes]") -> None:
    for line in iter(pipe.readline, b""):
        into.put(line)
    into.put(b"")


def _pump_tail(pipe: IO[bytes], into: list[bytes]) -> None:
    for line in iter(pipe.readline, b""):
        into[:] = (into + [line])[-20:]


def main(argv: list[str] | None = None) -> int:
    """The child: one JSON request per line in, one JSON reply per line out, until stdin closes."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--parser", default=None, help="module:function replacing the built-in loaders (tests use it)")
    ns = args.parse_args(argv)
    out: Any = sys.stdout
    sys.stdout = sys.stderr  # a parser that prints must not corrupt the replies
    if ns.parser is None:
        preload_parsers()  # a spare worker is ready before its first file arrives
    for line in sys.stdin:
        request = json.loads(line)
        out.write(
            json.dumps(reply_for(Path(request["path"]), request["kind"], ns.parser, _progress_writer(out))) + "\n"
        )
        out.flush()
    return 0


def _progress_writer(out: Any) -> PageProgress:
    """Progress lines for the parent: the page count at once, then pages done at most every 0.05 s (and the last)."""
    sent = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - sent[0] >= 0.05:
            sent[0] = now
            out.write(json.dumps({"progress": done, "pages": total}) + "\n")
            out.flush()

    return report


if __name__ == "__main__":
    raise SystemExit(main())
