"""The Documents page offers to replace a document when a new version is uploaded, and has a Replace action."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import fixtures_docs as fx

ROOT = Path(__file__).resolve().parents[2]
V2 = [*fx.PAGE_TEXTS[:2], "Page three covers warranty. The warranty lasts 36 months from purchase."]
V3 = [*fx.PAGE_TEXTS[:2], "Page three covers warranty. The warranty lasts 48 months from purchase."]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/documents.py").run()
    at.text_input[0].input("manuals")
    at.button[0].click().run()
    at.get("file_uploader")[0].set_value([("manual.pdf", fx.pdf_bytes(), "application/pdf")]).run()
    next(b for b in at.button if b.label.startswith("Index 1 file")).click().run()
    assert not at.exception
    return at


def _table(at: AppTest):
    return at.dataframe[0].value.set_index("name")


def test_uploading_a_file_with_the_same_name_offers_to_replace_it(app: AppTest) -> None:
    app.get("file_uploader")[0].set_value([("manual.pdf", fx.pdf_bytes(V2), "application/pdf")]).run()
    (choice,) = [r for r in app.radio if "already in this collection" in r.label]
    assert choice.value.startswith("Replace") and "version 1" in choice.label
    next(b for b in app.button if b.label.startswith("Index 1 file")).click().run()
    assert not app.exception
    assert any("replaced by version 2" in s.value for s in app.success)
    table = _table(app)
    assert list(table.index) == ["manual.pdf"] and table.loc["manual.pdf", "version"] == 2


def test_keeping_both_adds_a_second_document(app: AppTest) -> None:
    app.get("file_uploader")[0].set_value([("manual.pdf", fx.pdf_bytes(V2), "application/pdf")]).run()
    next(r for r in app.radio if "already in this collection" in r.label).set_value(
        "Keep both as separate documents"
    ).run()
    next(b for b in app.button if b.label.startswith("Index 1 file")).click().run()
    assert not app.exception
    assert len(app.dataframe[0].value) == 2 and set(app.dataframe[0].value["version"]) == {1}


def test_the_replace_action_takes_any_file_name(app: AppTest) -> None:
    replace = next(b for b in app.button if b.label == "Replace")
    assert replace.disabled  # nothing chosen yet
    uploader = next(u for u in app.get("file_uploader") if u.label == "New version")
    uploader.set_value([("manual-2027.pdf", fx.pdf_bytes(V3), "application/pdf")]).run()
    next(b for b in app.button if b.label == "Replace").click().run()
    assert not app.exception
    assert any("manual\\.pdf" in s.value and "replaced by version 2" in s.value for s in app.success)
    table = _table(app)
    assert list(table.index) == ["manual.pdf"] and table.loc["manual.pdf", "version"] == 2
