"""Start the app as a real `streamlit run` server for browser tests, and find where it listens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@contextmanager
def streamlit_server(
    args: list[str], cwd: Path, env: Mapping[str, str], log_path: Path, port: int, timeout_s: float = 90
) -> Iterator[subprocess.Popen]:
    """Run `python -m streamlit run ARGS` in `cwd` until the block ends; waits for /_stcore/health on `port`."""
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", *args], cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log_path}")
                time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def app_on_loopback(data: Path, env: Mapping[str, str]) -> Iterator[str]:
    """The app (`streamlit run app.py`) on a free loopback port with data directory `data` and `env` added to this
    process's environment; yields its address. Its log is written beside `data`."""
    from tests.helpers.chroma_server import free_port

    port = free_port()
    full_env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data), **env}
    args = ["app.py", "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"]
    log = data.parent / f"{data.name}-streamlit.log"
    with streamlit_server([*args, "--browser.gatherUsageStats", "false"], ROOT, full_env, log, port):
        yield f"http://127.0.0.1:{port}"


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket in LISTEN state on `port` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            host, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port and len(host) == width:
                found.add(_decode(host))
    return found


def _decode(host: str) -> str:
    # /proc stores each 32-bit word of the address in host (little-endian) byte order.
    words = [bytes.fromhex(host[i : i + 8])[::-1] for i in range(0, len(host), 8)]
    raw = b"".join(words)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    import ipaddress

    return str(ipaddress.IPv6Address(raw))
