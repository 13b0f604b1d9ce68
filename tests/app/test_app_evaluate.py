"""The Evaluate page through AppTest: pick a sample question set, start a real background run, see the grid and
charts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.library.service import UploadedFile
from core.services import build_services

ROOT = Path(__file__).resolve().parents[2]
MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"


@pytest.fixture
def data_dir(tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: ANN001
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded"), embedder=embedder)
    try:
        svc.library.ingest("samples", [UploadedFile(MANUAL.name, MANUAL.read_bytes())])
    finally:
        svc.close()
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    return data


def open_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.switch_page("pages/evaluate.py")
    return at.run()


def test_empty_state_says_where_questions_come_from(data_dir: Path) -> None:
    at = open_page()
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs][:2] == ["New run", "Results"]
    assert any("No training set yet" in i.value for i in at.info)  # Fine-tune halves is the first choice
    assert any("No evaluation run yet" in i.value for i in at.info)
    assert next(b for b in at.button if b.label == "Start evaluation").disabled


@pytest.mark.slow
def test_a_sample_set_runs_in_the_background_and_shows_grid_and_charts(data_dir: Path) -> None:
    at = open_page()
    at.radio[0].set_value("Sample questions").run()
    assert at.selectbox(key="eval_set").value.ref == "sample:aquaflow-dishwasher-manual.questions.jsonl"
    at.number_input(key="eval_limit").set_value(2).run()
    assert at.session_state["eval_arms"] == ["base", "rag"]  # no variant yet: the fine-tuned arms are not preselected
    next(b for b in at.button if b.label == "Start evaluation").click().run()
    assert not at.exception, at.exception
    assert any("background" in s.value for s in at.success)
    run_id = at.session_state["eval_run"]
    status_file = data_dir / "evaluation" / "runs" / run_id / "status.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and '"done"' not in status_file.read_text():
        time.sleep(1)
    assert '"state": "done"' in status_file.read_text()
    at.run()
    assert not at.exception, at.exception
    assert any(s.value == "The grid" for s in at.subheader)
    grid = at.dataframe[0].value
    assert list(grid["mode"]) == ["base", "rag"] and list(grid["split"]) == [
        "all",
        "all",
    ]  # one split: no repeated rows
    # the metric chart, the latency chart, where the answers came from; and the reliability diagram when some mode
    # had both right and wrong answers to judge its confidence by
    summary = json.loads((status_file.parent / "summary.json").read_text())
    judged = any(f.get("auroc_n") for f in (summary.get("confidence") or {}).values())
    assert len(at.get("vega_lite_chart")) == 3 + judged
    # Readable numbers: shares as whole percentages with their count and their 95% interval, scores to two decimals,
    # times in seconds, "–" where a measure does not apply (no retrieval in base); never "None" or a fraction.
    cells = grid.drop(columns=["mode", "split", "questions"]).astype(str)
    assert not cells.isin(["None", "nan", ""]).any().any()
    correct = list(grid["correct answers"])
    assert all(re.fullmatch(r"\d+/2 · \d{1,3}% \(\d{1,3}–\d{1,3}%\)", c) for c in correct), correct
    # answers that never came, counted over every question of the mode ("0/2 · 0%" when each one answered)
    assert all(re.fullmatch(r"\d+/2 · \d{1,3}%", c) for c in grid["no answer given"]), list(grid["no answer given"])
    assert all(re.fullmatch(r"\d\.\d{2}|–", c) for c in grid["word overlap (F1)"])
    retrieval, refusals, speed = (at.dataframe[i].value for i in (1, 2, 3))
    assert retrieval.set_index("mode").loc["base", "right page retrieved"] == "–"
    assert all(re.fullmatch(r"\d+\.\d s|–", c) for c in speed["whole answer after (median)"])
    for table in (retrieval, refusals, speed):
        assert not table.astype(str).isin(["None", "nan", ""]).any().any()
    (headline,) = at.table
    assert list(headline.value["mode"]) == ["base", "rag"] and list(headline.value["all"]) == correct
    assert {b.label for b in at.get("download_button")} >= {"Rows (CSV)", "Run (JSON)"}
