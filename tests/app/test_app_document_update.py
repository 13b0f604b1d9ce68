"""The document-update test from the Evaluate page (AppTest, real engine and index), then seen as evidence by the
Advisor; it runs in a test collection of its own and leaves the user's collections as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation.document_update import MISSED_REASONS, results_dir
from tests.helpers.update_result import saved_hand_result

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"  # the sample pair's old version


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.switch_page("pages/evaluate.py")
    return at.run()


def test_running_the_update_test_on_the_sample_pair_shows_the_figures_and_feeds_the_advisor(app: AppTest) -> None:
    assert not app.exception, app.exception
    assert any("No update test has run yet" in c.value for c in app.caption)
    app.pills(key="ut_arms").set_value(["base", "finetuned"])  # base is the quickest arm; finetuned has no variant here
    app.checkbox(key="ut_probe").uncheck()  # no training probe in this test (tests/finetune covers it)
    app.run()
    next(b for b in app.button if b.label == "Run the update test").click().run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    labels = {m.label: m.value for m in app.metric}
    assert labels["Index the change"].endswith(" s") and float(labels["Index the change"][:-2]) > 0
    assert labels["Re-train the variant (estimate)"] == "unknown"  # no variant, no training run, no probe
    table = app.table[0].value.set_index("mode")
    assert list(table.index) == ["base"] and table.loc["base", "after: new figure"].endswith("/6")
    assert any("Skipped finetuned" in c.value for c in app.caption)
    assert any("deleted when the run ended" in c.value for c in app.caption)

    app.switch_page("pages/advisor.py").run()
    assert not app.exception
    assert not any("No document-update test" in i.value for i in app.info)
    assert any(e.label.startswith("The document-update test") for e in app.expander)


def user_collections(app: AppTest) -> dict[str, int]:
    """Every collection the sidebar picker offers, with the chunk count the Documents page shows for it."""
    app.switch_page("pages/documents.py").run()
    sizes = {}
    for name in app.selectbox(key="collection").options:
        app.selectbox(key="collection").set_value(name).run()
        caption = next(c.value for c in app.caption if " chunks · embedded with " in c.value)
        sizes[name] = int(caption.split(" chunks")[0])
    return sizes


def test_the_update_test_leaves_the_users_collections_as_they_were(app: AppTest) -> None:
    # a new user's first hour: the manual the test starts from uploaded into a collection, and an empty collection
    app.switch_page("pages/documents.py").run()
    for name in ("manuals", "legal"):
        app.text_input(key="new_collection_name").input(name)
        next(b for b in app.button if b.label == "Create collection").click().run()
        if name == "manuals":
            app.get("file_uploader")[0].set_value([(MANUAL.name, MANUAL.read_bytes(), "application/pdf")]).run()
            next(b for b in app.button if b.label == "Index 1 file").click().run()
    before = user_collections(app)
    assert set(before) == {"manuals", "legal"} and before["manuals"] > 0 and before["legal"] == 0

    app.switch_page("pages/evaluate.py").run()
    app.pills(key="ut_arms").set_value(["base", "rag"])
    app.checkbox(key="ut_probe").uncheck()
    app.checkbox(key="ut_keep").check()  # kept, so there is a test collection that the pickers must not offer
    app.run()
    next(b for b in app.button if b.label == "Run the update test").click().run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    ran = next(c.value for c in app.caption if c.value.startswith("Ran in the test collection"))
    test_collection = ran.split()[5].rstrip(",").replace("\\", "")
    assert test_collection.startswith("update-test-") and "kept" in ran
    assert sorted(app.selectbox(key="collection").options) == sorted(before)

    assert user_collections(app) == before
    (listed,) = [e for e in app.expander if e.label == "Test collections (made by the document-update test)"]
    assert any(test_collection in m.value.replace("\\", "") and " chunks" in m.value for m in listed.markdown)
    next(b for b in listed.button if b.label == "Delete").click().run()
    next(b for b in app.button if b.label == "Delete test collection").click().run()
    assert not app.exception, app.exception
    assert not any(e.label.startswith("Test collections") for e in app.expander)  # none left: the section is gone
    assert user_collections(app) == before


def _save(app_data: Path, result: dict) -> None:
    folder = results_dir(app_data)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "update-20260901-120000.json").write_text(json.dumps(result), encoding="utf-8")


def test_a_saved_result_shows_each_modes_share_with_its_interval_and_why_rag_missed_the_change(
    app: AppTest, tmp_path: Path
) -> None:
    _save(tmp_path / "data", saved_hand_result())
    app.run()
    assert not app.exception, app.exception
    table = app.table[0].value.set_index("mode")
    assert table.loc["rag", "after: new figure"] == "1/4"
    assert table.loc["rag", "after: new figure, share (95% interval)"] == "25% (5–70%)"
    assert table.loc["base", "after: new figure, share (95% interval)"] == "0% (0–49%)"
    captions = [c.value.replace("\\", "") for c in app.caption]
    (rag,) = [c for c in captions if c.startswith("rag gave the new figure after the change: 1/4 · 25% (5–70%)")]
    assert "1 where the new passage was retrieved but the model gave the old figure (the reader, not the index)" in rag
    assert "1 where the new passage was not retrieved (the retriever, not the reader)" in rag
    (every,) = [e for e in app.expander if e.label == "Every answer, before and after"]
    answers = every.dataframe[0].value.set_index(["mode", "question"])
    assert (
        answers.loc[("rag", "How many place settings does it hold?"), "why not the new figure"]
        == (MISSED_REASONS["not_retrieved"])
    )
    assert answers.loc[("base", "How many place settings does it hold?"), "why not the new figure"] == ""


def test_a_result_saved_before_retrieval_was_recorded_shows_the_reasons_as_unknown(
    app: AppTest, tmp_path: Path
) -> None:
    old = saved_hand_result()
    for row in old["questions"]:
        for answer in row["after"].values():
            answer.pop("contains_new"), answer.pop("why_missed", None)
    for phases in old["summary"].values():
        phases["after"].pop("new_ci"), phases["after"].pop("missed", None)
    _save(tmp_path / "data", old)
    app.run()
    assert not app.exception, app.exception
    assert app.table[0].value.set_index("mode").loc["rag", "after: new figure, share (95% interval)"] == "25% (5–70%)"
    assert any("3 where unknown: this result was saved before" in c.value.replace("\\", "") for c in app.caption)
