"""Benchmark: OCR seconds per scanned page, how much of the text it reads, and retrieval on the scan.

The sample dishwasher manual (8 pages) is rasterised at 200 dpi and wrapped back into a PDF with a stamped
header line per page, like a scanned court filing; it is indexed with OCR next to the original text PDF.
Run: `.venv/bin/python -m benchmarks.ocr` (temporary data directory; needs reportlab from requirements-dev.txt).
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

from core.config import Settings
from core.library.parsing.loaders import load
from core.library.service import Progress, UploadedFile
from core.services import build_services

ROOT = Path(__file__).resolve().parents[1]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
QUESTIONS = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.questions.jsonl"
DPI = 200


def scanned_copy(pdf_path: Path, dpi: int = DPI) -> bytes:
    """`pdf_path` as a scan: each page an image at `dpi`, under a one-line stamped header (the only text layer)."""
    import pypdfium2 as pdfium
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    source = pdfium.PdfDocument(str(pdf_path))
    buffer = io.BytesIO()
    doc = canvas.Canvas(buffer, invariant=1)
    for n, page in enumerate(source, 1):
        width, height = page.get_size()
        image = page.render(scale=dpi / 72, grayscale=True).to_pil()
        png = io.BytesIO()
        image.save(png, format="PNG")
        doc.setPageSize((width, height))
        doc.drawImage(ImageReader(io.BytesIO(png.getvalue())), 0, 0, width, height)
        doc.setFont("Helvetica", 8)
        doc.drawString(36, height - 20, f"Case 1:23-cv-04567 Document 12 Filed 03/02/24 Page {n} of {len(source)}")
        doc.showPage()
    doc.save()
    source.close()
    return buffer.getvalue()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def per_page_cost(scan: bytes, pages: int) -> list[tuple[float, float]]:
    """(wall s, CPU s) of rendering and reading each of the first `pages` pages in this process, the engine already
    loaded.

    CPU seconds say what a page costs even when other work shares the machine (wall time then mostly measures waiting).
    """
    import pypdfium2 as pdfium

    from core.library.parsing.ocr import recognise, render_pdf_page

    pdf = pdfium.PdfDocument(scan)
    recognise(render_pdf_page(pdf, 1))  # load the models outside the timing
    out = []
    for number in range(1, min(pages, len(pdf)) + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        recognise(render_pdf_page(pdf, number))
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    pdf.close()
    return out


def main() -> None:
    """Print OCR s/page, word recall against the text layer, and hit@3 on the scan against the text PDF."""
    scan = scanned_copy(MANUAL)
    costs = per_page_cost(scan, int(os.environ.get("OCR_BENCH_PAGES", "4")))
    print(
        f"per page (in process, models loaded): wall {sum(w for w, _ in costs) / len(costs):.2f} s, "
        f"CPU {sum(c for _, c in costs) / len(costs):.2f} s over {len(costs)} pages; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        # A generous per-page limit: this measures speed, it does not enforce one.
        svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=Path(tmp), ocr_page_timeout_s=600.0))
        svc.embedder.embed(["warm-up"])
        svc.library.ingest("text", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
        stamps: list[float] = []

        def on_progress(event: Progress) -> None:
            if event.stage == "ocr":
                stamps.append(time.perf_counter())

        started = time.perf_counter()
        [result] = svc.library.ingest("scan", [UploadedFile(MANUAL.name, scan)], progress=on_progress)
        total_s = time.perf_counter() - started
        assert result.status == "indexed", result.reason
        per_page = [b - a for a, b in zip(stamps, stamps[1:])]
        print(
            f"machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} at the end (other work on the machine slows every figure)"
        )
        print(
            f"scan: {result.pages} pages at {DPI} dpi, {result.ocr_pages} read by OCR, {result.chunks} chunks; ingest "
            f"{total_s:.1f} s in all"
        )
        print(
            f"OCR: first page {stamps[0] - started:.1f} s after the start (child start, model load, parse), "
            f"then {sum(per_page) / len(per_page):.2f} s/page (min {min(per_page):.2f}, max {max(per_page):.2f})"
        )
        truth = _words(" ".join(p.text for p in load(MANUAL, "pdf")))
        read = set(_words(" ".join(c.text for c in svc.store.all_chunks("scan"))))
        print(
            f"word recall: {sum(w in read for w in truth) / len(truth):.1%} of the text layer's words appear in the "
            "OCR text"
        )
        for name in ("text", "scan"):
            hits = sum(
                any(c.page == q["page"] for c in svc.retriever.search(name, q["question"], 3, "fused").chunks)
                for q in questions
            )
            print(f"retrieval hit@3 on the {name} PDF: {hits}/{len(questions)}")
        svc.close()


if __name__ == "__main__":
    main()
