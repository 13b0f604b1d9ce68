"""The Advisor page with the team's volume: the cost table, the chart of monthly hours, the moves worked out from
the hours, and the report in Markdown and HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/advisor.py").run()
    assert not at.exception
    return at


def test_entering_a_volume_shows_the_cost_table_and_the_chart(app: AppTest) -> None:
    costs = "What each approach costs you per month"
    assert costs not in [h.value for h in app.subheader]  # no volume, no table
    app.number_input(key="adv_per_day").set_value(5000).run()
    # half a volume says what else to give
    assert any("give the questions per day, the number of documents" in i.value for i in app.info)
    app.number_input(key="adv_documents").set_value(40)
    app.number_input(key="adv_size").set_value(2.0)
    app.select_slider(key="adv_changes").set_value("weekly")
    app.run()
    assert not app.exception
    assert costs in [h.value for h in app.subheader]
    table = next(d.value for d in app.dataframe if "figure" in d.value.columns)
    assert list(table.columns) == ["figure", "RAG", "Fine-tuning", "Hybrid"]
    rows = table.set_index("figure")
    # nothing was measured in this fresh data directory: every figure is an estimate and says so
    assert rows.loc["answering, hours a month", "RAG"] == "21.7 h (est.)"
    assert rows.loc["keeping the variant current, hours a month", "Fine-tuning"] == "30.6 h (est.)"
    assert rows.loc["keeping the variant current, hours a month", "RAG"] == "—"  # RAG trains no variant
    # the chart stacks each approach's monthly hours by kind
    spec = json.loads(app.get("vega_lite_chart")[-1].proto.spec)
    assert spec["encoding"]["color"]["field"] == "kind"
    # the budget answer (medium) is now weighed in these hours, and says so
    moves = app.table[0].value.set_index("input")
    assert moves.loc["budget (criterion)", "why"].startswith("From your volume's costs: RAG 21.7 h")
    labels = [b.proto.label for b in app.get("download_button")]
    assert any("Markdown" in label for label in labels) and any("HTML" in label for label in labels)
