"""Documents made by the tests: PDFs with known text on known pages, DOCX, and broken files."""

from __future__ import annotations

import io

PAGE_TEXTS = [
    "Page one explains installation. The inlet hose must be tightened by hand.",
    "Page two lists error codes. Error E7 means the drain pump is blocked.",
    "Page three covers warranty. The warranty lasts 24 months from purchase.",
]


def pdf_bytes(pages: list[str] = PAGE_TEXTS) -> bytes:
    """A PDF with one text paragraph per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    doc = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for text in pages:
        doc.setFont("Helvetica", 11)
        y = 780
        for line in _wrap(text, 90):
            doc.drawString(60, y, line)
            y -= 14
        doc.showPage()
    doc.save()
    return buffer.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line]


def image_only_pdf() -> bytes:
    """A PDF whose page has only drawings: no text layer, like a scan."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    doc = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for i in range(2):
        doc.rect(50 + i * 10, 50, 400, 600, fill=1)
        doc.showPage()
    doc.save()
    return buffer.getvalue()


def encrypted_pdf(password: str = "s3cret") -> bytes:
    """A PDF that needs a password to open."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf_bytes())).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated_pdf() -> bytes:
    """The first third of a PDF: header present, body and xref gone."""
    data = pdf_bytes()
    return data[: len(data) // 3]


def docx_bytes(pages: list[str] = PAGE_TEXTS) -> bytes:
    """A DOCX with explicit page breaks between the given texts, and a table on the last page."""
    import docx

    document = docx.Document()
    for i, text in enumerate(pages):
        document.add_heading(f"Section {i + 1}", level=2)
        document.add_paragraph(text)
        if i < len(pages) - 1:
            document.add_page_break()
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Model", "Capacity"
    table.cell(1, 0).text, table.cell(1, 1).text = "DW-450", "14 place settings"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


ELF_BYTES = b"\x7fELF\x02\x01\x01\x00" + bytes(200)


def filled_form_pdf(policy: str = "PX-20931-7", holder: str = "Amara Lindqvist", ticked: bool = True) -> bytes:
    """A fillable claim form (reportlab AcroForm): printed labels, entries only in its fields."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    doc = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    doc.setFont("Helvetica", 11)
    doc.drawString(60, 800, "Travel insurance claim form. Complete every field in capital letters.")
    form = doc.acroForm
    for y, name, label, value in (
        (760, "policy", "Policy number", policy),
        (730, "holder", "Name of the policy holder", holder),
        (700, "flight", "Flight number", ""),
    ):
        doc.drawString(60, y + 4, label)
        form.textfield(name=name, tooltip=label, value=value, x=250, y=y, width=200, height=18)
    doc.drawString(60, 674, "Hospital stay")
    form.checkbox(name="hospital", tooltip="Hospital stay", checked=ticked, x=250, y=670, size=14)
    doc.drawString(60, 644, "Lost luggage")
    form.checkbox(name="luggage", tooltip="Lost luggage", checked=False, x=250, y=640, size=14)
    doc.showPage()
    doc.save()
    return buffer.getvalue()


XFA_PLACEHOLDER = (
    "Please wait... If this message is not eventually replaced by the proper contents of the document, your PDF "
    "viewer may not be able to display this type of document. You can upgrade to the latest version of Adobe Reader."
)


def xfa_form_pdf(with_xfa: bool = True) -> bytes:
    """A dynamic XFA form as such files come: the viewer placeholder on the page, the form itself in /AcroForm /XFA."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([XFA_PLACEHOLDER]))))
    if with_xfa:
        template = TextStringObject(
            '<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/"><subform name="claim"/></template>'
        )
        writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
            {
                NameObject("/Fields"): ArrayObject(),
                NameObject("/XFA"): ArrayObject([TextStringObject("template"), template]),
            }
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
