"""The Fine-tune page through AppTest: a training set to review, a tiny job started, its progress seen, cancelled."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.runtime.media_file_storage import MediaFileKind
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.base.jobs import StatusWriter
from core.chat.safety import escape_markdown
from core.config import Settings
from core.engines.variants import VariantRegistry
from core.finetune import dataset as ds
from core.finetune import jobs
from core.finetune.qa_import import split_imported
from core.services import build_services
from tests.fakes.ollama_server import FakeModel, FakeOllamaServer
from ui.jobs_panel import LIVE_NOTE

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


def test_review_edit_and_download_the_training_set(app: AppTest, tmp_path: Path) -> None:
    assert not app.exception
    assert [t.label for t in app.tabs] == ["1 · Training set", "2 · Train", "3 · Variants"]
    assert app.selectbox(key="review_dataset").value == "manuals"
    assert any("training pairs" in c.value for c in app.caption)
    folder = ds.dataset_dir(tmp_path / "data", "manuals")
    before = ds.load_training_pairs(folder)
    assert len(before) >= 3
    editor = app.data_editor(key="editor-manuals")
    assert list(editor.value["question"]) == [p.question for p in before]

    # Edit one answer, delete one row, add one: the editor's own edit state, as the browser sends it.
    app.session_state["editor-manuals"] = {
        "edited_rows": {0: {"answer": "Setting 3 (edited)"}},
        "added_rows": [
            {
                "question": "What does the blue light mean?",
                "answer": "Rinse aid is low",
                "source": "doc0.pdf",
                "page": 2,
            }
        ],
        "deleted_rows": [1],
    }
    app.run()
    next(b for b in app.button if b.label == "Save edits").click().run()
    assert not app.exception
    expected = len(before)  # one deleted, one added
    assert any(f"Saved {expected} training pairs" in s.value for s in app.success)
    after = ds.load_training_pairs(folder)
    assert len(after) == expected
    assert after[0].question == before[0].question and after[0].answer == "Setting 3 (edited)"
    assert before[1].question not in {p.question for p in after}
    assert ("What does the blue light mean?", "Rinse aid is low") in {(p.question, p.answer) for p in after}

    # The download serves the saved pairs as chat-messages JSONL (the file is named by its content's hash).
    download = next(b for b in app.get("download_button") if b.proto.label == "Download JSONL (chat messages)")
    body = ds.messages_jsonl(after)
    lines = [json.loads(line) for line in body.splitlines()]
    assert len(lines) == expected and all(
        [m["role"] for m in line["messages"]][-2:] == ["user", "assistant"] for line in lines
    )
    assert {"role": "assistant", "content": "Setting 3 (edited)"} in lines[0]["messages"]
    file_id = MemoryMediaFileStorage("/mock/media").load_and_get_id(
        body.encode("utf-8"), "application/jsonl", MediaFileKind.DOWNLOADABLE, "manuals.jsonl"
    )
    assert download.proto.url == f"/mock/media/{file_id}"


def live(app: AppTest) -> bool:
    """Whether the job panel says it is polling (it polls exactly when it says so: pages/jobs_panel.py)."""
    return any(LIVE_NOTE in c.value for c in app.caption)


def test_start_a_tiny_job_see_progress_cancel_and_polling_stops(app: AppTest, tmp_path: Path) -> None:
    data = tmp_path / "data"
    form_number = {n.label: n for n in app.number_input}
    form_number["Stop after steps (0: all)"].set_value(500)
    (recipe,) = [r for r in app.radio if r.label == "Recipe"]  # the training form names how the pairs are trained
    assert list(recipe.options) == ["plain", "read passages", "paraphrase"] and recipe.value == "plain"
    next(b for b in app.button if b.label == "Start training").click().run()
    assert not app.exception, app.exception
    (job,) = jobs.list_jobs(data)
    assert job.state in ("queued", "running") and job.extra["recipe"] == "plain"
    assert any("Job" == s.label for s in app.selectbox)
    assert any(m.label == "State" for m in app.metric)
    # the page polls the job's status file; wait until the process has reported something
    deadline = time.monotonic() + 60
    while jobs.job_status(data, job.job_id).phase in ("starting", "") and time.monotonic() < deadline:
        time.sleep(0.5)
    seen_before = jobs.job_status(data, job.job_id)
    app.run()
    seen_after = jobs.job_status(data, job.job_id)
    # The page shows what the job process reported: its state, its message on the progress bar, its step count.
    assert seen_before.phase not in ("starting", ""), seen_before
    bars = [e.proto.text for e in app.get("progress")]
    assert any(escape_markdown(s.message) in bars for s in (seen_before, seen_after)), (
        bars,
        seen_before.message,
        seen_after.message,
    )
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["State"] in (seen_before.state, seen_after.state) and metrics["Step"].split("/")[0] in (
        str(seen_before.step),
        str(seen_after.step),
    )
    assert any(b.label == "Cancel job" for b in app.button)
    assert live(app)
    next(b for b in app.button if b.label == "Cancel job").click().run()
    status = jobs.wait_job(data, job.job_id, timeout_s=60)
    assert status.state == "cancelled"
    app.run()
    assert any(m.label == "State" and m.value == "cancelled" for m in app.metric)
    assert not live(app)  # the job ended: the panel stopped polling
    assert not app.page_link  # nothing to compare: no variant was made
    assert jobs.heavy_job_holder(data) is None


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


def test_a_finished_training_job_links_to_compare_in_chat_and_does_not_poll(app: AppTest, tmp_path: Path) -> None:
    data = tmp_path / "data"
    # the folder a finished job leaves: its config and its last status, written as the job writes them
    folder = jobs.job_dir(data, "ft-finished")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    StatusWriter(
        folder / "status.json",
        {
            "job_id": "ft-finished",
            "kind": "training",
            "state": "done",
            "phase": "done",
            "message": "Trained and registered manuals-ft",
            "step": 10,
            "total_steps": 10,
            "result": {"variant": "manuals-ft"},
            "created": time.time(),
        },
    ).update()
    app.run()
    assert not app.exception
    assert any(m.label == "State" and m.value == "done" for m in app.metric)
    assert [link.value for link in app.page_link] == ["Compare in Chat"]
    assert app.page_link[0].proto.query_string == "compare=1&variant=manuals-ft"
    assert not live(app)


def test_the_sample_qa_imports_in_one_click(app: AppTest, tmp_path: Path) -> None:
    app.radio[0].set_value("Import a Q&A file").run()
    next(b for b in app.button if b.label == "Use the sample Q&A instead").click().run()
    assert not app.exception
    assert any("Imported" in s.value and "training pairs" in s.value for s in app.success)
    manifest = {d["name"]: d for d in ds.list_datasets(tmp_path / "data")}["samples"]
    assert manifest["stats"]["train_pairs"] + manifest["stats"]["eval_new"] == 45


def test_deleting_a_variant_waits_for_the_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ollama_server: FakeOllamaServer
) -> None:
    data = tmp_path / "data"
    ollama_server.add_model(FakeModel("manual-ft:latest"))
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded", ollama_host=ollama_server.url)
    svc = build_services(settings)
    svc.finetune.register_existing_ollama("manual-ft", "manual-ft:latest")
    svc.close()
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    monkeypatch.setenv("DOMAINCHAT_ENGINE", "embedded")
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.switch_page("pages/finetune.py")
    app.run()
    next(s for s in app.selectbox if s.label == "Variant to delete").set_value("manual-ft").run()
    next(b for b in app.button if b.label == "Delete manual-ft").click().run()
    assert [v.name for v in VariantRegistry(data).list()] == ["manual-ft"]  # asked, not done
    assert any("manual\\-ft" in m.value and "cannot be undone" in m.value for m in app.markdown)
    next(b for b in app.button if b.label == "Delete").click().run()
    assert not app.exception
    assert VariantRegistry(data).list() == []
    assert not any(s.label == "Variant to delete" for s in app.selectbox)
