"""A training job reads on the Fine-tune page as what the job process itself reports: running while it runs.

A real training job (the bundled model, a few hundred steps so it is still running when looked at) is started from
the page; once its own status file says "running", the page is drawn again and must say "running since …" in the job
list and "running" in the panel, never "queued"; after Cancel it reads "cancelled" with its times.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.finetune import dataset as ds
from core.finetune import jobs
from core.finetune.qa_import import split_imported

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [
    ("What is the rinse aid setting for soft water?", "Setting 2"),
    ("Which error code means the drain is blocked?", "E4"),
    ("How long is the Eco 50 programme?", "2 h 45 min"),
    ("What is the warranty period?", "24 months"),
    ("How often should the filters be cleaned?", "Once a week"),
]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    data = tmp_path / "data"
    pairs = [ds.QAPair(q, a, source=f"doc{i % 2}.pdf", page=1) for i, (q, a) in enumerate(PAIRS)]
    ds.save_training_set(data, "manuals", split_imported(pairs, ds.DatasetOptions(new_fraction=0.2, seen_questions=2)))
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/finetune.py")
    return at.run()


def job_list_entry(app: AppTest) -> str:
    (picker,) = [s for s in app.selectbox if s.label == "Job"]
    return str(picker.options[picker.index or 0])


def test_a_running_training_job_reads_running_on_the_page_then_cancelled(app: AppTest, tmp_path: Path) -> None:
    data = tmp_path / "data"
    {n.label: n for n in app.number_input}["Stop after steps (0: all)"].set_value(500)
    next(b for b in app.button if b.label == "Start training").click().run()
    assert not app.exception, app.exception
    (job,) = jobs.list_jobs(data)
    deadline = time.monotonic() + 300  # the first run converts the bundled GGUF for training
    while jobs.job_status(data, job.job_id).state != "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert jobs.job_status(data, job.job_id).state == "running"

    app.run()
    assert not app.exception, app.exception
    entry = job_list_entry(app)
    assert f"{job.job_id} · running since " in entry and "queued" not in entry, entry
    assert {m.label: m.value for m in app.metric}["State"] == "running"

    next(b for b in app.button if b.label == "Cancel job").click().run()
    assert jobs.wait_job(data, job.job_id, timeout_s=60).state == "cancelled"
    app.run()
    entry = job_list_entry(app)
    assert f"{job.job_id} · cancelled " in entry and "running" not in entry, entry
    assert {m.label: m.value for m in app.metric}["State"] == "cancelled"
