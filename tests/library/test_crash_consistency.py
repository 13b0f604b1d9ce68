"""Kill the real command line with SIGKILL at random moments while it ingests, deletes and re-indexes.

After every kill the library is opened again (which runs start-up recovery) and must hold: the store
opens and answers a query; no document is left pending or deleting; every indexed document has exactly
the chunks the catalog counts, all of one generation, with the text its kept original chunks to; no
chunk without an indexed document; unique ids; exactly the referenced originals on disk and no temp
files; a document the killed run had finished is still indexed (else it is counted as lost); an
interrupted re-index is finished. ROUNDS kills per operation (env DOMAINCHAT_CRASH_ROUNDS, default 20).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.config import Settings
from core.library.parsing.chunking import chunk_pages
from core.library.parsing.loaders import load
from core.library.recovery import RecoveryReport
from core.services import build_services

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_docs"
COLLECTION = "crashy"
ROUNDS = int(os.environ.get("DOMAINCHAT_CRASH_ROUNDS", "20"))
SUMMARY = ROOT / "test-output" / "crash-consistency.json"

pytestmark = pytest.mark.slow


@dataclass
class Tally:
    """What the kills did, per operation; written to test-output for the README's figure."""

    kills: dict[str, int] = field(default_factory=lambda: {"ingest": 0, "delete": 0, "reindex": 0})
    finished_before_kill: dict[str, int] = field(default_factory=lambda: {"ingest": 0, "delete": 0, "reindex": 0})
    recovered_reindexed: int = 0
    resumed_reindex: int = 0
    finished_deletes: int = 0
    removed_chunks: int = 0
    removed_files: int = 0
    lost: int = 0


def corpus(folder: Path) -> list[Path]:
    """Two sample documents (PDF, DOCX) and two made here (HTML, text)."""
    folder.mkdir()
    made = {
        "care.html": b"<!DOCTYPE html><html><body><h1>Care</h1>"
        + b"<p>Rinse the filter under running water every week.</p>" * 30
        + b"</body></html>",
        "notes.txt": "\n\n".join(
            f"Note {i}: the descaler is added every {i + 2} months in hard-water areas." for i in range(60)
        ).encode(),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return [
        SAMPLES / "aquaflow-dishwasher-manual.pdf",
        SAMPLES / "software-license-agreement.docx",
        *(folder / n for n in made),
    ]


def _group_has_live_members(pgid: int) -> bool:
    """Whether a process of group `pgid` is still running (zombies, which hold nothing, do not count)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class Zygote:
    """The pre-warmed launcher (tests/helpers/cli_zygote.py): each run is a fork running `python -m core`'s main."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        runs.mkdir()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.helpers.cli_zygote"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.count = 0

    def run(self, data_dir: Path, *argv: str) -> "Cli":
        """Start `python -m core ARGV` on `data_dir`."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.count += 1
        base = self.runs / f"run{self.count:03d}"
        request = {
            "argv": list(argv),
            "env": {"DOMAINCHAT_DATA_DIR": str(data_dir), "DOMAINCHAT_ENGINE": "embedded"},
            "out": f"{base}.out",
            "err": f"{base}.err",
            "status": f"{base}.status",
        }
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return Cli(int(self.proc.stdout.readline()), base)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Cli:
    """One forked CLI run: its progress lines (stderr), its output, whether it is still alive."""

    def __init__(self, pid: int, base: Path) -> None:
        self.pid, self.base = pid, base
        self.work_started = 0.0

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    @property
    def lines(self) -> list[str]:
        err = self.base.with_suffix(".err")
        return err.read_text(errors="replace").splitlines() if err.exists() else []

    def _working(self) -> bool:
        return any(": " in line and not line.startswith(("note:", "error:")) for line in self.lines)

    def kill_after(self, delay: float) -> bool:
        """SIGKILL `delay` seconds after the first progress line; False if the run had already finished."""
        deadline = time.monotonic() + 300
        while self.alive() and not self._working():
            assert time.monotonic() < deadline, "the command never started working"
            time.sleep(0.005)
        self.work_started = time.monotonic()
        deadline = self.work_started + delay
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.002)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the run and its parser child, as a power cut would
        except ProcessLookupError:
            pass
        while self.alive():
            time.sleep(0.005)
        # The whole group, as after a power cut: a child still dying (its store-check or parser process, slow to go
        # under load) must not be mistaken for a live domainchat process by the next open. Zombies never leave the
        # group where nothing reaps orphans, so the wait is bounded.
        gone_by = time.monotonic() + 30
        while time.monotonic() < gone_by and _group_has_live_members(self.pid):
            time.sleep(0.01)
        return self.status() is None

    def status(self) -> int | None:
        path = self.base.with_suffix(".status")
        return int(path.read_text()) if path.exists() else None

    def output(self) -> dict:
        """Wait for the run to finish and return its JSON output."""
        deadline = time.monotonic() + 600
        while self.alive():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert self.status() == 0, "\n".join(self.lines[-5:])
        return json.loads(self.base.with_suffix(".out").read_text())

    def finished_names(self) -> set[str]:
        """Files the run reported as indexed before it ended."""
        return {line.split(": done")[0] for line in self.lines if line.endswith(": done (indexed)")}


def open_and_check(
    data_dir: Path, embedder, finished: set[str], tally: Tally, expect_size: tuple[int, int] | None = None
) -> dict[str, str]:
    """Open the library (recovery runs), check every invariant, return {name: doc_id} of indexed documents."""
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data_dir, engine="embedded")
    # chromadb keeps one client per path for the life of a process: forget the one from the last check, whose
    # in-memory index the killed run has since changed on disk (the app never shares a store with a writer).
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    svc = build_services(settings, embedder=embedder)
    try:
        report: RecoveryReport = svc.recovery
        assert not report.failed, report.summary()
        tally.recovered_reindexed += len(report.reindexed)
        tally.resumed_reindex += len(report.resumed_reindex)
        tally.finished_deletes += len(report.finished_deletes)
        tally.removed_chunks += report.removed_chunks
        tally.removed_files += report.removed_files
        tally.lost += len(report.lost)
        if not svc.store.has_collection(COLLECTION):
            assert not svc.catalog.documents(COLLECTION)
            assert not finished, f"indexed before the kill and gone: {finished}"
            return {}
        rows = svc.catalog.documents(COLLECTION)
        assert {r.status for r in rows} <= {"indexed", "rejected"}, [(r.name, r.status) for r in rows]
        assert not svc.catalog.reindex_intents()
        indexed = {r.doc_id: r for r in rows if r.status == "indexed"}
        inventory = svc.store.inventory(COLLECTION)
        assert set(inventory) == set(indexed), (
            "chunks without an indexed document, or an indexed document without chunks"
        )
        for doc_id, row in indexed.items():
            assert inventory[doc_id] == {row.gen: row.chunks}, (row.name, inventory[doc_id], row.gen, row.chunks)
            if expect_size is not None:
                assert (row.chunk_size, row.chunk_overlap) == expect_size, row.name
            expected = chunk_pages(
                load(svc.library.originals / row.stored_as, row.kind), row.chunk_size, row.chunk_overlap
            )  # type: ignore[arg-type]
            stored = sorted(
                (c for c in svc.store.all_chunks(COLLECTION) if c.doc_id == doc_id), key=lambda c: c.chunk_id
            )
            assert [c.text for c in stored] == [c.text for c in expected], (
                f"{row.name}: chunks differ from its original"
            )
        ids = svc.store.chunk_ids(COLLECTION)
        assert len(ids) == len(set(ids)) == svc.store.count(COLLECTION) == sum(r.chunks for r in indexed.values())
        if expect_size is not None:
            info = svc.store.collection_info(COLLECTION)
            assert (info.chunk_size, info.chunk_overlap) == expect_size
        originals = {p.name for p in svc.library.originals.iterdir()} if svc.library.originals.is_dir() else set()
        assert originals == {r.stored_as for r in rows if r.stored_as}, "orphaned or missing originals"
        names = {r.name: d for d, r in indexed.items()}
        lost = finished - set(names)
        tally.lost += len(lost)
        assert not lost, f"indexed before the kill and gone after recovery: {lost}"
        if ids:
            assert svc.retriever.search(COLLECTION, "How often is the filter cleaned?", 3, "dense").chunks
            assert not svc.store.index_damaged(COLLECTION), "the vector index disagrees with the chunks"
        return names
    finally:
        svc.close()


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, embedder) -> None:
    rng = random.Random(int(os.environ.get("DOMAINCHAT_CRASH_SEED", "20261125")))
    files = corpus(tmp_path / "corpus")
    data = tmp_path / "data"
    zygote = Zygote(tmp_path / "runs")
    try:
        tally = run_rounds(zygote, files, data, embedder, rng)
    finally:
        zygote.close()
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(json.dumps({"rounds_per_operation": ROUNDS, **tally.__dict__}, indent=2))


def run_rounds(zygote: Zygote, files: list[Path], data: Path, embedder, rng: random.Random) -> Tally:
    """Kill runs until every operation had ROUNDS kills; check the library after each."""
    tally = Tally()
    # Upper bounds of the random kill delay (s after the first progress line), learnt from runs that finished first.
    window = {"ingest": 6.0, "delete": 0.3, "reindex": 6.0}
    indexed: dict[str, str] = {}
    sizes = [(300, 30), (500, 50), (800, 100), (1000, 150)]
    attempts = 0
    while min(tally.kills.values()) < ROUNDS:
        attempts += 1
        assert attempts < ROUNDS * 8, f"too few kills landed: {tally.kills}"
        todo = [op for op, n in tally.kills.items() if n < ROUNDS]
        missing = [f for f in files if f.name not in indexed]
        if "ingest" in todo and missing:
            op = "ingest"
        elif "delete" in todo and len(indexed) >= 2:
            op = "delete"
        elif "reindex" in todo and indexed:
            op = "reindex"
        else:
            op = "ingest" if missing else "delete"
        expect_size = None
        if op == "ingest":
            cli = zygote.run(data, "ingest", "--collection", COLLECTION, *map(str, files))
        elif op == "delete":
            name = rng.choice(sorted(indexed))
            cli = zygote.run(data, "docs", "delete", "--collection", COLLECTION, indexed[name])
        else:
            expect_size = rng.choice(sizes)
            cli = zygote.run(
                data,
                "reindex",
                "--collection",
                COLLECTION,
                "--chunk-size",
                str(expect_size[0]),
                "--chunk-overlap",
                str(expect_size[1]),
            )
        killed = cli.kill_after(rng.uniform(0, window[op]))
        if killed:
            tally.kills[op] += 1
            window[op] *= 1.1  # drift up, so long runs are also killed late
        else:
            tally.finished_before_kill[op] += 1
            assert cli.status() == 0, "\n".join(cli.lines[-5:])
            window[op] = max(0.05, time.monotonic() - cli.work_started)
        survivors = cli.finished_names() if op == "ingest" else set()
        # What must survive: every document indexed before this run, except the one being deleted.
        must_stay = set(indexed) - ({name} if op == "delete" else set()) | survivors
        indexed = open_and_check(data, embedder, must_stay, tally, expect_size if op == "reindex" else None)
        if op == "delete" and not killed:
            assert name not in indexed

    # Finally every file indexes to completion exactly once, and a second ingest embeds nothing.
    out = zygote.run(data, "ingest", "--collection", COLLECTION, *map(str, files)).output()
    assert {f["status"] for f in out["files"]} <= {"indexed", "duplicate"}
    final = open_and_check(data, embedder, {f.name for f in files}, tally)
    assert set(final) == {f.name for f in files}
    again = zygote.run(data, "ingest", "--collection", COLLECTION, *map(str, files)).output()
    assert {f["status"] for f in again["files"]} == {"duplicate"}
    assert tally.lost == 0
    return tally
