"""Big PDFs: parsing reports the pages done and its time limit grows with the page count (issue 10, item 10)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from core.config import Settings
from core.library.parsing.loaders import ParseFailure
from core.library.parsing.parse_pool import ParseWorker
from core.library.types import Progress, UploadedFile
from core.services import build_services
from tests.helpers.hostile import FONT, many_pages_pdf, pdf, slow_page_pdf, stream

PAGES = 300


def manual_pdf(count: int, lines: int = 45) -> bytes:
    """`count` pages as dense as a manual's (`lines` lines of text each): ≈8 ms of pypdf work per page here."""
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        FONT,
    ]
    for i in range(count):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(
            stream(
                b"".join(
                    b"BT /F1 10 Tf 72 %d Td (Section %d, line %d: rinse the filter under running water.) Tj ET\n"
                    % (760 - 15 * j, i + 1, j + 1)
                    for j in range(lines)
                )
            )
        )
    return pdf(objects)


@pytest.mark.slow
def test_a_long_pdf_is_parsed_within_its_per_page_allowance_that_a_flat_limit_would_refuse(tmp_path: Path) -> None:
    long_pdf = tmp_path / "manual.pdf"
    long_pdf.write_bytes(manual_pdf(PAGES))
    short_pdf = tmp_path / "short.pdf"
    short_pdf.write_bytes(many_pages_pdf(1))
    with ParseWorker(timeout_s=300, memory_mb=1536) as worker:
        worker.parse(short_pdf, "pdf")  # warms the worker: process started, pypdf imported
        started = time.monotonic()
        worker.parse(long_pdf, "pdf")  # measures this machine right now
        whole = time.monotonic() - started
        # Limits relative to the measured time, so the test means the same on an idle and on a crowded machine:
        # a flat limit of a third of it refuses the file; the same limit plus a per-page allowance does not.
        worker.timeout_s, worker.page_timeout_s = whole / 3, 8 * whole / PAGES
        seen: list[tuple[int, int]] = []
        pages = worker.parse(long_pdf, "pdf", lambda done, total: seen.append((done, total)))
        assert len(pages) == PAGES and f"Section {PAGES}, line 45" in pages[-1].text
        assert seen[0] == (0, PAGES) and seen[-1] == (PAGES, PAGES)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) >= 3  # pages done, along the way

        worker.page_timeout_s = 0.0
        with pytest.raises(ParseFailure) as flat:
            worker.parse(long_pdf, "pdf")
        assert flat.value.code == "timeout"


@pytest.mark.slow
def test_a_page_that_never_finishes_is_still_stopped_at_the_base_limit(tmp_path: Path) -> None:
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(slow_page_pdf(3_000_000))  # minutes of pypdf work on its single page
    with ParseWorker(timeout_s=3, memory_mb=1536, page_timeout_s=60) as worker:
        started = time.monotonic()
        with pytest.raises(ParseFailure) as hang:
            worker.parse(slow, "pdf")
        elapsed = time.monotonic() - started
    assert hang.value.code == "timeout" and "longer than 3 s without finishing a page" in str(hang.value)
    assert elapsed < 30  # stopped at 3 s without a page, not after its 60 s page allowance


def test_uploading_a_long_pdf_reports_pages_done_on_the_ingest_progress(settings: Settings, embedder) -> None:
    services = build_services(dataclasses.replace(settings, parse_page_timeout_s=0.5), embedder=embedder)
    events: list[Progress] = []
    (result,) = services.library.ingest(
        "manuals", [UploadedFile("long.pdf", many_pages_pdf(40))], progress=events.append
    )
    assert result.status == "indexed" and result.pages == 40
    pages_done = [e for e in events if e.stage == "parsing" and e.detail.startswith("page ")]
    services.close()
    assert pages_done and pages_done[-1].detail == "page 40 of 40" and pages_done[-1].total == 40
