"""Filled-in PDF form fields are read with the page: what was typed or ticked is indexed and found."""

from __future__ import annotations

from pathlib import Path

from core.library.parsing.loaders import load
from core.library.parsing.pdf_forms import HEADING
from core.library.service import UploadedFile
from core.services import Services
from tests.helpers import fixtures_docs as fx


def _pages(tmp_path: Path, data: bytes) -> list[str]:
    path = tmp_path / "form.pdf"
    path.write_bytes(data)
    return [p.text for p in load(path, "pdf")]


def test_typed_entries_and_ticked_boxes_are_read_with_their_labels(tmp_path: Path) -> None:
    [text] = _pages(tmp_path, fx.filled_form_pdf())
    assert "Travel insurance claim form" in text  # the printed text comes first, as before
    fields = text.split(HEADING, 1)[1].strip().splitlines()
    assert fields == [
        "Policy number: PX-20931-7",
        "Name of the policy holder: Amara Lindqvist",
        "Hospital stay: yes (ticked)",
    ]


def test_a_blank_form_reads_as_its_printed_text_alone(tmp_path: Path) -> None:
    [text] = _pages(tmp_path, fx.filled_form_pdf(policy="", holder="", ticked=False))
    assert "Travel insurance claim form" in text and HEADING not in text


def test_a_question_about_a_typed_entry_finds_the_passage_that_holds_it(services: Services) -> None:
    [result] = services.library.ingest("claims", [UploadedFile("claim.pdf", fx.filled_form_pdf())])
    assert result.status == "indexed", result.reason
    found = services.retriever.search("claims", "What is the policy number?", 1, "fused")
    assert "Policy number: PX-20931-7" in found.chunks[0].text and found.chunks[0].page == 1


def test_a_field_that_is_its_own_parent_still_leaves_the_page_and_other_fields_readable(tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(fx.filled_form_pdf())))
    first = writer.pages[0]["/Annots"][0]
    first.get_object()[NameObject("/Parent")] = first  # a loop: parent of itself
    out = io.BytesIO()
    writer.write(out)
    [text] = _pages(tmp_path, out.getvalue())
    assert "Travel insurance claim form" in text
    assert "Name of the policy holder: Amara Lindqvist" in text


def test_questions_on_a_filled_form_are_answered_from_its_fields_and_an_unrelated_one_is_not(
    services: Services,
) -> None:
    from core.chat.prompts import NOT_FOUND
    from core.chat.service import Question

    services.library.ingest("claims", [UploadedFile("claim.pdf", fx.filled_form_pdf())])
    engine = services.chat.engines.resolve("embedded")

    def ask(text: str):
        stream = services.chat.ask(
            Question(
                text=text,
                mode="rag",
                collection="claims",
                base_model=engine.default_model,
                top_k=3,
                temperature=0.0,
                retrieval="fused",
                max_tokens=32,
            ),
            engine,
        )
        "".join(stream)
        return stream.answer

    number = ask("What is the policy number?")
    assert number.text.startswith("PX-20931-7") and number.cited == [1]
    # the page of labels is below the similarity threshold for this one, but holds both its words
    holder = ask("Who is the policy holder?")
    assert "Amara Lindqvist" in holder.text and holder.cited == [1]
    unrelated = ask("What is the capital city of Australia?")
    assert unrelated.text.startswith(NOT_FOUND) and unrelated.timings.get("tokens", 0) == 0


def test_a_dynamic_xfa_form_is_rejected_with_how_to_make_it_readable(services: Services) -> None:
    [xfa] = services.library.ingest("claims", [UploadedFile("i-130.pdf", fx.xfa_form_pdf())])
    assert xfa.status == "rejected" and "XFA" in xfa.reason and "print it to PDF" in xfa.reason
    assert services.store.count("claims") == 0  # the placeholder was not indexed
    # the same words in an ordinary PDF (no XFA form behind them) are its text, and are indexed
    [plain] = services.library.ingest("claims", [UploadedFile("about-viewers.pdf", fx.xfa_form_pdf(with_xfa=False))])
    assert plain.status == "indexed", plain.reason
