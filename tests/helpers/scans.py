"""Scanned-like documents made by the tests: text drawn by reportlab, rasterised by pdfium, put back as an image.

Like a real scan, the page is a picture of text; like a court filing, a thin text line (a stamped header)
can sit on top of it, so a loader sees "some text" and must not take it for the page.
"""

from __future__ import annotations

import io

SCAN_PAGES = [
    "Order on the motion to dismiss. The court finds that the notice was served on 12 March.",
    "The drain filter must be rinsed under running water every fourteen days. Replace the seal yearly.",
]
STAMP = "Case 1:23-cv-04567 Document 45 Filed 03/02/24 Page {n} of {total}"


def _text_pdf(paragraphs: list[str]) -> bytes:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    doc = canvas.Canvas(buffer, pagesize=letter, invariant=1)
    for text in paragraphs:
        doc.setFont("Helvetica", 14)
        y = 640
        words, line = text.split(), ""
        for word in words:
            if len(line) + len(word) + 1 > 60:
                doc.drawString(72, y, line)
                y -= 22
                line = word
            else:
                line = f"{line} {word}".strip()
        doc.drawString(72, y, line)
        doc.showPage()
    doc.save()
    return buffer.getvalue()


def page_images(paragraphs: list[str] = SCAN_PAGES, dpi: int = 150) -> list[bytes]:
    """Each paragraph as a PNG picture of a printed page (grey, slightly soft, like a scanner's output)."""
    import pypdfium2 as pdfium
    from PIL import ImageFilter

    pdf = pdfium.PdfDocument(_text_pdf(paragraphs))
    out = []
    for page in pdf:
        image = page.render(scale=dpi / 72, grayscale=True).to_pil().filter(ImageFilter.GaussianBlur(0.6))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    pdf.close()
    return out


def scanned_pdf(paragraphs: list[str] = SCAN_PAGES, stamp: bool = True) -> bytes:
    """A PDF whose pages are images of text, each with a stamped header as its only text layer (if `stamp`)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    doc = canvas.Canvas(buffer, pagesize=letter, invariant=1)
    width, height = letter
    images = page_images(paragraphs)
    for n, png in enumerate(images, 1):
        doc.drawImage(ImageReader(io.BytesIO(png)), 0, 0, width, height)
        if stamp:
            doc.setFont("Helvetica", 8)
            doc.drawString(72, height - 30, STAMP.format(n=n, total=len(images)))
        doc.showPage()
    doc.save()
    return buffer.getvalue()


def mixed_pdf() -> bytes:
    """Page 1 real text, page 2 a scan under a stamp: only page 2 needs OCR."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    text = _text_pdf(["The dishwasher holds fourteen place settings. " * 6])
    scan = scanned_pdf(SCAN_PAGES[1:])
    writer.add_page(PdfReader(io.BytesIO(text)).pages[0])
    writer.add_page(PdfReader(io.BytesIO(scan)).pages[0])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def tiff_of_pages(paragraphs: list[str] = SCAN_PAGES) -> bytes:
    """A multi-page TIFF, one scanned page per frame."""
    from PIL import Image

    frames = [Image.open(io.BytesIO(png)) for png in page_images(paragraphs)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    return buffer.getvalue()
