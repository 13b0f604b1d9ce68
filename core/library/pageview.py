"""See the cited page: one page of an indexed document, with the cited passage highlighted, and the original.

PDF pages and scanned images come back as a PNG rendered in a child process (core/documents/pageimage.py),
so nothing of the document runs in the browser; Word, text, Markdown and HTML documents come back as the
page's text split around the passage, for the page to show as plain text.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from core.base.children import run_child
from core.config import Settings
from core.errors import DocumentNotFoundError, PageViewError
from core.library.catalog import Catalog, DocumentRecord
from core.library.parsing.loaders import ParseFailure
from core.library.parsing.pageimage import locate
from core.library.parsing.parse_worker import parse_in_subprocess, parse_time_limit

CONTEXT_CHARS = 700  # text shown on each side of a passage in a text document
_MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/plain",
    "md": "text/markdown",
    "txt": "text/plain",
    "image": "application/octet-stream",
}


@dataclass(frozen=True)
class PageView:
    """One page of a document: a PNG (PDF, scans) or the text around the passage (other kinds)."""

    doc_id: str
    name: str
    kind: str
    page: int
    pages: int
    png: bytes | None = None
    highlighted: int = 0  # boxes drawn on the image, or 1 when the passage was found in the text
    before: str = ""
    passage: str = ""
    after: str = ""
    ocr: bool = False


@dataclass(frozen=True)
class Original:
    """A document's original bytes as uploaded, with a download name and a MIME type that never renders in the app."""

    name: str
    data: bytes
    mime: str


class PageViewService:
    """Renders cited pages and hands out originals, for the Chat sources and the Documents table."""

    def __init__(self, settings: Settings, catalog: Catalog, originals: Path, cache_size: int = 24) -> None:
        self.settings = settings
        self.catalog = catalog
        self.originals = originals
        self._cache: OrderedDict[tuple, PageView] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def document(self, collection: str, doc_ref: str) -> DocumentRecord:
        """The indexed document whose id is `doc_ref` or starts with it (chunk ids carry a 32-character prefix)."""
        matches = (
            [r for r in self.catalog.documents(collection) if r.doc_id.startswith(doc_ref) and r.status == "indexed"]
            if len(doc_ref) >= 12
            else []
        )
        if len(matches) != 1:
            raise DocumentNotFoundError(
                f"The document {doc_ref[:12]}… is no longer in collection '{collection}': it was deleted or "
                "re-uploaded; ask again to get current sources."
            )
        return matches[0]

    def page(self, collection: str, doc_ref: str, page: int, passage: str = "", *, ocr: bool = False) -> PageView:
        """Page `page` (1-based) of a document with `passage` highlighted (empty: no highlight)."""
        record = self.document(collection, doc_ref)
        key = (record.doc_id, record.indexed_at, page, passage, ocr)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        path = self.originals / record.stored_as
        if not path.is_file():
            raise PageViewError(f"The original of '{record.name}' is missing from the data directory: upload it again.")
        if record.kind in ("pdf", "image"):
            view = self._render(record, path, page, passage, ocr or record.kind == "image")
        else:
            view = self._text(record, path, page, passage)
        with self._lock:
            self._cache[key] = view
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return view

    def original(self, collection: str, doc_ref: str) -> Original:
        """The original file of a document, for download."""
        record = self.document(collection, doc_ref)
        path = self.originals / record.stored_as
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PageViewError(
                f"The original of '{record.name}' is missing from the data directory: upload it again."
            ) from None
        return Original(record.name, data, _MIME.get(record.kind, "application/octet-stream"))

    def _render(self, record: DocumentRecord, path: Path, page: int, passage: str, ocr: bool) -> PageView:
        with tempfile.TemporaryDirectory(prefix="domainchat-page-") as tmp:
            out, text = Path(tmp) / "page.png", Path(tmp) / "passage.txt"
            text.write_text(passage, encoding="utf-8")
            args = [
                "--kind",
                record.kind,
                "--page",
                str(page),
                "--passage-file",
                str(text),
                "--out",
                str(out),
                str(path),
            ]
            if ocr:
                args.insert(-1, "--ocr")
            # The parse limit, scaled by the page count as ingestion scales it; reading an OCR'd page again takes a few
            # seconds more.
            timeout = parse_time_limit(
                self.settings.parse_timeout_s, record.pages, self.settings.parse_page_timeout_s
            ) + (self.settings.ocr_page_timeout_s if ocr else 0)
            memory_mb = self.settings.ocr_memory_mb if ocr else self.settings.parse_memory_mb
            child = run_child("core.library.parsing.pageimage", args, memory_mb, timeout)
            if child.timed_out:
                raise PageViewError(
                    f"Rendering page {page} of '{record.name}' took longer than {timeout:g} s and was stopped: "
                    "download the original instead."
                )
            try:
                result = json.loads(child.stdout.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                result = {
                    "ok": False,
                    "message": (
                        f"The page renderer stopped (exit status {child.returncode}): the file may be damaged; "
                        "download the original instead."
                    ),
                }
            if not result.get("ok"):
                raise PageViewError(
                    f"Page {page} of '{record.name}' cannot be shown: {result.get('message', 'rendering failed.')}"
                )
            png = out.read_bytes()
        return PageView(
            record.doc_id,
            record.name,
            record.kind,
            page,
            int(result["pages"]),
            png=png,
            highlighted=int(result["boxes"]),
            ocr=ocr,
        )

    def _text(self, record: DocumentRecord, path: Path, page: int, passage: str) -> PageView:
        try:
            pages = parse_in_subprocess(
                path,
                record.kind,  # type: ignore[arg-type]  # the catalog holds only kinds sniffing returned
                self.settings.parse_timeout_s,
                self.settings.parse_memory_mb,
                pages=record.pages,
                page_timeout_s=self.settings.parse_page_timeout_s,
            )
        except ParseFailure as exc:
            raise PageViewError(f"'{record.name}' cannot be read again: {exc}") from None
        if not 1 <= page <= len(pages):
            raise PageViewError(f"'{record.name}' has {len(pages)} page(s), not a page {page}.")
        text = pages[page - 1].text
        spans = locate(text, passage) if passage else []
        if not spans:
            return PageView(record.doc_id, record.name, record.kind, page, len(pages), before=text[: CONTEXT_CHARS * 2])
        start, end = spans[0][0], spans[-1][1]
        lead = max(0, start - CONTEXT_CHARS)
        return PageView(
            record.doc_id,
            record.name,
            record.kind,
            page,
            len(pages),
            highlighted=1,
            before=("…" if lead else "") + text[lead:start],
            passage=text[start:end],
            after=text[end : end + CONTEXT_CHARS] + ("…" if end + CONTEXT_CHARS < len(text) else ""),
        )
