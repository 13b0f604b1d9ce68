"""The document-update test from the Evaluate page (AppTest, real engine and index), then seen as evidence by the
Advisor."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


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

    app.switch_page("pages/advisor.py").run()
    assert not app.exception
    assert not any("No document-update test" in i.value for i in app.info)
    assert any(e.label.startswith("The document-update test") for e in app.expander)
