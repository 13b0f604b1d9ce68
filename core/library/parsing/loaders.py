"""Text extraction per page for each supported kind. Runs inside the parser process (see parse_worker)."""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable

from core.library.parsing.pdf_forms import with_filled_fields
from core.library.parsing.sniff import DocKind, decode_text

if TYPE_CHECKING:  # the parsers' libraries are imported in the parser process, where a kind is read
    from docx.oxml.text.paragraph import CT_P
    from pypdf import PdfReader


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


PageProgress = Callable[[int, int], None]  # (pages done, pages in the file)


def load(path: Path, kind: DocKind, progress: PageProgress | None = None) -> list[Page]:
    """Extract the pages of the file at `path`, known to be of `kind` (`progress` hears of each PDF page done)."""
    if kind == "pdf":
        pages = _load_pdf(path, progress)
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


def preload_parsers() -> None:
    """Import the PDF and Word libraries now (in a parser process waiting for its first file)."""
    import docx  # noqa: F401
    import pypdf  # noqa: F401


def _load_pdf(path: Path, progress: PageProgress | None = None) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError

    unreadable = _PypdfErrors()  # pypdf logs (and skips) objects it cannot read instead of raising
    try:
        with unreadable:
            reader = PdfReader(str(path))
            if reader.is_encrypted:
                # Many PDFs are "encrypted" with an empty user password only; those open fine.
                try:
                    if not reader.decrypt(""):
                        raise FileNotDecryptedError("password required")
                except (FileNotDecryptedError, NotImplementedError):
                    raise ParseFailure(
                        "password",
                        "The PDF is password-protected: remove the password (print or save an unprotected copy) and "
                        "upload again.",
                    ) from None
            total = len(reader.pages)
            if progress:
                progress(0, total)  # the page count first: the parent's time limit grows with it
            texts = []
            for page in reader.pages:
                texts.append(
                    with_filled_fields(page.extract_text() or "", page)
                )  # a form's entries are not in its text
                if progress:
                    progress(len(texts), total)
    except ParseFailure:
        raise
    except DependencyError:
        raise ParseFailure(
            "dependency",
            "The PDF is AES-encrypted and the `cryptography` package is missing: run `pip install -r "
            "requirements.txt`, then upload again.",
        ) from None
    except FileNotDecryptedError:
        raise ParseFailure(
            "password",
            "The PDF is password-protected: remove the password (print or save an unprotected copy) and upload again.",
        ) from None
    except LimitReachedError as exc:
        if "decompress" in str(exc).lower() or "stream length" in str(exc).lower():
            raise ParseFailure(
                "bomb", BOMB_REASON.format(what="The PDF has a compressed stream that", limit="75 MB")
            ) from None
        raise ParseFailure(
            "corrupt",
            f"The PDF is damaged and cannot be read ({str(exc)[:120]}): re-export or repair it and upload again.",
        ) from None
    except NotImplementedError as exc:
        raise ParseFailure(
            "corrupt",
            f"The PDF uses a feature the reader does not support ({str(exc)[:120]}): re-export it (e.g. print to PDF) "
            "and upload again.",
        ) from None
    except (
        PdfReadError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        AssertionError,
        OSError,
        RecursionError,
    ) as exc:
        raise ParseFailure(
            "corrupt",
            f"The PDF is damaged and cannot be read ({type(exc).__name__}): re-export or repair it and upload again.",
        ) from None
    if not texts:
        raise ParseFailure("corrupt", "The PDF has no pages: re-export it and upload again.")
    if _is_xfa_placeholder(reader, texts):
        raise ParseFailure("xfa", XFA_REASON)
    if not any(t.strip() for t in texts):
        if unreadable.seen:  # nothing read because the objects are broken, not because the pages are pictures
            raise ParseFailure(
                "corrupt",
                f"The PDF is damaged: parts of its pages cannot be read ({unreadable.seen[0][:120]}): re-export or "
                "repair it and upload again.",
            )
        raise ParseFailure(
            "no_text",
            "Scanned PDF: needs OCR. The PDF has no text layer (only images): upload it again with OCR turned on "
            "(Documents page, or `--ocr`), or run it through OCR (e.g. `ocrmypdf in.pdf out.pdf`) and upload the "
            "result.",
        )
    return [Page(i + 1, t) for i, t in enumerate(texts)]


XFA_REASON = (
    'The PDF is a dynamic (XFA) form: its pages hold only a "Please wait…" placeholder and its content is drawn '
    "by Adobe Reader alone, so there is no text to index. Open it in Adobe Reader, print it to PDF (or save it as a "
    "static PDF), and upload the result."
)
# The text Adobe puts on every page of a dynamic XFA form for viewers that cannot draw it.
_XFA_PLACEHOLDER = "if this message is not eventually replaced by the proper contents of the document"


def _is_xfa_placeholder(reader: PdfReader, texts: list[str]) -> bool:
    """Whether the PDF is a dynamic XFA form whose pages hold only the viewer placeholder."""
    joined = " ".join(" ".join(texts).split()).lower()
    if _XFA_PLACEHOLDER not in joined or len(joined) > 2000 * len(texts):
        return False
    from pypdf.generic import DictionaryObject

    try:
        root = reader.trailer["/Root"]
        form = root.get("/AcroForm") if isinstance(root, DictionaryObject) else None  # else a damaged catalogue
        return form is not None and form.get_object().get("/XFA") is not None
    except Exception:  # noqa: BLE001 - a damaged catalogue: treat it as an ordinary PDF, its text is indexed
        return False


BOMB_REASON = (
    "{what} expands to more than {limit} (a decompression bomb), so it was not read: "
    "if the document is genuine, re-export it (e.g. print to PDF or save again) and upload the result."
)


class _PypdfErrors(logging.Handler):
    """Collects the read errors pypdf logs while it skips broken objects (deep nesting, unreadable or missing
    objects)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if (
            "Error reading PDF file" in message
            or "RecursionError" in message
            or re.match(r"Object \d+ \d+ not defined", message)
        ):
            self.seen.append(message)

    def __enter__(self) -> "_PypdfErrors":
        logging.getLogger("pypdf").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("pypdf").removeHandler(self)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# What zipfile raises on a damaged package: bad headers, offsets past the end, a broken or unsupported compressed
# member, an encrypted member ("password required" is a RuntimeError).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)


def _load_docx(path: Path) -> list[Page]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from lxml.etree import XMLSyntaxError  # type: ignore[import-untyped]  # lxml ships no type information

    _check_docx_package(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, XMLSyntaxError, RecursionError, *_ZIP_ERRORS) as exc:
        detail = str(exc).splitlines()[0][:120] if isinstance(exc, XMLSyntaxError) else type(exc).__name__
        raise ParseFailure(
            "corrupt",
            f"The Word document is damaged and cannot be read ({detail}): re-save it as DOCX and upload again.",
        ) from None
    body = getattr(document.element, "body", None)  # a main part whose root is not <w:document>, or has no <w:body>
    if body is None:
        raise ParseFailure(
            "corrupt",
            "The Word document is damaged: its main part holds no document body: re-save it as DOCX and upload again.",
        )
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


DOCX_PART_LIMIT = 100 * 1024 * 1024  # one XML part of a real document is a few MB; Word's own limit is far below this
DOCX_TOTAL_LIMIT = 400 * 1024 * 1024


def _check_docx_package(path: Path) -> None:
    """Refuse a Word package that inflates beyond reason or whose XML declares a DOCTYPE (Word never writes one)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            # The declared sizes bound what zipfile will ever inflate (it stops reading at file_size).
            if any(i.file_size > DOCX_PART_LIMIT for i in infos) or sum(i.file_size for i in infos) > DOCX_TOTAL_LIMIT:
                raise ParseFailure(
                    "bomb",
                    BOMB_REASON.format(what="The Word document (a ZIP package)", limit=f"{DOCX_PART_LIMIT >> 20} MB"),
                )
            for info in infos:
                if info.filename.lower().endswith((".xml", ".rels")):
                    with archive.open(info) as part:
                        declared = _declares_doctype(part)
                    if declared:
                        raise ParseFailure(
                            "unsafe",
                            (
                                f"The Word document's part {info.filename[:80]} declares a DOCTYPE (how XML "
                                "external-entity and entity-expansion attacks begin; Word never writes one), so it was "
                                "not read: open it in Word and save it again, or ask the sender for a clean copy."
                            ),
                        )
    except _ZIP_ERRORS as exc:
        raise ParseFailure(
            "corrupt",
            f"The Word document is damaged and cannot be read ({str(exc)[:120] or type(exc).__name__}): re-save it as "
            "DOCX and upload again.",
        ) from None


def _declares_doctype(part: IO[bytes]) -> bool:
    """Whether an XML part declares a DOCTYPE: it stands before the root element, but after a prolog of any length, in
    any encoding."""
    from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

    parser = etree.XMLPullParser(events=("start",), resolve_entities=False, load_dtd=False, no_network=True)
    try:
        while chunk := part.read(4096):
            parser.feed(chunk)
            for _event, element in parser.read_events():  # the root element: the prolog is complete
                return bool(element.getroottree().docinfo.doctype)
    except etree.XMLSyntaxError as exc:
        # Entities blew up before the root element was reported (billion laughs): only a DOCTYPE declares entities.
        # Any other damage is python-docx's to report.
        message = str(exc).lower()
        return "entit" in message and "not defined" not in message
    return False


def _docx_paragraph(paragraph: CT_P, pages: list[list[str]], explicit: bool) -> None:
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
    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "table",
        "pre",
        "blockquote",
    }

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


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # C0 controls but tab, newline, form feed, CR


def _tidy(text: str) -> str:
    text = _CONTROLS.sub(" ", text)  # terminal escapes and bells mean nothing in a passage, and would reach the prompt
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
