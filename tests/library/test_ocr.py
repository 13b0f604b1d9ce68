"""OCR of scanned pages and images, through the real parse/OCR child processes, RapidOCR and a real Chroma."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest

from core.config import Settings
from core.library.parsing.loaders import Page, load
from core.library.parsing.ocr import lines_to_text, ocr_pages, recognise, thin_text
from core.library.service import Progress, UploadedFile
from core.services import Services
from tests.helpers import scans

pytestmark = pytest.mark.slow

QUESTION = "How often must the drain filter be rinsed?"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Room for OCR on a crowded machine: these tests check what OCR reads, not how fast."""
    return replace(settings, ocr_page_timeout_s=900.0)


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_a_stamped_header_alone_is_not_a_text_layer() -> None:
    assert thin_text(scans.STAMP.format(n=3, total=12))
    assert thin_text("")
    assert not thin_text(" ".join(["The court finds that the notice was served on time."] * 4))


def test_the_loader_sees_only_the_stamp_on_a_scanned_page(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(scans.scanned_pdf())
    pages = load(path, "pdf")
    assert [p.text for p in pages] == [scans.STAMP.format(n=n, total=2) for n in (1, 2)]


def test_ocr_reads_the_text_of_a_scanned_page_under_its_stamp(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(scans.scanned_pdf())
    seen: list[tuple[int, int]] = []
    pages = ocr_pages(
        path,
        "pdf",
        load(path, "pdf"),
        timeout_s=120,
        page_timeout_s=900,
        memory_mb=3072,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert [p.ocr for p in pages] == [True, True]
    assert "drain filter must be rinsed under running water every fourteen days" in words(pages[1].text)
    assert "motion to dismiss" in words(pages[0].text)
    assert seen == [(1, 2), (2, 2)]


def test_recognised_lines_come_in_reading_order(tmp_path: Path) -> None:
    from PIL import Image

    [png] = scans.page_images(
        ["First line of the page here and it goes on for a while across. Second line comes right after it."]
    )
    lines = recognise(Image.open(io.BytesIO(png)))
    text = lines_to_text(lines)
    assert words(text).startswith("first line of the page")
    assert all(0 <= v <= 1 for line in lines for v in line.box)


def test_ingesting_a_scan_marks_its_pages_and_retrieval_finds_the_ocr_text(services: Services) -> None:
    events: list[Progress] = []
    [result] = services.library.ingest(
        "legal", [UploadedFile("order.pdf", scans.scanned_pdf())], progress=events.append
    )
    assert result.status == "indexed", result.reason
    assert (result.pages, result.ocr_pages) == (2, 2)
    assert [(e.done, e.total) for e in events if e.stage == "ocr"] == [(1, 2), (2, 2)]
    [record] = services.library.list_documents("legal")
    assert record.ocr_pages == 2
    top = services.retriever.search("legal", QUESTION, 1, "fused").chunks[0]
    assert top.page == 2 and top.ocr
    assert "fourteen days" in words(top.text)


def test_only_the_scanned_page_of_a_mixed_pdf_is_read_by_ocr(services: Services) -> None:
    [result] = services.library.ingest("manuals", [UploadedFile("mixed.pdf", scans.mixed_pdf())])
    assert (result.status, result.pages, result.ocr_pages) == ("indexed", 2, 1)
    chunks = services.store.all_chunks("manuals")
    assert {c.page: c.ocr for c in chunks} == {1: False, 2: True}
    assert any("place settings" in c.text for c in chunks if c.page == 1)


def test_png_and_multipage_tiff_uploads_are_read(services: Services) -> None:
    [png] = scans.page_images(scans.SCAN_PAGES[1:])
    results = services.library.ingest(
        "scans", [UploadedFile("filter.png", png), UploadedFile("pages.tiff", scans.tiff_of_pages())]
    )
    assert [(r.status, r.kind, r.pages, r.ocr_pages) for r in results] == [
        ("indexed", "image", 1, 1),
        ("indexed", "image", 2, 2),
    ]
    top = services.retriever.search("scans", QUESTION, 1, "dense").chunks[0]
    assert top.ocr and "fourteen days" in words(top.text)


def test_with_ocr_off_scans_and_images_are_rejected_with_the_way_out(services: Services) -> None:
    [png] = scans.page_images(scans.SCAN_PAGES[:1])
    results = services.library.ingest(
        "legal", [UploadedFile("bare.pdf", scans.scanned_pdf(stamp=False)), UploadedFile("page.png", png)], ocr=False
    )
    assert [(r.status, r.code) for r in results] == [("rejected", "no_text"), ("rejected", "needs_ocr")]
    assert all("OCR turned on" in r.reason for r in results)


def test_a_picture_without_text_is_rejected_as_having_no_text(services: Services) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (600, 800), "white").save(buffer, format="PNG")
    [result] = services.library.ingest("scans", [UploadedFile("blank.png", buffer.getvalue())])
    assert (result.status, result.code) == ("rejected", "no_text")
    assert "OCR read no text" in result.reason


def test_a_damaged_image_is_rejected_not_crashed_on(services: Services) -> None:
    [png] = scans.page_images(scans.SCAN_PAGES[:1])
    [result] = services.library.ingest("scans", [UploadedFile("cut.png", png[: len(png) // 3])])
    assert result.status == "rejected" and result.code in ("corrupt", "no_text")
    assert "upload" in result.reason or "legible" in result.reason


def test_a_real_text_page_is_never_sent_to_ocr(tmp_path: Path) -> None:
    path = tmp_path / "x.pdf"
    path.write_bytes(scans._text_pdf(["Short title page"]))
    pages = [Page(1, "Short title page")]
    # thin text but no image on the page: left as the loader read it
    assert ocr_pages(path, "pdf", pages, timeout_s=120, page_timeout_s=120, memory_mb=3072) == pages
