"""Render one PDF page (or one scanned image) to PNG with a passage highlighted, in a child process.

The page is drawn by pdfium into pixels, so nothing of the document (scripts, forms, links) reaches the
browser; like parsing, this runs in a child under the parser's limits, because a hostile PDF can crash
or hang a C renderer. The passage is found in pdfium's own text of the page (whitespace and punctuation
ignored, since pypdf extracted the indexed text); on a page whose text was read by OCR, the lines OCR
reads on the rendered page are matched instead.
Run as `python -m core.library.parsing.pageimage --kind pdf|image --page N --passage-file F --out OUT.png PATH`;
it prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from core.library.parsing.ocr import open_image_frames, recognise, render_pdf_page

VIEW_MAX_SIDE = 1400  # pixels on the long side of the page shown on screen
HIGHLIGHT = (255, 213, 0, 110)  # translucent yellow, like a marker
WINDOW_WORDS = 6  # a passage not found whole is matched in pieces of this many words
_ALNUM = re.compile(r"[^\W_]+")


def compact(text: str) -> tuple[str, list[int]]:
    """`text` lower-cased with everything but letters and digits removed, and for each kept character its index in
    `text`."""
    kept: list[str] = []
    where: list[int] = []
    for match in _ALNUM.finditer(text):
        for offset, ch in enumerate(match.group(0).lower()):
            kept.append(ch)
            where.append(match.start() + offset)
    return "".join(kept), where


def locate(page_text: str, passage: str) -> list[tuple[int, int]]:
    """Character ranges [start, end) of `page_text` that hold `passage`, ignoring whitespace, punctuation and case.

    The whole passage when it is found as one piece; else every window of a few words that is found, in order.
    """
    haystack, where = compact(page_text)
    needle, _ = compact(passage)
    if not needle or not haystack:
        return []
    found = haystack.find(needle)
    if found != -1:
        end = where[found + len(needle) - 1] + 1
        # take the passage's closing punctuation too ("… is blocked." rather than "… is blocked")
        for ch in passage.rstrip()[len(passage.rstrip().rstrip(".,;:!?)]\"'")) :]:
            if end < len(page_text) and page_text[end] == ch:
                end += 1
        return [(where[found], end)]
    words = [w.lower() for w in _ALNUM.findall(passage)]
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i in range(0, len(words), WINDOW_WORDS):
        piece = "".join(words[i : i + WINDOW_WORDS])
        if len(piece) < 8:
            continue
        hit = haystack.find(piece, cursor)
        if hit == -1:
            continue
        spans.append((where[hit], where[hit + len(piece) - 1] + 1))
        cursor = hit + len(piece)
    return _merge(spans)


def _merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + 3:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def _pdf_boxes(page: Any, passage: str, scale: float, height_pt: float) -> list[tuple[float, float, float, float]]:
    """Pixel boxes (x0, y0, x1, y1) of the passage in a page's text layer."""
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        boxes = []
        for start, end in locate(text, passage):
            for i in range(textpage.count_rects(start, end - start)):
                left, bottom, right, top = textpage.get_rect(i)
                boxes.append((left * scale, (height_pt - top) * scale, right * scale, (height_pt - bottom) * scale))
        return boxes
    finally:
        textpage.close()


def _ocr_boxes(image: Any, passage: str, view_size: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """Boxes, in pixels of a view of `view_size`, of the OCR lines of `image` that belong to the passage.

    `image` must be exactly what indexing read (same rendering), so the lines read now are the text indexed then.
    """
    needle, _ = compact(passage)
    width, height = view_size
    boxes = []
    for line in recognise(image):
        piece, _ = compact(line.text)
        if len(piece) >= 4 and piece in needle:
            x0, y0, x1, y1 = line.box
            boxes.append((x0 * width, y0 * height, x1 * width, y1 * height))
    return boxes


def _draw(image: Any, boxes: Sequence[tuple[float, float, float, float]]) -> Any:
    from PIL import Image, ImageDraw

    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(layer)
    for x0, y0, x1, y1 in boxes:
        pen.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=HIGHLIGHT)
    return Image.alpha_composite(base, layer).convert("RGB")


def render(path: Path, kind: str, number: int, passage: str, ocr: bool, out: Path) -> dict[str, Any]:
    """Render page `number` of the file at `path` to PNG at `out`, the passage highlighted; returns what was done."""
    if kind == "image":
        frames = open_image_frames(path)
        if not 1 <= number <= len(frames):
            return {
                "ok": False,
                "code": "page",
                "message": f"The image has {len(frames)} page(s), not a page {number}.",
            }
        read = frames[number - 1]
        scale = VIEW_MAX_SIDE / max(read.size)
        image = read.resize((round(read.size[0] * scale), round(read.size[1] * scale))) if scale < 1 else read
        boxes = _ocr_boxes(read, passage, image.size) if passage else []
        pages = len(frames)
    else:
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            if not ocr:
                # Draw what was typed into form fields: their values are indexed (core/documents/pdf_forms.py), and a
                # page shown without them would look blank where the answer came from. (Before any page is loaded;
                # OCR'd pages are drawn exactly as indexing read them.)
                pdf.init_forms()
            pages = len(pdf)
            if not 1 <= number <= pages:
                return {
                    "ok": False,
                    "code": "page",
                    "message": f"The document has {pages} page(s), not a page {number}.",
                }
            page = pdf[number - 1]
            width_pt, height_pt = page.get_size()
            scale = VIEW_MAX_SIDE / max(width_pt, height_pt, 1)
            image = page.render(scale=scale).to_pil()
            boxes = []
            if passage and ocr:
                boxes = _ocr_boxes(render_pdf_page(pdf, number), passage, image.size)
            elif passage:
                boxes = _pdf_boxes(page, passage, scale, height_pt)
        finally:
            pdf.close()
    _draw(image, boxes).save(out, format="PNG", optimize=True)
    return {"ok": True, "pages": pages, "boxes": len(boxes), "width": image.size[0], "height": image.size[1]}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process."""
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--kind", required=True, choices=("pdf", "image"))
    args.add_argument("--page", type=int, required=True)
    args.add_argument("--passage-file", type=Path)
    args.add_argument(
        "--ocr", action="store_true", help="the page's text was read by OCR: match OCR lines, not the text layer"
    )
    args.add_argument("--out", type=Path, required=True)
    args.add_argument("path", type=Path)
    ns = args.parse_args(argv)
    passage = ns.passage_file.read_text(encoding="utf-8") if ns.passage_file else ""
    try:
        result = render(ns.path, ns.kind, ns.page, passage, ns.ocr, ns.out)
    except MemoryError:
        result = {
            "ok": False,
            "code": "memory",
            "message": "Rendering the page needed more memory than allowed: raise DOMAINCHAT_PARSE_MEMORY_MB.",
        }
    except (
        Exception
    ) as exc:  # pdfium and PIL raise many types on damaged files; the parent shows a message, never a traceback
        result = {
            "ok": False,
            "code": "corrupt",
            "message": (
                f"The page cannot be rendered ({type(exc).__name__}): the file may be damaged; download the original "
                "instead."
            ),
        }
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
