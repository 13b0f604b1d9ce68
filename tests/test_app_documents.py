"""The Documents page driven through Streamlit's AppTest: create a collection, upload, see the table, delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import fixtures_docs as fx

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    return at.run()


def test_upload_see_table_and_delete(app: AppTest) -> None:
    assert not app.exception
    assert any("Start with a collection" in i.value for i in app.info)
    app.text_input[0].input("manuals")
    app.button[0].click().run()
    assert app.sidebar.selectbox[0].value == "manuals"

    uploader = app.get("file_uploader")[0]
    uploader.set_value([("manual.pdf", fx.pdf_bytes(), "application/pdf"), ("tool.pdf", fx.ELF_BYTES, "application/pdf")]).run()
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

    delete_box = app.multiselect[0]
    manual = next(o for o in delete_box.options if o.startswith("manual.pdf"))
    delete_box.select(manual).run()
    next(b for b in app.button if b.label.startswith("Delete 1 document")).click().run()
    assert set(app.dataframe[0].value["name"]) == {"tool.pdf"}


def test_deleting_a_collection_needs_its_name_typed(app: AppTest) -> None:
    app.text_input[0].input("legal")
    app.button[0].click().run()
    delete = next(b for b in app.button if b.label == "Delete collection")
    assert delete.disabled
    confirm = next(t for t in app.text_input if "to confirm" in t.label)
    confirm.input("legal").run()
    next(b for b in app.button if b.label == "Delete collection").click().run()
    assert not app.exception
    assert any("Start with a collection" in i.value for i in app.info)


def test_a_new_user_can_load_the_sample_documents(app: AppTest) -> None:
    next(b for b in app.button if b.label == "Load the sample documents").click().run()
    assert not app.exception
    assert app.session_state["collection"] == "samples"
    table = app.dataframe[0].value
    assert set(table["name"]) == {"aquaflow-dishwasher-manual.pdf", "software-license-agreement.docx", "diabetes-patient-guide.pdf"}
    assert set(table["status"]) == {"indexed"} and table["pages"].min() >= 7
