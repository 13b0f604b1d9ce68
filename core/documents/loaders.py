"""Text extraction per page for each supported kind. Runs inside the parser process (see parse_worker)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from core.documents.sniff import DocKind, decode_text


@dataclass(frozen=True)
class Page:
    """The text of one page; `number` is 1-based, as people count pages."""

    number: int
    text: str
    ocr: bool = False  # the text was read by OCR from the page's image (core/documents/ocr.py)


class ParseFailure(Exception):
    """A document that cannot be read; `code` is machine-readable, the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def load(path: Path, kind: DocKind) -> list[Page]:
    """Extract the pages of the file at `path`, known to be of `kind`."""
    if kind == "pdf":
        pages = _load_pdf(path)
    elif kind == "docx":
        pages = _load_docx(path)
    elif kind == "html":
        pages = [Page(1, _html_to_text(decode_text(path.read_bytes())))]
    else:
        pages = _load_text(decode_text(path.read_bytes()))
    pages = [Page(p.number, _tidy(p.text)) for p in pages]
    if not any(p.text for p in pages):
        raise ParseFailure("empty", "The document contains no text: check that it is the right file.")
    return pages


def _load_pdf(path: Path) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only; those open fine.
            try:
                if not reader.decrypt(""):
                    raise FileNotDecryptedError("password required")
            except (FileNotDecryptedError, NotImplementedError):
                raise ParseFailure("password", "The PDF is password-protected: remove the password (print or save an unprotected copy) and upload again.") from None
        texts = [page.extract_text() or "" for page in reader.pages]
    except ParseFailure:
        raise
    except FileNotDecryptedError:
        raise ParseFailure("password", "The PDF is password-protected: remove the password (print or save an unprotected copy) and upload again.") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError, OSError) as exc:
        raise ParseFailure("corrupt", f"The PDF is damaged and cannot be read ({type(exc).__name__}): re-export or repair it and upload again.") from None
    if not texts:
        raise ParseFailure("corrupt", "The PDF has no pages: re-export it and upload again.")
    if not any(t.strip() for t in texts):
        raise ParseFailure("no_text", "Scanned PDF: needs OCR. The PDF has no text layer (only images): upload it again with OCR turned on (Documents page, or `--ocr`), or run it through OCR (e.g. `ocrmypdf in.pdf out.pdf`) and upload the result.")
    return [Page(i + 1, t) for i, t in enumerate(texts)]


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _load_docx(path: Path) -> list[Page]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as exc:
        raise ParseFailure("corrupt", f"The Word document is damaged and cannot be read ({type(exc).__name__}): re-save it as DOCX and upload again.") from None
    body = document.element.body
    # Explicit page breaks are the author's pages; Word's rendered-break hints are a fallback for
    # documents saved by Word without explicit breaks.
    explicit = bool(body.findall(f".//{_W}br[@{_W}type='page']"))
    pages: list[list[str]] = [[]]
    for block in body.iterchildren():
        if block.tag == f"{_W}p":
            _docx_paragraph(block, pages, explicit)
        elif block.tag == f"{_W}tbl":
            for row in block.iter(f"{_W}tr"):
                cells = ["".join(t.text or "" for t in cell.iter(f"{_W}t")).strip() for cell in row.iter(f"{_W}tc")]
                pages[-1].append(" | ".join(c for c in cells if c))
    return [Page(i + 1, "\n".join(lines)) for i, lines in enumerate(pages)]


def _docx_paragraph(paragraph, pages: list[list[str]], explicit: bool) -> None:  # noqa: ANN001 (lxml element)
    ppr = paragraph.find(f"{_W}pPr")
    if ppr is not None and ppr.find(f"{_W}pageBreakBefore") is not None and any(pages[-1]):
        pages.append([])
    text: list[str] = []
    for node in paragraph.iter():
        if node.tag == f"{_W}t":
            text.append(node.text or "")
        elif node.tag == f"{_W}tab":
            text.append("\t")
        elif node.tag == f"{_W}br" and node.get(f"{_W}type") == "page":
            pages[-1].append("".join(text))
            text = []
            pages.append([])
        elif node.tag == f"{_W}lastRenderedPageBreak" and not explicit and (text or any(pages[-1])):
            pages[-1].append("".join(text))
            text = []
            pages.append([])
    pages[-1].append("".join(text))


def _load_text(text: str) -> list[Page]:
    # A form feed is the plain-text page break (what `pdftotext` and printers emit).
    parts = text.split("\f")
    return [Page(i + 1, part) for i, part in enumerate(parts)]


class _TextOfHtml(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "head"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table", "pre", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def _html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
