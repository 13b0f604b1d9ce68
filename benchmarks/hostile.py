"""Benchmark: the hostile corpus (tests/helpers/hostile.py) through the real parser process.

Each file is classified from its bytes and parsed in the reusable parser process (`ParseWorker`), as the
library does during an upload (OCR off: an image is "needs OCR"). Prints files run, outcomes by reason,
parse time percentiles (files stopped at the time limit counted apart) and peak memory of the parser
process and of this one. Run: `.venv/bin/python -m benchmarks.hostile [--timeout 10]`
(needs reportlab from requirements-dev.txt, as the tests do).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import Row, machine, percentile, table
from core.config import Settings
from core.library.parsing.loaders import ParseFailure
from core.library.parsing.parse_pool import ParseWorker
from core.library.parsing.sniff import sniff


def run(tiny: bool = False, timeout_s: float = 10.0) -> list[Row]:
    """Rows: files, outcomes by reason, parse time p50/p99/max, peak memory (tiny: text and names only)."""
    from tests.helpers import hostile  # the generator lives with the tests that use it

    cases = [*hostile.GENERATORS["text"](), *hostile.GENERATORS["names"]()] if tiny else hostile.corpus()
    memory_mb = Settings.from_env(env={}, dotenv=None).parse_memory_mb
    outcomes: Counter[str] = Counter()
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, ParseWorker(timeout_s, memory_mb) as worker:
        for i, case in enumerate(cases):
            sniffed = sniff(case.data, case.name)
            if sniffed.kind is None:
                outcomes[sniffed.code] += 1
                continue
            if sniffed.kind == "image":
                outcomes["needs_ocr"] += 1
                continue
            path = Path(tmp) / f"{i}.{sniffed.kind}"  # server-side names, as the library keeps originals
            path.write_bytes(case.data)
            started = time.perf_counter()
            try:
                worker.parse(path, sniffed.kind)
                outcome = "indexed"
            except ParseFailure as exc:
                outcome = exc.code
            took = time.perf_counter() - started
            outcomes[outcome] += 1
            if outcome != "timeout":
                seconds.append(took)
    parser_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB on Linux
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        Row(
            "hostile",
            "files run",
            len(cases),
            "files",
            f"{len(hostile.GENERATORS)} generators" if not tiny else "tiny: text + names",
        )
    ]
    rows += [
        Row("hostile", f"outcome: {code}", n, "files")
        for code, n in sorted(outcomes.items(), key=lambda kv: (kv[0] != "indexed", kv[0]))
    ]
    rows += [
        Row("hostile", "parse time p50 (files not stopped)", percentile(seconds, 50) * 1000, "ms"),
        Row("hostile", "parse time p99 (files not stopped)", percentile(seconds, 99) * 1000, "ms"),
        Row(
            "hostile",
            "parse time max (files not stopped)",
            max(seconds, default=0.0) * 1000,
            "ms",
            f"time limit {timeout_s:g} s",
        ),
        Row("hostile", "peak memory, parser process", parser_mb, "MB", f"limit {memory_mb} MB (address space)"),
        Row("hostile", "peak memory, this process", own_mb, "MB", "holds the corpus"),
    ]
    return rows


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="text and name cases only (seconds)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="parse time limit per file, s (the app's default is 60)"
    )
    ns = parser.parse_args()
    print(machine())
    print(table(run(ns.tiny, ns.timeout)))


if __name__ == "__main__":
    main()
