"""A pre-warmed launcher for `python -m core` runs that a test kills: it imports once, then forks per run.

Importing torch, transformers and chromadb costs ~12 s of CPU on the project machine; paying it for each
of dozens of killed runs would make a crash test take most of the CI budget. The zygote imports those
modules (no model is loaded, no inference runs, so no thread pool exists to be broken by fork), then for
each request line on stdin (`JSON {"argv": [...], "env": {...}, "out": PATH, "err": PATH}`) forks a child
that starts its own session, points stdout/stderr at the given files, and runs exactly what
`python -m core ARGV` runs (`core.cli.main.main`). It answers with the child's pid on stdout, and the exit
status is written by the child to `status` (absent when it was killed). Children are reaped automatically
(SIGCHLD ignored), so the test sees a finished or killed run as a pid that no longer exists.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def main() -> None:
    """Serve fork requests until stdin closes."""
    import chromadb  # noqa: F401  (warm imports: the expensive part of every CLI start)
    import sentence_transformers  # noqa: F401

    import core.cli.main as cli

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # no zombies: a gone pid means a finished run
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the CLI waits for its parser children
                os.setsid()  # its own process group: a kill takes its parser child too
                os.environ.update(request["env"])
                out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(out, 1)
                os.dup2(err, 2)
                sys.stdout = os.fdopen(1, "w", buffering=1)
                sys.stderr = os.fdopen(2, "w", buffering=1)
                code = cli.main(request["argv"])
                sys.stdout.flush()
                sys.stderr.flush()
                # Written whole or not at all: a kill between creating the file and writing it left it empty, which
                # the test read as a broken status instead of "killed before it finished".
                partial = request["status"] + ".part"
                with open(partial, "w") as handle:
                    handle.write(str(code))
                os.replace(partial, request["status"])
                os._exit(code)
            except BaseException:  # noqa: BLE001 (a child must never return into the server loop)
                import traceback

                traceback.print_exc()
                os._exit(70)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
