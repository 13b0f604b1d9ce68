"""Loaders, type sniffing and chunking on documents made by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.library.parsing.chunking import chunk_pages, split_spans
from core.library.parsing.loaders import Page, ParseFailure, load
from core.library.parsing.sniff import sniff
from tests.helpers import fixtures_docs as fx


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_pdf_text_and_page_numbers_round_trip(tmp_path: Path) -> None:
    pages = load(write(tmp_path, "m.pdf", fx.pdf_bytes()), "pdf")
    assert [p.number for p in pages] == [1, 2, 3]
    assert "Error E7 means the drain pump is blocked." in pages[1].text
    assert "24 months" in pages[2].text and "24 months" not in pages[1].text


def test_docx_pages_follow_explicit_page_breaks_and_keep_tables(tmp_path: Path) -> None:
    pages = load(write(tmp_path, "a.docx", fx.docx_bytes()), "docx")
    assert [p.number for p in pages] == [1, 2, 3]
    assert "inlet hose" in pages[0].text
    assert "Error E7" in pages[1].text and "Error E7" not in pages[2].text
    assert "DW-450 | 14 place settings" in pages[2].text


def test_html_drops_scripts_and_keeps_text(tmp_path: Path) -> None:
    html = (
        b"<!DOCTYPE html><html><head><title>t</title><script>alert('x')</script></head>"
        b"<body><h1>Care</h1><p>Check feet daily.</p></body></html>"
    )
    (page,) = load(write(tmp_path, "g.html", html), "html")
    assert "Check feet daily." in page.text and "alert" not in page.text


def test_text_form_feeds_are_page_breaks(tmp_path: Path) -> None:
    pages = load(write(tmp_path, "t.txt", "first page\fsecond page".encode()), "txt")
    assert [(p.number, p.text) for p in pages] == [(1, "first page"), (2, "second page")]


@pytest.mark.parametrize(
    ("data", "name", "kind", "code"),
    [
        (fx.pdf_bytes(), "renamed.txt", "pdf", ""),
        (fx.docx_bytes(), "contract.bin", "docx", ""),
        (b"<html><body>x</body></html>", "page.txt", "html", ""),
        (b"# Title\n\ntext", "notes.md", "md", ""),
        ("naïve café".encode("cp1252"), "old.txt", "txt", ""),
        (fx.ELF_BYTES, "manual.pdf", None, "unsupported"),
        (b"MZ\x90\x00" + bytes(100), "setup.pdf", None, "unsupported"),
        (b"", "empty.pdf", None, "empty"),
        (b"  \n\t ", "blank.txt", None, "empty"),
        (b"PK\x03\x04garbage", "broken.docx", None, "corrupt"),
    ],
)
def test_type_is_decided_by_content_not_name(data: bytes, name: str, kind: str | None, code: str) -> None:
    result = sniff(data, name)
    assert (result.kind, result.code) == (kind, code)
    if code:
        assert "upload" in result.reason.lower() or "re-save" in result.reason.lower()


def test_pdf_failures_have_codes_and_say_what_to_do(tmp_path: Path) -> None:
    cases = {"password": fx.encrypted_pdf(), "no_text": fx.image_only_pdf(), "corrupt": fx.truncated_pdf()}
    for code, data in cases.items():
        with pytest.raises(ParseFailure) as err:
            load(write(tmp_path, f"{code}.pdf", data), "pdf")
        assert err.value.code == code
    with pytest.raises(ParseFailure, match="needs OCR"):
        load(write(tmp_path, "scan.pdf", fx.image_only_pdf()), "pdf")


def test_chunks_keep_pages_and_offsets() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    pages = [Page(1, text), Page(2, "Short second page.")]
    chunks = chunk_pages(pages, size=300, overlap=60)
    assert chunks[-1].page == 2 and chunks[-1].text == "Short second page."
    for chunk in chunks:
        source = pages[chunk.page - 1].text
        assert source[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 300
    first_page = [c for c in chunks if c.page == 1]
    # consecutive chunks overlap, and together they cover the page
    assert all(b.start < a.end for a, b in zip(first_page, first_page[1:]))
    assert first_page[0].start == 0 and first_page[-1].end == len(text)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_spans_without_overlap_tile_the_text() -> None:
    text = "word " * 500
    spans = split_spans(text, 200, 0)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert spans[-1][1] == len(text)


@pytest.mark.parametrize("algorithm", ["AES-128", "AES-256"])
def test_aes_pdfs_with_an_empty_user_password_open(tmp_path: Path, algorithm: str) -> None:
    from tests.helpers.hostile import aes_pdf

    pages = load(write(tmp_path, "form.pdf", aes_pdf("", algorithm)), "pdf")
    assert "Error E7 means the drain pump is blocked." in pages[1].text
    with pytest.raises(ParseFailure) as err:
        load(write(tmp_path, "secret.pdf", aes_pdf("s3cret", algorithm)), "pdf")
    assert err.value.code == "password"
