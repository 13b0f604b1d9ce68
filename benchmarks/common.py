"""Shared pieces of the benchmarks: result rows, the table, machine facts, synthetic corpora.

Every benchmark module exposes `run(tiny: bool = False) -> list[Row]` (the test suite calls it with
`tiny=True` to prove it runs; the figures of a tiny run mean nothing) and a `main()` printing its table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_docs"
DIM = 384  # all-MiniLM-L6-v2


@dataclass(frozen=True)
class Row:
    """One measured figure: which goal/stage, what, its value and unit, and what it is compared with."""

    goal: str
    figure: str
    value: float
    unit: str
    reference: str = ""

    def cells(self) -> list[str]:
        """The row as table cells."""
        return [self.goal, self.figure, _fmt(self.value), self.unit, self.reference]


def _fmt(value: float) -> str:
    if value != value:  # NaN: not measured
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: Sequence[Row]) -> str:
    """Rows as a Markdown table (readable in a terminal, pasteable into the README)."""
    head = ["goal", "figure", "value", "unit", "compared with"]
    body = [r.cells() for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(b) for b in body)])


def machine() -> str:
    """One line saying where the figures come from."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} cores, no GPU; "
        f"Python {platform.python_version()}; load average at start {load:.1f}"
    )


def shared_conversion_cache() -> Path | None:
    """The per-user GGUF→HF conversion cache that the fine-tune tests and tiny benchmarks share, if writable.

    Converting the bundled base costs about a minute; the cache is keyed by the GGUF's fingerprint, so it
    cannot go stale. `DOMAINCHAT_TEST_HF_CACHE` moves it.
    """
    wanted = Path(os.environ.get("DOMAINCHAT_TEST_HF_CACHE", Path.home() / ".cache" / "domainchat" / "finetune-base"))
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        probe = wanted / ".writable"
        probe.write_text("ok")
        probe.unlink()
        return wanted
    except OSError:
        return None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """The median, NaN for no values."""
    return statistics.median(values) if values else float("nan")


@contextmanager
def stopwatch(into: dict[str, float], key: str) -> Iterator[None]:
    """Add the block's wall time (seconds) to `into[key]`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.perf_counter() - started


class SyntheticText:
    """Deterministic English-like text: a Zipf-distributed vocabulary, so keyword statistics look like real
    documents."""

    def __init__(self, seed: int = 7, vocabulary: int = 30000) -> None:
        rng = random.Random(seed)
        letters = "etaoinshrdlcumwfgypbvkjxqz"
        weights = [
            12,
            9,
            8,
            7.5,
            7,
            6.7,
            6.3,
            6,
            5.9,
            4.3,
            4,
            2.8,
            2.8,
            2.4,
            2.4,
            2.2,
            2,
            2,
            1.9,
            1.5,
            1,
            0.8,
            0.2,
            0.2,
            0.1,
            0.1,
        ]
        words: set[str] = set()
        while len(words) < vocabulary:
            words.add("".join(rng.choices(letters, weights, k=rng.randint(2, 11))))
        self.words = sorted(words, key=lambda w: (len(w), w))
        self._cum = []
        total = 0.0
        for rank in range(1, vocabulary + 1):
            total += 1.0 / rank
            self._cum.append(total)
        self._rng = rng

    def passage(self, chars: int = 900) -> str:
        """About `chars` characters of sentences."""
        rng = self._rng
        out: list[str] = []
        length = 0
        while length < chars:
            sentence = rng.choices(self.words, cum_weights=self._cum, k=rng.randint(8, 20))
            text = " ".join(sentence).capitalize() + "."
            out.append(text)
            length += len(text) + 1
        return " ".join(out)

    def question(self, passage: str, words: int = 8) -> str:
        """A question made of words picked from `passage` (so keyword search has something to find)."""
        pool = [w.strip(".").lower() for w in passage.split()]
        return " ".join(self._rng.sample(pool, min(words, len(pool)))) + "?"


def unit_vectors(n: int, dim: int = DIM, seed: int = 11):  # noqa: ANN201 (numpy imported lazily)
    """`n` random unit vectors (float32), as precomputed embeddings."""
    import numpy as np

    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


@contextmanager
def samples_on_embedded(tiny: bool, per_document: int | None) -> Iterator[tuple[Any, Any, list[dict[str, Any]]]]:
    """A throw-away data directory with the sample documents indexed into the collection `bench`, the embedded
    engine warmed up, and the first `per_document` sample questions of each document (None: all; `tiny`: one
    document, one question): yields (services, engine, questions) and closes the services at the end."""
    from core.config import Settings
    from core.engines.embedded import EmbeddedEngine
    from core.library.service import UploadedFile
    from core.services import build_services

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(env={}, dotenv=None, data_dir=Path(tmp), engine="embedded")
        svc = build_services(settings)
        try:
            docs = [p for p in sorted(SAMPLES.iterdir()) if p.suffix in (".pdf", ".docx")][: 1 if tiny else None]
            svc.library.ingest("bench", [UploadedFile(p.name, p.read_bytes()) for p in docs])
            engine = EmbeddedEngine(settings)
            engine.warm_up()
            questions: list[dict[str, Any]] = []
            for doc in docs:
                qfile = doc.with_name(doc.name.rsplit(".", 1)[0] + ".questions.jsonl")
                rows = [json.loads(line) for line in qfile.read_text().splitlines() if line.strip()]
                questions += rows[: 1 if tiny else per_document]
            yield svc, engine, questions
        finally:
            svc.close()


def per_document_main(doc: str | None, run: Callable[[bool, int], list[Row]]) -> None:
    """The command line of a benchmark over the sample documents' questions: `--limit N` per document, `--tiny`;
    prints the machine line and the table of `run(tiny, limit)`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=5, help="questions per sample document")
    parser.add_argument("--tiny", action="store_true")
    ns = parser.parse_args()
    print(machine())
    print(table(run(ns.tiny, ns.limit)))
