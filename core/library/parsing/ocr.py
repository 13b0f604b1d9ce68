"""OCR for scanned pages and images, offline: RapidOCR (ONNX models inside the wheel) on pages pypdfium2 renders.

Only pages without a usable text layer are read: a PDF page whose text is empty or thin (a stamped court
header, a Bates number) while an image covers much of it, or every page when the PDF has no text at all;
PNG/JPEG/TIFF uploads are read whole. Like parsing, OCR runs in a child process under the parser's memory
limit and a wall-clock limit that grows with the page count, and reports each page as it finishes.
Run as `python -m core.library.parsing.ocr --kind pdf|image [--pages 1,3] PATH`: one JSON object per line on stdout.
"""

from __future__ import annotations

import argparse
import json
import queue
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from core.base.children import start_child
from core.library.parsing.loaders import Page, ParseFailure

THIN_WORDS = 30  # fewer words than this on a page is a header or stamp, not a text layer
LARGE_IMAGE = 0.3  # an image covering this share of the page makes a thin-text page a scan
OCR_MAX_SIDE = (
    1600  # pixels on the long side of what OCR reads (≈145 dpi on A4/Letter); at 1200 RapidOCR loses word spaces
)
MIN_SCORE = 0.5  # recognitions below this confidence are noise (speckles, stamps' borders)
MAX_IMAGE_PIXELS = 60_000_000  # larger uploads are refused as likely decompression bombs
_WORD = re.compile(r"[^\W\d_]{2,}")

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class OcrLine:
    """One recognised line: its text, confidence and box as fractions of the page (x0, y0, x1, y1; y down)."""

    text: str
    score: float
    box: tuple[float, float, float, float]


def thin_text(text: str) -> bool:
    """Whether a page's text layer is too thin to be the page's content (empty, or only a header/stamp)."""
    return len(_WORD.findall(text)) < THIN_WORDS


# --- the parent side -----------------------------------------------------------------------------


def ocr_pages(
    path: Path,
    kind: str,
    pages: list[Page] | None,
    *,
    timeout_s: float,
    page_timeout_s: float,
    memory_mb: int,
    progress: ProgressFn | None = None,
) -> list[Page]:
    """Replace the thin pages of `pages` with their OCR text (pages None: read every page); OCR'd pages get `ocr=True`.

    Raises ParseFailure when the child fails, runs out of time or memory, or reads no text at all.
    """
    if pages is None:
        wanted: list[int] | None = None
        total_guess = 0
    else:
        wanted = [p.number for p in pages if thin_text(p.text)]
        if not wanted:
            return pages
        total_guess = len(wanted)
    args = ["--kind", kind]
    if wanted is not None:
        args += ["--pages", ",".join(map(str, wanted))]
        # A page the loader saw must still be checked for a scan image; an unreadable PDF reads everything.
    else:
        args += ["--all"]
    args.append(str(path))
    read: dict[int, str] = {}
    count = 0
    for event in _ocr_events(args, timeout_s, page_timeout_s, memory_mb, total_guess):
        if event.get("event") == "error":
            raise ParseFailure(str(event.get("code", "ocr")), str(event.get("message", "OCR failed on this file.")))
        if event.get("event") == "page":
            count = int(event["total"])
            if event.get("text") is not None:
                read[int(event["number"])] = str(event["text"])
            if progress is not None:
                progress(int(event["done"]), count)
    if pages is None:
        out = [Page(n, read.get(n, ""), ocr=n in read) for n in range(1, count + 1)]
    else:
        out = [Page(p.number, read[p.number], ocr=True) if read.get(p.number, "").strip() else p for p in pages]
    if not any(p.text.strip() for p in out):
        raise ParseFailure(
            "no_text",
            "No text found: the file has no text layer and OCR read no text on its pages. Check that it is the right "
            "file and that the scan is legible.",
        )
    return out


def _ocr_events(
    args: list[str], timeout_s: float, page_timeout_s: float, memory_mb: int, total_guess: int
) -> Iterator[dict[str, Any]]:
    """Run the OCR child, yielding its JSON events; the deadline grows by `page_timeout_s` per page it announces."""
    with tempfile.TemporaryFile() as errors:
        proc = start_child("core.library.parsing.ocr", args, memory_mb, stderr=errors)
        lines: queue.Queue[bytes | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                lines.put(raw)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout_s + page_timeout_s * max(total_guess, 1)
        finished = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ParseFailure(
                        "timeout",
                        f"OCR took longer than allowed ({timeout_s:g} s plus {page_timeout_s:g} s per page) and was "
                        "stopped: the scan may be very large; split it, or raise DOMAINCHAT_OCR_PAGE_TIMEOUT_S.",
                    )
                try:
                    raw = lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if raw is None:
                    break
                try:
                    event = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    continue
                if event.get("event") == "start":
                    deadline = time.monotonic() + timeout_s + page_timeout_s * max(int(event.get("total", 1)), 1)
                if event.get("event") == "done":
                    finished = True
                yield event
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if not finished:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-1:] or [
                f"exit status {proc.returncode}"
            ]
            if "MemoryError" in tail[0] or "bad_alloc" in tail[0] or proc.returncode in (-9, 137):
                raise ParseFailure(
                    "memory",
                    f"OCR needed more than {memory_mb} MB of memory and was stopped: split the scan, or raise "
                    "DOMAINCHAT_OCR_MEMORY_MB.",
                )
            raise ParseFailure(
                "crash",
                f"OCR crashed on this file ({tail[0][:200]}): the file may be damaged; re-export it and upload again.",
            )


# --- the child side (and the page view) ----------------------------------------------------------

_engine_lock = threading.Lock()
_engine: Any = None


def _ocr_engine() -> Any:
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            _engine = RapidOCR()
        return _engine


def recognise(image: Any) -> list[OcrLine]:
    """The lines RapidOCR reads on a PIL image, in reading order (top to bottom, left to right)."""
    import numpy as np

    image = _fit(image.convert("RGB"))
    width, height = image.size
    result, _ = _ocr_engine()(np.asarray(image))
    found: list[OcrLine] = []
    for box, text, score in result or []:
        if float(score) < MIN_SCORE or not str(text).strip():
            continue
        xs, ys = [float(p[0]) for p in box], [float(p[1]) for p in box]
        found.append(
            OcrLine(
                str(text).strip(), float(score), (min(xs) / width, min(ys) / height, max(xs) / width, max(ys) / height)
            )
        )
    return _reading_order(found)


def lines_to_text(lines: Sequence[OcrLine]) -> str:
    """Join recognised lines into page text: boxes on one row become one line, a wide vertical gap a paragraph break."""
    if not lines:
        return ""
    heights = sorted(line.box[3] - line.box[1] for line in lines)
    typical = heights[len(heights) // 2]
    rows: list[list[OcrLine]] = []
    for line in lines:
        if rows and abs(_middle(rows[-1][-1]) - _middle(line)) < typical / 2:
            rows[-1].append(line)
        else:
            rows.append([line])
    out: list[str] = []
    for i, row in enumerate(rows):
        if i and row[0].box[1] - rows[i - 1][0].box[3] > typical * 1.2:
            out.append("")
        out.append(" ".join(part.text for part in sorted(row, key=lambda item: item.box[0])))
    return "\n".join(out)


def _middle(line: OcrLine) -> float:
    return (line.box[1] + line.box[3]) / 2


def _reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    ordered = sorted(lines, key=lambda item: (_middle(item), item.box[0]))
    return ordered


def _fit(image: Any) -> Any:
    longest = max(image.size)
    if longest <= OCR_MAX_SIDE:
        return image
    scale = OCR_MAX_SIDE / longest
    return image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))))


def render_pdf_page(pdf: Any, number: int, max_side: int = OCR_MAX_SIDE) -> Any:
    """Page `number` (1-based) of an open pypdfium2 document as a PIL image whose long side is about `max_side`
    pixels."""
    page = pdf[number - 1]
    width, height = page.get_size()
    return page.render(scale=max_side / max(width, height, 1)).to_pil()


def image_coverage(page: Any) -> float:
    """The share of a pypdfium2 page covered by its largest image (images inside forms too)."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    area = max(width * height, 1.0)
    best = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        best = max(best, max(right - left, 0) * max(top - bottom, 0) / area)
    return min(best, 1.0)


def open_image_frames(path: Path) -> list[Any]:
    """The frames of an image file (a TIFF may hold many pages) as PIL images; refuses decompression bombs."""
    import warnings

    from PIL import Image, ImageSequence

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            return [_fit(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _child(path: Path, kind: str, pages: list[int] | None) -> None:
    if kind == "image":
        try:
            frames = open_image_frames(path)
        except (
            Exception
        ) as exc:  # PIL raises many types (UnidentifiedImageError, OSError, DecompressionBombError…) on hostile images
            _emit(
                {
                    "event": "error",
                    "code": "corrupt",
                    "message": (
                        f"The image cannot be read ({type(exc).__name__}): re-save it as PNG or JPEG and upload again."
                    ),
                }
            )
            return
        _emit({"event": "start", "total": len(frames)})
        for i, frame in enumerate(frames, 1):
            _emit(
                {"event": "page", "number": i, "done": i, "total": len(frames), "text": lines_to_text(recognise(frame))}
            )
        return
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        _emit(
            {
                "event": "error",
                "code": "corrupt",
                "message": f"The PDF cannot be rendered for OCR ({exc}): re-export it and upload again.",
            }
        )
        return
    try:
        numbers = pages if pages is not None else list(range(1, len(pdf) + 1))
        numbers = [n for n in numbers if 1 <= n <= len(pdf)]
        _emit({"event": "start", "total": len(numbers)})
        for i, number in enumerate(numbers, 1):
            text = None
            # Pages the loader read are OCR'd only when an image dominates them (a scan under a stamped header);
            # a short page of real text (a title page) is left as it is.
            if pages is None or image_coverage(pdf[number - 1]) >= LARGE_IMAGE:
                text = lines_to_text(recognise(render_pdf_page(pdf, number)))
            _emit({"event": "page", "number": number, "done": i, "total": len(numbers), "text": text})
    finally:
        pdf.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the OCR child process."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--kind", required=True, choices=("pdf", "image"))
    args.add_argument("--pages", default="", help="comma-separated 1-based page numbers to consider (PDF)")
    args.add_argument("--all", action="store_true", help="OCR every page (a PDF with no text layer at all)")
    args.add_argument("path", type=Path)
    ns = args.parse_args(argv)
    pages = None if ns.all or ns.kind == "image" else [int(n) for n in ns.pages.split(",") if n.strip()]
    try:
        _child(ns.path, ns.kind, pages)
    except MemoryError:
        _emit(
            {
                "event": "error",
                "code": "memory",
                "message": "OCR needed more memory than allowed: split the scan, or raise DOMAINCHAT_OCR_MEMORY_MB.",
            }
        )
        return 0
    _emit({"event": "done"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
