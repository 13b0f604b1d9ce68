"""Decide a file's type from its bytes (magic numbers and content), never from its name."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Literal

DocKind = Literal["pdf", "docx", "html", "md", "txt", "image"]
SUPPORTED = "PDF, DOCX, TXT, MD, HTML, or a PNG/JPEG/TIFF scan"
# Scans as images are read by OCR (core/documents/ocr.py).
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")


@dataclass(frozen=True)
class Sniffed:
    """The outcome of looking at a file's bytes: a kind, or a rejection code and reason."""

    kind: DocKind | None
    code: str = ""
    reason: str = ""


_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "a Linux executable"),
    (b"MZ", "a Windows executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file (.doc/.xls): save it as DOCX or PDF"),
)


def sniff(data: bytes, name: str = "") -> Sniffed:
    """Classify `data`; `name` only separates Markdown from plain text once the bytes are known to be text."""
    if not data.strip():
        return Sniffed(None, "empty", "The file is empty: upload a document with text in it.")
    head = data[:2048]
    if b"%PDF-" in data[:1024]:
        return Sniffed("pdf")
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(data)
    if head.startswith(_IMAGE_SIGNATURES):
        return Sniffed("image")
    for signature, label in _BINARY_SIGNATURES:
        if head.startswith(signature):
            return Sniffed(
                None, "unsupported", f"Unsupported file type: this is {label}, not a document. Upload {SUPPORTED}."
            )
    text = _as_text(data)
    if text is None:
        return Sniffed(
            None, "unsupported", f"Unsupported file type: the content is binary, not a document. Upload {SUPPORTED}."
        )
    lowered = text[:2048].lstrip("\ufeff \t\r\n").lower()
    if lowered.startswith(("<!doctype html", "<html")) or ("<html" in lowered and "<body" in text[:8192].lower()):
        return Sniffed("html")
    if name.lower().endswith((".md", ".markdown")):
        return Sniffed("md")
    return Sniffed("txt")


def _sniff_zip(data: bytes) -> Sniffed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        return Sniffed(
            None, "corrupt", "The file looks like a DOCX/ZIP but is damaged: re-save or re-export it and upload again."
        )
    if "word/document.xml" in names:
        return Sniffed("docx")
    return Sniffed(
        None, "unsupported", f"Unsupported file type: a ZIP archive that is not a Word document. Upload {SUPPORTED}."
    )


def _as_text(data: bytes) -> str | None:
    """Decode bytes that are text; None for binary content."""
    sample = data[:65536]
    if sample.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return _decoded(data, "utf-32")
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decoded(data, "utf-16")
    if b"\x00" in sample:
        # UTF-16 without a BOM (some Windows exports): ASCII-range text leaves every other byte NUL.
        even, odd = sample[0::2], sample[1::2]
        if len(sample) >= 16 and odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
            return _decoded(data, "utf-16-le")
        if len(sample) >= 16 and even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
            return _decoded(data, "utf-16-be")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        return None if _control_share(text) > 0.01 else text
    # Valid UTF-8 can still be binary in disguise (all bytes below 0x20): a document has few controls.
    return None if _control_share(text) > 0.1 else text


def _decoded(data: bytes, encoding: str) -> str | None:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    return None if _control_share(text) > 0.1 else text


def _control_share(text: str) -> float:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\f")
    return controls / max(1, len(sample))


def decode_text(data: bytes) -> str:
    """Decode a text file's bytes (UTF-8 with or without BOM, UTF-16/32 with BOM, UTF-16 without, else cp1252)."""
    return _as_text(data) or ""
