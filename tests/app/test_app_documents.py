"""The Documents page driven through Streamlit's AppTest: create a collection, upload, see the table, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.proto.Dataframe_pb2 import Dataframe as DataframeProto
from streamlit.testing.v1 import AppTest

from tests.helpers import fixtures_docs as fx

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/documents.py")  # the start page opens first
    return at.run()


def test_upload_see_table_and_delete(app: AppTest) -> None:
    assert not app.exception
    assert any("Start with a collection" in i.value for i in app.info)
    app.text_input[0].input("manuals")
    app.button[0].click().run()
    assert app.sidebar.selectbox[0].value == "manuals"

    uploader = app.get("file_uploader")[0]
    uploader.set_value(
        [("manual.pdf", fx.pdf_bytes(), "application/pdf"), ("tool.pdf", fx.ELF_BYTES, "application/pdf")]
    ).run()
    index_button = next(b for b in app.button if b.label.startswith("Index 2 files"))
    index_button.click().run()
    assert not app.exception
    assert any("manual\\.pdf" in s.value and "3 pages" in s.value for s in app.success)
    assert any("tool\\.pdf" in e.value and "executable" in e.value for e in app.error)

    table = app.dataframe[0].value
    assert set(table["name"]) == {"manual.pdf", "tool.pdf"}
    assert table.set_index("name").loc["manual.pdf", "pages"] == 3

    # uploading the same file again says it is already indexed
    app.get("file_uploader")[0].set_value([("manual-again.pdf", fx.pdf_bytes(), "application/pdf")]).run()
    next(b for b in app.button if b.label.startswith("Index 1 file")).click().run()
    assert any("already indexed" in i.value for i in app.info)

    select_rows(app, "manuals", [list(app.dataframe[0].value["name"]).index("manual.pdf")])
    next(b for b in app.button if b.label == "Delete 1 document").click().run()
    assert set(app.dataframe[0].value["name"]) == {
        "manual.pdf",
        "tool.pdf",
    }  # nothing is deleted before the confirmation
    assert any("manual\\.pdf" in m.value and "cannot be undone" in m.value for m in app.markdown)
    next(b for b in app.button if b.label == "Delete").click().run()
    assert not app.exception
    assert set(app.dataframe[0].value["name"]) == {"tool.pdf"}


def select_rows(app: AppTest, collection: str, rows: list[int]) -> None:
    """Select table rows as the browser does: the dataframe's selection state, then a rerun."""
    table = app.dataframe[0]
    assert table.key and table.key.startswith(f"documents_table::{collection}::")
    app.session_state[table.key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    app.run()


def test_the_table_has_number_and_date_columns_so_sizes_sort_as_numbers(app: AppTest) -> None:
    app.text_input[0].input("manuals")
    app.button[0].click().run()
    small, large = fx.pdf_bytes(), fx.pdf_bytes(fx.PAGE_TEXTS * 12)
    app.get("file_uploader")[0].set_value(
        [("small.pdf", small, "application/pdf"), ("large.pdf", large, "application/pdf")]
    ).run()
    next(b for b in app.button if b.label.startswith("Index 2 files")).click().run()
    table = app.dataframe[0]
    frame = table.value
    assert str(frame["size"].dtype).startswith("int") and str(frame["indexed"].dtype).startswith("datetime64")
    assert frame.set_index("name").loc["large.pdf", "size"] == len(large) > len(small)
    config = json.loads(table.proto.columns)
    assert config["size"]["type_config"] == {"type": "number", "format": "bytes"}
    assert config["indexed"]["type_config"]["type"] == "datetime"
    assert table.proto.selection_mode == [DataframeProto.SelectionMode.MULTI_ROW]


def test_selected_rows_are_deleted_only_after_the_dialog_is_confirmed(app: AppTest) -> None:
    app.text_input[0].input("manuals")
    app.button[0].click().run()
    files = [
        (f"doc{i}.pdf", fx.pdf_bytes([f"Document {i}: {t}" for t in fx.PAGE_TEXTS]), "application/pdf")
        for i in range(3)
    ]
    app.get("file_uploader")[0].set_value(files).run()
    next(b for b in app.button if b.label.startswith("Index 3 files")).click().run()
    assert next(b for b in app.button if b.label == "Delete selected").disabled  # nothing selected yet

    names = list(app.dataframe[0].value["name"])
    select_rows(app, "manuals", [names.index("doc0.pdf"), names.index("doc2.pdf")])
    next(b for b in app.button if b.label == "Delete 2 documents").click().run()
    next(b for b in app.button if b.label == "Cancel").click().run()
    assert set(app.dataframe[0].value["name"]) == {"doc0.pdf", "doc1.pdf", "doc2.pdf"}  # cancelled: all still there
    assert not any(b.label == "Cancel" for b in app.button)  # and the dialog is closed

    next(b for b in app.button if b.label == "Delete 2 documents").click().run()
    next(b for b in app.button if b.label == "Delete").click().run()
    assert not app.exception
    assert set(app.dataframe[0].value["name"]) == {"doc1.pdf"}
    assert next(b for b in app.button if b.label == "Delete selected").disabled  # the selection went with the rows


def test_selected_rows_are_reindexed_from_their_originals(app: AppTest) -> None:
    app.text_input[0].input("manuals")
    app.button[0].click().run()
    app.get("file_uploader")[0].set_value(
        [("a.pdf", fx.pdf_bytes(), "application/pdf"), ("b.pdf", fx.pdf_bytes(fx.PAGE_TEXTS[:2]), "application/pdf")]
    ).run()
    next(b for b in app.button if b.label.startswith("Index 2 files")).click().run()
    before = app.dataframe[0].value.set_index("name")["indexed"]
    names = list(app.dataframe[0].value["name"])
    select_rows(app, "manuals", [names.index("b.pdf")])
    next(b for b in app.button if b.label == "Re-index 1 document").click().run()
    assert not app.exception
    reported = [s.value for s in app.success]
    assert (
        len(reported) == 1 and "b\\.pdf" in reported[0] and "indexed: 2 pages" in reported[0]
    )  # only the selected one
    after = app.dataframe[0].value.set_index("name")["indexed"]
    assert after["b.pdf"] > before["b.pdf"] and after["a.pdf"] == before["a.pdf"]
    assert set(app.dataframe[0].value["status"]) == {"indexed"}


def test_deleting_a_collection_needs_its_name_typed_in_the_dialog(app: AppTest) -> None:
    app.text_input[0].input("legal")
    app.button[0].click().run()
    next(b for b in app.button if b.label == "Delete collection").click().run()
    confirm = next(t for t in app.text_input if "to confirm" in t.label)
    assert app.button(key="confirm::delete_collection::yes").disabled
    confirm.input("legal").run()
    assert not app.button(key="confirm::delete_collection::yes").disabled
    app.button(key="confirm::delete_collection::yes").click().run()
    assert not app.exception
    assert any("Start with a collection" in i.value for i in app.info)


def test_a_new_user_can_load_the_sample_documents(app: AppTest) -> None:
    next(b for b in app.button if b.label == "Load the sample documents").click().run()
    assert not app.exception
    assert app.session_state["collection"] == "samples"
    table = app.dataframe[0].value
    assert set(table["name"]) == {
        "aquaflow-dishwasher-manual.pdf",
        "software-license-agreement.docx",
        "diabetes-patient-guide.pdf",
    }
    assert set(table["status"]) == {"indexed"} and table["pages"].min() >= 7


def test_a_rejected_file_shows_rejected_and_its_reason_never_an_indexed_date(app: AppTest) -> None:
    app.text_input[0].input("manuals")
    app.button[0].click().run()
    files = [
        ("good.pdf", fx.pdf_bytes(), "application/pdf"),
        ("program.pdf", b"\x7fELF\x02\x01" + bytes(100), "application/pdf"),  # an executable renamed .pdf
    ]
    app.get("file_uploader")[0].set_value(files).run()
    next(b for b in app.button if b.label.startswith("Index 2 files")).click().run()
    assert not app.exception
    rows = app.dataframe[0].value.set_index("name")
    assert rows.loc["program.pdf", "status"] == "rejected" and rows.loc["program.pdf", "reason"]
    assert rows.loc["program.pdf", "indexed"] is None or str(rows.loc["program.pdf", "indexed"]) == "NaT"
    assert rows.loc["good.pdf", "status"] == "indexed" and str(rows.loc["good.pdf", "indexed"]) != "NaT"
