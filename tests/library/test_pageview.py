"""The cited page: rendered by pdfium in a child process, the passage highlighted; text documents show it in context."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import DocumentNotFoundError, PageViewError
from core.library.pageview import PageViewService
from core.library.parsing.pageimage import HIGHLIGHT, VIEW_MAX_SIDE, locate
from core.library.service import UploadedFile
from core.services import Services
from tests.helpers import fixtures_docs as fx
from tests.helpers import hostile, scans

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Room for OCR on a crowded machine: these tests check what OCR reads, not how fast."""
    return replace(settings, ocr_page_timeout_s=900.0)


def image(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def highlighted_pixels(img) -> list[tuple[int, int]]:
    """Pixels tinted by the highlight: white paper under translucent yellow."""
    r, g, b, a = HIGHLIGHT
    tint = tuple(round(c * a / 255 + 255 * (1 - a / 255)) for c in (r, g, b))
    width, height = img.size
    pixels = img.load()
    return [
        (x, y)
        for y in range(0, height, 2)
        for x in range(0, width, 2)
        if all(abs(pixels[x, y][i] - tint[i]) <= 3 for i in range(3))
    ]


def test_locate_ignores_whitespace_hyphen_and_case_differences() -> None:
    page = "The filters should be\nchecked and cleaned  once a week. Rinse them under water."
    [(start, end)] = locate(page, "checked and cleaned once a WEEK.")
    assert page[start:end] == "checked and cleaned  once a week."
    assert locate(page, "nothing like this at all anywhere") == []


@pytest.fixture
def manual(services: Services) -> Services:
    services.library.ingest("manuals", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
    return services


def test_the_cited_page_is_rendered_with_the_passage_highlighted(manual: Services) -> None:
    import pypdfium2 as pdfium

    hit = manual.retriever.search("manuals", "How often should the filters be checked and cleaned?", 1, "dense").chunks[
        0
    ]
    assert hit.page == 6
    view = manual.pageview.page("manuals", hit.doc_id, hit.page, hit.text)
    plain = manual.pageview.page("manuals", hit.doc_id, hit.page)
    assert (view.page, view.pages, view.name) == (6, 8, MANUAL.name)
    assert view.highlighted > 0 and plain.highlighted == 0

    # the right page: without a passage the view is pdfium's own rendering of page 6, not of another page
    pdf = pdfium.PdfDocument(str(MANUAL))
    width, height = pdf[5].get_size()
    expected = pdf[5].render(scale=VIEW_MAX_SIDE / max(width, height)).to_pil().convert("RGB")
    other = pdf[4].render(scale=VIEW_MAX_SIDE / max(width, height)).to_pil().convert("RGB")
    pdf.close()
    assert image(plain.png).tobytes() == expected.tobytes() != other.tobytes()

    # the highlight sits where pdfium finds the passage's words on that page
    marked = highlighted_pixels(image(view.png))
    assert marked and highlighted_pixels(image(plain.png)) == []
    pdf = pdfium.PdfDocument(str(MANUAL))
    textpage = pdf[5].get_textpage()
    found = textpage.get_text_range().lower().find("once a week")
    assert found != -1
    left, bottom, right, top = textpage.get_rect(0) if textpage.count_rects(found, 11) else (0, 0, 0, 0)
    scale = VIEW_MAX_SIDE / max(width, height)
    pdf.close()
    ys = [y for _, y in marked]
    assert min(ys) - 4 <= (height - top) * scale <= max(ys) + 4


def test_a_filled_form_page_is_shown_with_what_was_typed_into_its_fields(services: Services) -> None:
    def ink_in_policy_field(data: bytes, name: str) -> int:
        [result] = services.library.ingest("claims", [UploadedFile(name, data)])
        png = services.pageview.page("claims", result.doc_id, 1).png
        img = image(png).convert("L")
        scale = img.size[0] / 595.27  # A4 points to pixels
        top = img.size[1] - round((760 + 18) * scale)  # the policy number field: x 250–450, y 760–778 (fixtures_docs)
        box = img.crop((round(252 * scale), top + 2, round(448 * scale), top + round(18 * scale) - 2))
        return sum(1 for v in box.getdata() if v < 128)

    filled = ink_in_policy_field(fx.filled_form_pdf(), "filled.pdf")
    blank = ink_in_policy_field(fx.filled_form_pdf(policy="", holder="", ticked=False), "blank.pdf")
    assert filled > 20 and blank < filled / 4  # "PX-20931-7" is drawn in the field; the blank field stays empty


def test_the_original_is_offered_as_uploaded(manual: Services) -> None:
    [record] = manual.library.list_documents("manuals")
    original = manual.pageview.original("manuals", record.doc_id[:32])
    assert original.data == MANUAL.read_bytes() and original.name == MANUAL.name and original.mime == "application/pdf"


def test_a_scanned_page_is_highlighted_from_its_ocr_lines(services: Services) -> None:
    services.library.ingest("legal", [UploadedFile("order.pdf", scans.scanned_pdf())])
    hit = services.retriever.search("legal", "How often must the drain filter be rinsed?", 1, "dense").chunks[0]
    assert hit.ocr and hit.page == 2
    view = services.pageview.page("legal", hit.doc_id, hit.page, hit.text, ocr=hit.ocr)
    assert view.ocr and view.highlighted >= 2
    assert highlighted_pixels(image(view.png))


def test_a_word_document_shows_the_passage_in_its_surrounding_text(services: Services) -> None:
    services.library.ingest("manuals", [UploadedFile("manual.docx", fx.docx_bytes())])
    hit = services.retriever.search("manuals", "What does error E7 mean?", 1, "dense").chunks[0]
    view = services.pageview.page("manuals", hit.doc_id, hit.page, "Error E7 means the drain pump is blocked.")
    assert view.png is None and view.page == 2 and view.pages == 3
    assert view.passage == "Error E7 means the drain pump is blocked."
    assert view.before.endswith("Page two lists error codes. ") and "Section 2" in view.before


def test_a_page_that_does_not_exist_or_a_deleted_document_say_what_to_do(manual: Services) -> None:
    [record] = manual.library.list_documents("manuals")
    with pytest.raises(PageViewError, match="not a page 99"):
        manual.pageview.page("manuals", record.doc_id, 99)
    manual.library.delete_document("manuals", record.doc_id)
    with pytest.raises(DocumentNotFoundError, match="ask again"):
        manual.pageview.page("manuals", record.doc_id, 1)


def test_a_damaged_original_gives_a_message_not_a_crash(manual: Services) -> None:
    [record] = manual.library.list_documents("manuals")
    (manual.settings.data_dir / "originals" / record.stored_as).write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    with pytest.raises(PageViewError, match="cannot be shown"):
        manual.pageview.page("manuals", record.doc_id, 2)


def test_the_page_view_allows_ingestions_time_per_page_so_a_long_document_opens_and_a_short_one_still_stops(
    services: Services,
) -> None:
    """A flat limit no reader can meet (10 ms: not even the child's interpreter starts) plus 20 ms a page.

    A 300-page PDF and a 300-page text file are shown: their limit is 6 s, as ingestion would allow them, for a
    reader that takes 0.2-0.5 s here. A one-page document under the same settings (limit 30 ms) is stopped, so the
    limit is scaled by the page count, not lifted.
    """
    long_pdf = services.library.ingest("long", [UploadedFile("long.pdf", hostile.many_pages_pdf(300))])[0]
    long_txt = services.library.ingest(
        "long", [UploadedFile("long.txt", "\f".join(f"Page {i} of the log book." for i in range(1, 301)).encode())]
    )[0]
    short_pdf = services.library.ingest("long", [UploadedFile("short.pdf", hostile.text_page_pdf(hostile.hello()))])[0]
    short_txt = services.library.ingest("long", [UploadedFile("short.txt", b"One page about the descaler.")])[0]
    assert (long_pdf.pages, long_txt.pages, short_pdf.pages, short_txt.pages) == (300, 300, 1, 1)
    tight = replace(services.settings, parse_timeout_s=0.01, parse_page_timeout_s=0.02)
    pageview = PageViewService(tight, services.catalog, services.library.originals)

    view = pageview.page("long", long_pdf.doc_id, 299, "Page 299 of 300")
    assert view.png is not None and view.pages == 300 and view.highlighted >= 1
    view = pageview.page("long", long_txt.doc_id, 150, "Page 150 of the log book.")
    assert view.pages == 300 and view.passage == "Page 150 of the log book."

    with pytest.raises(PageViewError, match="took longer than"):
        pageview.page("long", short_pdf.doc_id, 1)
    with pytest.raises(PageViewError, match=r"longer than allowed \(0.01 s plus 0.02 s for each of its 1 pages\)"):
        pageview.page("long", short_txt.doc_id, 1)
