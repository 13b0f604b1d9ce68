"""A tiny real child program for tests/base/test_children.py: `python -m tests.helpers.child_probe ACTION [ARG]`.

echo          copy stdin to stdout
allocate MB   allocate MB megabytes, then print "allocated"
sleep S       sleep S seconds, then print "woke"
env           print what the child sees: PYTHONPATH, where `core` comes from, its working directory, offline flags
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    """Do one action; exit status 0 when it finished."""
    action, arg = argv[0], (argv[1] if len(argv) > 1 else "")
    if action == "echo":
        sys.stdout.buffer.write(sys.stdin.buffer.read())
    elif action == "allocate":
        block = bytearray(int(arg) * 1024 * 1024)  # zero-filled: the pages are really committed
        print("allocated", len(block))
    elif action == "sleep":
        time.sleep(float(arg))
        print("woke")
    elif action == "env":
        import core

        print(
            json.dumps(
                {
                    "pythonpath": os.environ.get("PYTHONPATH"),
                    "core": core.__file__,
                    "cwd": os.getcwd(),
                    "hf_offline": os.environ.get("HF_HUB_OFFLINE"),
                    "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
                }
            )
        )
    else:
        print(f"unknown action {action!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
