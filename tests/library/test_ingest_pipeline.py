"""The overlapped ingestion: same outcomes as one file at a time, one parser process for the batch, chunks of
several files embedded together, and every progress report on the caller's thread."""

from __future__ import annotations

import dataclasses
import re
import threading
from typing import Sequence

from core.config import Settings
from core.library.service import Progress, UploadedFile
from core.services import build_services


class CountingEmbedder:
    """The real embedding model, counting how often it is called."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.name, self.calls = inner, inner.name, 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return self.inner.embed(texts)


def test_many_small_files_share_one_parser_process_and_model_batches(settings: Settings, embedder) -> None:
    counting = CountingEmbedder(embedder)
    svc = build_services(settings, embedder=counting, parser="tests.helpers.mixed_parser:parse")
    events: list[tuple[int, Progress]] = []
    try:
        files = [
            UploadedFile(f"note-{i:02d}.txt", f"PID Note {i}: the pump number {i} is checked every {i} days.".encode())
            for i in range(40)
        ]
        results = svc.library.ingest("notes", files, progress=lambda p: events.append((threading.get_ident(), p)))
        assert [r.name for r in results] == [f.name for f in files]
        assert {r.status for r in results} == {"indexed"}
        texts = [c.text for c in svc.store.all_chunks("notes")]
        assert len(texts) == 40
        assert len({re.search(r"parsed-by-process-(\d+)", t).group(1) for t in texts}) == 1  # type: ignore[union-attr]
        assert counting.calls < 40  # chunks of several files per model call
        assert {tid for tid, _ in events} == {threading.get_ident()}
        assert sorted(p.name for _, p in events if p.stage == "done") == sorted(f.name for f in files)
        assert {p.name for _, p in events if p.stage == "embedding"} == {f.name for f in files}
        hit = svc.retriever.search("notes", "pump number 17 checked", 1, "fused").chunks[0]
        assert hit.source == "note-17.txt"
    finally:
        svc.close()


def test_failures_and_duplicates_in_one_upload_end_as_one_file_at_a_time_would(settings: Settings, embedder) -> None:
    svc = build_services(
        dataclasses.replace(settings, parse_timeout_s=5), embedder=embedder, parser="tests.helpers.mixed_parser:parse"
    )
    try:
        same = b"The filter is rinsed under running water."
        files = [
            UploadedFile("a.txt", same),
            UploadedFile("hang.txt", b"HANG"),
            UploadedFile("crash.txt", b"CRASH"),
            UploadedFile("copy-of-a.txt", same),
            UploadedFile("blank.txt", b"   \n  "),
            UploadedFile("b.txt", b"Error E4 means the water inlet is blocked."),
        ]
        results = {r.name: r for r in svc.library.ingest("mixed", files)}
        assert results["a.txt"].status == "indexed" and results["b.txt"].status == "indexed"
        assert (results["hang.txt"].status, results["hang.txt"].code) == ("rejected", "timeout")
        assert (results["crash.txt"].status, results["crash.txt"].code) == ("rejected", "crash")
        assert results["copy-of-a.txt"].status == "duplicate" and "a.txt" in results["copy-of-a.txt"].reason
        assert results["blank.txt"].status == "rejected"
        table = {d.name: d.status for d in svc.library.list_documents("mixed")}
        assert table == {
            "a.txt": "indexed",
            "b.txt": "indexed",
            "hang.txt": "rejected",
            "crash.txt": "rejected",
            "blank.txt": "rejected",
        }
        assert svc.store.count("mixed") == 2
        originals = sorted(p.name for p in (settings.data_dir / "originals").iterdir())
        assert originals == sorted(f"{results[n].doc_id}.txt" for n in ("a.txt", "b.txt"))
    finally:
        svc.close()
