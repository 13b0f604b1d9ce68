"""Property-based checks of sniffing and the real loaders (hypothesis), deterministic and quick.

1. Bytes generated at random or mutated from real small documents (a PDF with a text layer, a Word document, an
   HTML page, UTF-16 text) go through `sniff` and then the real loader for the kind it found: the only exception
   allowed is the app's own rejection (`ParseFailure`, or a sniff verdict with a code) with a reason that says what
   to do; what is read has text and no control characters.
2. Valid text encoded as UTF-8 (with and without BOM), UTF-16 and UTF-32 (with BOM), UTF-16 without BOM (ASCII
   text, as some Windows exports) and cp1252 reads back as the same text.

Examples are derived from a fixed seed (`derandomize=True`, no example database), so every run checks the same
inputs; each example is parsed in this process (a few milliseconds), which keeps the whole file under a minute.
"""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.library.parsing.loaders import ParseFailure, load
from core.library.parsing.sniff import sniff
from tests.helpers import hostile

SNIFF_CODES = {"empty", "unsupported", "corrupt"}
LOAD_CODES = {"empty", "corrupt", "bomb", "unsafe", "password", "dependency", "no_text"}
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
DOCUMENT_XML = hostile.body(
    hostile.para(b"The drain pump is cleaned every month.")
    + b'<w:p><w:r><w:br w:type="page"/><w:t>Page two.</w:t></w:r></w:p>'
)
SEEDS = {
    "pdf": hostile.text_page_pdf(hostile.hello()),
    "docx": hostile.docx(DOCUMENT_XML),
    "html": (
        b"<!DOCTYPE html><html><body><h1>Care</h1><p>Rinse the filter every week.</p><script>x()</script></body></html>"
    ),
    "utf16": "The filter is rinsed under running water every week.".encode("utf-16"),
}
NAMES = {"pdf": "manual.pdf", "docx": "manual.docx", "html": "care.html", "utf16": "notes.txt"}
DETERMINISTIC = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def edited(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few random edits: bytes flipped, inserted or deleted, or the rest cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        edit = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if edit == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 256))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real small document edited as bytes, or a Word package whose document XML was edited before zipping."""
    kind = draw(st.sampled_from([*sorted(SEEDS), "docx-xml"]))
    if kind == "docx-xml":
        return "docx", hostile.docx(draw(edited(DOCUMENT_XML)))
    return kind, draw(edited(SEEDS[kind]))


def _read(data: bytes, name: str) -> None:
    """Sniff then load `data` as an upload called `name`, checking that every outcome is the app's own."""
    sniffed = sniff(data, name)
    if sniffed.kind is None:
        assert sniffed.code in SNIFF_CODES and ": " in sniffed.reason, sniffed
        return
    if sniffed.kind == "image":
        return  # read by OCR (tests/test_ocr.py), not by these loaders
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload.{sniffed.kind}"
        path.write_bytes(data)
        try:
            pages = load(path, sniffed.kind)
        except ParseFailure as exc:
            assert exc.code in LOAD_CODES and ": " in str(exc), (exc.code, str(exc))
            return
    assert pages and any(p.text for p in pages)
    assert all(p.number == i + 1 for i, p in enumerate(pages))
    assert not any(CONTROLS.search(p.text) for p in pages)


@pytest.mark.slow
@settings(DETERMINISTIC, max_examples=1500)
@given(mutated())
def test_mutated_documents_are_read_or_rejected_with_a_reason_never_an_unexpected_error(
    case: tuple[str, bytes],
) -> None:
    kind, data = case
    _read(data, NAMES[kind])


@settings(DETERMINISTIC, max_examples=600)
@given(st.binary(max_size=2048), st.sampled_from(["a.txt", "a.md", "a.pdf", "a.docx", "a.html", "noname"]))
def test_random_bytes_are_read_or_rejected_with_a_reason_never_an_unexpected_error(data: bytes, name: str) -> None:
    _read(data, name)


@settings(DETERMINISTIC, max_examples=100)
@given(
    st.sampled_from([b"%PDF-1.7\n", b"PK\x03\x04", b"\xff\xfe", b"\xef\xbb\xbf", b"<!DOCTYPE html><html>"]),
    st.binary(max_size=1024),
)
def test_bytes_behind_a_real_signature_are_read_or_rejected_with_a_reason(signature: bytes, rest: bytes) -> None:
    _read(signature + rest, "upload.bin")


# Letters, digits, punctuation and symbols of any script, spaces and single newlines: text a document holds.
TEXT = st.text(st.characters(categories=["L", "N", "P", "S"], include_characters=" \n"), min_size=1, max_size=400)
ASCII_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=8, max_size=400)
# cp1252 text that cannot pass for UTF-8: ASCII plus the accented letters at 0xE0-0xFF (never followed by a continuation
# byte).
CP1252_TEXT = st.text(
    st.sampled_from(
        list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ.,;:!?0123456789\n")
        + [chr(c) for c in range(0xE0, 0x100) if c != 0xF7]
    ),
    min_size=1,
    max_size=400,
)


def _expected(text: str) -> str:
    """What the loader keeps of a text page: trailing blanks before a line break dropped, blank runs cut to one,
    trimmed."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _round_trip(text: str, data: bytes, name: str = "notes.txt") -> None:
    assume(_expected(text))
    sniffed = sniff(data, name)
    assume(
        sniffed.kind in ("txt", "md")
    )  # text that starts like a binary signature ("MZ", "GIF8", "%PDF-") is sniffed as that
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        pages = load(path, sniffed.kind)
    assert [p.text for p in pages] == [_expected(text)]


@settings(DETERMINISTIC, max_examples=150)
@given(TEXT, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]), st.sampled_from(["notes.txt", "notes.md"]))
def test_valid_text_reads_back_the_same_in_every_encoding_with_a_bom_or_utf8(
    text: str, encoding: str, name: str
) -> None:
    _round_trip(text, text.encode(encoding), name)


@settings(DETERMINISTIC, max_examples=60)
@given(ASCII_TEXT, st.sampled_from(["utf-16-le", "utf-16-be"]))
def test_ascii_text_in_utf16_without_a_bom_reads_back_the_same(text: str, encoding: str) -> None:
    _round_trip(text, text.encode(encoding))


@settings(DETERMINISTIC, max_examples=60)
@given(CP1252_TEXT)
def test_cp1252_text_reads_back_the_same(text: str) -> None:
    _round_trip(text, text.encode("cp1252"))
