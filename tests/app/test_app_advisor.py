"""The Advisor page driven through AppTest: the five answers and what a wrong answer costs change the advice; missing
runs and the report are shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.advisor.test_wrong_answers_costly import write_confident_run

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


def _headline(at: AppTest) -> str:
    return next(s.value for s in at.success if s.value.startswith("### "))


def test_the_answers_move_the_recommendation(app: AppTest) -> None:
    # defaults: application engineers, monthly changes, medium budget, CPU, no labelled data
    assert _headline(app).startswith("### RAG")
    app.radio(key="adv_skills").set_value("nlp_dl")
    app.select_slider(key="adv_changes").set_value("static")
    app.radio(key="adv_hardware").set_value("gpu")
    app.number_input(key="adv_pairs").set_value(5000)
    app.checkbox(key="adv_strict").check()
    app.run()
    app.number_input(key="adv_limit").set_value(0.5).run()
    assert not app.exception
    assert _headline(app).startswith("### Fine-tuning")
    moves = app.table[0].value.set_index("input")
    assert (
        moves.loc["data changes (criterion)", "fine-tuning"] == "+2"
        and moves.loc["response time (criterion)", "fine-tuning"] == "+2"
    )
    assert moves.loc["data changes (criterion)", "RAG"] == ""


def test_without_runs_it_says_which_are_missing_and_offers_the_report(app: AppTest) -> None:
    missing = next(i.value for i in app.info if "Missing evidence" in i.value)
    assert "No scored grid run" in missing and "update-test" in missing
    assert "answers alone" in _headline(app)
    download = app.get("download_button")[0]
    assert "report" in download.proto.label.lower()


def test_a_costly_wrong_answer_weighs_the_answers_each_approach_was_sure_of(app: AppTest, tmp_path: Path) -> None:
    write_confident_run(tmp_path / "data")
    control = app.radio(key="adv_wrong_costly")
    assert control.value is False and "Little (a user re-asks)" in control.options
    assert "accuracy of the answers each approach was sure of" in control.help
    # rag 2, hybrid 2, fine-tuning 1 from these answers: RAG by the tie-break, and correctness is level
    app.radio(key="adv_skills").set_value("mixed")
    app.radio(key="adv_hardware").set_value("gpu")
    app.number_input(key="adv_pairs").set_value(500)
    app.run()
    assert _headline(app).startswith("### RAG")
    assert "accuracy of the answers it was sure of (measurement)" not in app.table[0].value.set_index("input").index
    control.set_value(True).run()
    assert not app.exception
    assert _headline(app).startswith("### Hybrid")
    moves = app.table[0].value.set_index("input")
    row = moves.loc["accuracy of the answers it was sure of (measurement)"]
    assert row["hybrid"] == "+2" and "hybrid was right 56 of 60 (93%, 84–97%)" in row["why"]
