"""Starting a child Python program (`python -m <module> …`): the one way every part of the app does it.

Parsing, OCR, rendering a cited page, checking the vector store and every background job run in a child
process, so a hostile file, a native crash or a runaway allocation takes down the child, not the app.
They all get the same environment (offline model hubs, unbuffered output), the same address-space limit
when one is asked for, and the app's folder as working directory. The project is an installed package,
so no launch patches PYTHONPATH: a child imports `core` like the parent does.

`run_child` waits for a short-lived child and says how it ended; `start_child` hands back the process
of a long-lived or streaming one (a parser pool, the OCR reader, the store check, a background job).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, Any, Callable, Mapping, Sequence

from core.config import APP_ROOT

# Never reach for a model hub from a child, and keep logs free of progress bars.
OFFLINE_FLAGS: Mapping[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
}
KILL_WAIT_S = 5.0  # after killing a timed-out child, how long to collect what it wrote before giving up on its pipes

Stream = int | IO[Any] | None  # what subprocess accepts for stdin/stdout/stderr: PIPE, DEVNULL, STDOUT, a file or None


@dataclass(frozen=True)
class ChildResult:
    """How a child run by `run_child` ended: its output, its exit status, whether it was stopped at the time limit."""

    stdout: bytes
    stderr: bytes
    returncode: int | None  # negative: killed by that signal (-9 at the time limit or by the kernel)
    timed_out: bool = False


def child_env() -> dict[str, str]:
    """The environment of a child program: the parent's, offline and unbuffered (no PYTHONPATH added)."""
    return {**os.environ, **OFFLINE_FLAGS, "PYTHONUNBUFFERED": "1"}


def limit_memory(memory_mb: int) -> None:
    """Cap this process's address space at `memory_mb` MB (run in the child just before it starts the program)."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _preexec(memory_mb: int | None) -> Callable[[], None] | None:
    return None if memory_mb is None else (lambda: limit_memory(memory_mb))


def start_child(
    module: str,
    args: Sequence[str],
    memory_mb: int | None,
    *,
    stdin: Stream = subprocess.DEVNULL,
    stdout: Stream = subprocess.PIPE,
    stderr: Stream = subprocess.PIPE,
    pass_fds: Sequence[int] = (),
    start_new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `python -m module args…` under `memory_mb` MB (None: no limit) and return its process without waiting.

    stdin/stdout/stderr are what `subprocess.Popen` takes (PIPE, DEVNULL, STDOUT, an open file); a child that
    does not read its input gets DEVNULL, never the app's own stdin. `pass_fds` and `start_new_session` are for
    background jobs, which inherit their locks and outlive the page that started them.
    """
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=child_env(),
        cwd=str(APP_ROOT),
        preexec_fn=_preexec(memory_mb),
        pass_fds=tuple(pass_fds),
        start_new_session=start_new_session,
    )


def run_child(
    module: str, args: Sequence[str], memory_mb: int | None, timeout_s: float, *, stdin: bytes | None = None
) -> ChildResult:
    """Run `python -m module args…` under `memory_mb` MB (None: no limit) with `stdin` as input, `timeout_s` s at most.

    A child still running at the time limit is killed: the result then says `timed_out`, with what it wrote so far.
    """
    proc = start_child(module, args, memory_mb, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    with proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                out, err = proc.communicate(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                out, err = b"", b""  # a grandchild still holds the pipes: what was written is lost, the child is not
            proc.wait()
            return ChildResult(out or b"", err or b"", proc.returncode, timed_out=True)
        except BaseException:  # Ctrl-C or any failure here must not leave the child running
            proc.kill()
            raise
    return ChildResult(out or b"", err or b"", proc.returncode)
