"""The document-update test on the sample pair, with the real embedded engine, a real variant and a real training
probe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import Settings
from core.evaluation.document_update import (
    MISSED_REASONS,
    UpdateTestConfig,
    UpdateTestError,
    UpdateTestResult,
    latest_result,
    read_changed_facts,
)
from core.finetune.register import register_embedded
from core.library.service import TEST_COLLECTION_PREFIX, UploadedFile
from core.services import Services, build_services
from tests.helpers import fixtures_docs as fx
from tests.helpers.trained_variant import TrainedRun
from tests.helpers.update_result import FACTS, hand_result

ROOT = Path(__file__).resolve().parents[2]
OLD = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"
NEW = ROOT / "sample_docs" / "update" / "aquaflow-dishwasher-manual.pdf"
QUESTIONS = ROOT / "sample_docs" / "update" / "changed-facts.questions.jsonl"


def _first_facts(tmp_path: Path, n: int) -> Path:
    """The first `n` changed-fact questions (keeps the run short)."""
    path = tmp_path / "facts.jsonl"
    path.write_text("".join(QUESTIONS.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")
    return path


def test_rag_follows_the_new_version_at_once_and_the_variant_does_not(
    tmp_path: Path, embedder, trained: TrainedRun, base_gguf: Path
) -> None:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded")
    svc = build_services(settings, embedder=embedder)
    try:
        variant = register_embedded(
            settings.data_dir,
            "manual-ft",
            Path(trained.status.result["adapter_gguf"]),
            base_gguf,
            "gemma-3-270m (bundled)",
            dataset="facts",
            cost=trained.status.cost,
        )
        config = UpdateTestConfig(
            OLD, NEW, _first_facts(tmp_path, 3), arms=["base", "rag", "finetuned", "hybrid"], engine="embedded"
        )
        seen: list[str] = []
        result = svc.update_test.run(config, progress=lambda what, done, total: seen.append(what))
        left = svc.store.list_collections()
    finally:
        svc.close()
    # it ran in a test collection of its own, deleted at the end
    assert result.collection.startswith(TEST_COLLECTION_PREFIX) and not result.collection_kept and left == []

    assert (
        result.variant == "manual-ft" and result.arms == ["base", "rag", "finetuned", "hybrid"] and not result.skipped
    )
    assert result.reindex["version"] == 2 and result.reindex["seconds"] > 0 and result.reindex["chunks"] > 0
    # the recorded training time of the variant is the re-training cost, not an estimate
    assert (result.retrain.estimated, result.retrain.seconds) == (False, float(variant.cost["wall_s"]))
    assert result.ratio == round(result.retrain.seconds / result.reindex["seconds"], 1)
    rag, finetuned = result.summary["rag"], result.summary["finetuned"]
    # retrieval gives the new figures only once the new version is indexed, and never the old ones after it
    assert rag["before"]["new"] == 0 and rag["after"]["new"] >= 1 and rag["after"]["old"] == 0
    # the variant alone cannot know the new figures: it was not re-trained
    assert finetuned["after"]["new"] == 0
    assert {row["question"] for row in result.questions} == {f.question for f in read_changed_facts(config.questions)}
    assert all(set(row["after"]) == set(result.arms) for row in result.questions)
    assert any("Indexing the new version" in s for s in seen)
    saved = latest_result(settings.data_dir)
    assert saved is not None and saved["summary"] == result.summary and saved["retrain_vs_reindex"] == result.ratio


def test_without_a_variant_the_cost_is_estimated_from_a_measured_training_probe(
    tmp_path: Path, embedder, hf_cache: Path
) -> None:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded")
    svc = build_services(settings, embedder=embedder)
    try:
        config = UpdateTestConfig(
            OLD,
            NEW,
            _first_facts(tmp_path, 1),
            arms=["rag", "finetuned"],
            engine="embedded",
            training_cache_dir=str(hf_cache),
        )
        result = svc.update_test.run(config)
        again = svc.update_test.retrain_cost("embedded", None, config, read_changed_facts(config.questions))
    finally:
        svc.close()
    assert result.arms == ["rag"] and "finetuned" in result.skipped[0] and "Fine-tune page" in result.skipped[0]
    assert result.retrain.estimated and result.retrain.seconds and result.retrain.seconds > 0
    assert (
        "probe job" in result.retrain.basis and "assumed" in result.retrain.basis
    )  # no training set: the size is an assumption
    assert result.retrain.detail["steps"] == 25 * 10  # 100 assumed pairs in batches of 4, 10 epochs
    # the probe is now a recorded job: the next estimate uses it instead of probing again
    assert (
        again.estimated
        and "by training job" in again.basis
        and again.detail["s_per_step"] == result.retrain.detail["s_per_step"]
    )


def test_bad_inputs_are_refused_with_what_to_do(tmp_path: Path, services) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "How heavy?", "answer": "12 kg"}) + "\n", encoding="utf-8")
    with pytest.raises(UpdateTestError, match="old_answer"):
        services.update_test.run(UpdateTestConfig(OLD, NEW, bad))
    with pytest.raises(UpdateTestError, match="same bytes"):
        services.update_test.run(UpdateTestConfig(OLD, OLD, QUESTIONS))
    with pytest.raises(UpdateTestError, match="Unknown arms"):
        services.update_test.run(UpdateTestConfig(OLD, NEW, QUESTIONS, arms=["rag", "oracle"]))
    services.library.ingest("manuals", [UploadedFile("manual.pdf", fx.pdf_bytes())])
    chunks = services.library.collection_info("manuals").chunks
    with pytest.raises(UpdateTestError, match="one of your collections"):  # never written into
        services.update_test.run(UpdateTestConfig(OLD, NEW, QUESTIONS, collection="manuals"))
    with pytest.raises(UpdateTestError, match=f"must start with '{TEST_COLLECTION_PREFIX}'"):
        services.update_test.run(UpdateTestConfig(OLD, NEW, QUESTIONS, collection="scratch"))
    assert [(c.name, c.chunks) for c in services.store.list_collections()] == [("manuals", chunks)]


def _user_collections(svc: Services) -> list[tuple[str, int, list[tuple[str, int, str, bool]]]]:
    """Each user collection: its name, chunk count and documents (name, version, status, whether intact)."""
    return [
        (
            c.name,
            c.chunks,
            [(r.name, r.version, r.status, svc.library.is_intact(r)) for r in svc.library.list_documents(c.name)],
        )
        for c in svc.library.list_collections()
    ]


def test_a_kept_test_collection_is_listed_apart_and_a_removed_one_is_gone(tmp_path: Path, services) -> None:
    # the user indexed the very bytes the test starts from: their collection and kept original must not be touched
    services.library.ingest("samples", [UploadedFile(OLD.name, OLD.read_bytes())])
    before = _user_collections(services)
    facts = _first_facts(tmp_path, 1)
    kept = services.update_test.run(
        UpdateTestConfig(OLD, NEW, facts, arms=["rag"], engine="embedded", probe_training=False, keep_collection=True)
    )
    assert kept.collection.startswith(TEST_COLLECTION_PREFIX) and kept.collection_kept
    assert [(c.name, c.chunks) for c in services.library.list_test_collections()] == [
        (kept.collection, kept.reindex_chunks)
    ]
    (document,) = services.library.list_documents(kept.collection)
    assert (document.name, document.version) == (OLD.name, 2)  # the new version, there to look at
    assert _user_collections(services) == before

    removed = services.update_test.run(
        UpdateTestConfig(OLD, NEW, facts, arms=["rag"], engine="embedded", probe_training=False)
    )
    assert removed.collection.startswith(TEST_COLLECTION_PREFIX) and removed.collection != kept.collection
    assert not removed.collection_kept and not services.store.has_collection(removed.collection)
    assert [c.name for c in services.library.list_test_collections()] == [kept.collection]
    assert _user_collections(services) == before
    saved = latest_result(services.settings.data_dir)
    assert saved is not None and (saved["collection"], saved["collection_kept"]) == (removed.collection, False)


def test_a_failed_run_leaves_no_collection_behind(tmp_path: Path, services) -> None:
    facts = _first_facts(tmp_path, 1)
    rejected = tmp_path / "old" / NEW.name
    rejected.parent.mkdir()
    rejected.write_bytes(fx.ELF_BYTES)  # a program named like the manual: refused after the collection was made
    with pytest.raises(UpdateTestError, match="old version could not be indexed"):
        services.update_test.run(UpdateTestConfig(rejected, NEW, facts, arms=["base"], engine="embedded"))
    assert services.store.list_collections() == []

    class Stopped(Exception):
        """What the page's rerun or stop raises inside a run."""

    def stop_at_the_first_answer(what: str, _done: int, _total: int) -> None:
        if what.startswith("Answering"):  # the old version is indexed by now
            raise Stopped(what)

    config = UpdateTestConfig(OLD, NEW, facts, arms=["rag"], engine="embedded", probe_training=False)
    with pytest.raises(Stopped):
        services.update_test.run(config, stop_at_the_first_answer)
    assert services.store.list_collections() == []

    config.keep_collection = True  # kept on request, even by a run that failed: listed apart, with what it indexed
    with pytest.raises(Stopped):
        services.update_test.run(config, stop_at_the_first_answer)
    (left,) = services.library.list_test_collections()
    assert left.chunks > 0 and services.library.list_collections() == []


@pytest.mark.slow
def test_cli_update_test_and_advise_print_json(tmp_path: Path) -> None:
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(tmp_path / "data"), "DOMAINCHAT_ENGINE": "embedded"}

    def run(*args: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    out = run(
        "update-test", "--modes", "base,rag", "--questions", str(_first_facts(tmp_path, 1)), "--no-training-probe"
    )
    assert out["document"] == "aquaflow-dishwasher-manual.pdf" and out["reindex"]["version"] == 2
    assert out["collection"].startswith("update-test-") and out["collection_kept"] is False
    assert (
        out["retrain"]["seconds"] is None and "unknown" in out["retrain"]["basis"] and out["retrain_vs_reindex"] is None
    )
    report = tmp_path / "advice.md"
    advice = run(
        "advise",
        "--skills",
        "app_engineering",
        "--data-changes",
        "weekly",
        "--budget",
        "small",
        "--hardware",
        "cpu",
        "--labelled-pairs",
        "0",
        "--markdown",
        str(report),
    )
    assert advice["advice"]["recommendation"] == "rag"
    assert (
        advice["evidence"]["update"]["reindex_s"] == out["reindex"]["seconds"]
    )  # the update test just run is the evidence
    assert report.read_text(encoding="utf-8").startswith("# domainchat advice: RAG")


# --- what a run showed, on answers written by hand -------------------------------------------------------------------


def test_the_share_with_the_new_figure_has_its_interval_and_each_miss_its_reason() -> None:
    result = hand_result()
    rag = result.summary["rag"]["after"]
    assert (rag["new"], rag["old"], rag["n"]) == (1, 2, 4)
    assert rag["new_ci"] == [0.0456, 0.6994]  # Wilson, 1 of 4
    assert rag["missed"] == {"retrieved_old_figure": 1, "retrieved_not_used": 1, "not_retrieved": 1}
    assert (
        result.summary["base"]["after"]["new_ci"] == [0.0, 0.4899] and "missed" not in result.summary["base"]["after"]
    )
    assert result.summary["rag"]["before"]["old_ci"] == [0.5101, 1.0]  # 4 of 4 gave the old figure before
    why = {(a.mode, a.question): a.why_missed for a in result.answers()}
    assert [why[("rag", f.question)] for f in FACTS] == [
        None,
        "retrieved_old_figure",
        "retrieved_not_used",
        "not_retrieved",
    ]
    assert {why[("base", f.question)] for f in FACTS} == {
        None
    }  # a mode that reads no passage has no retriever to blame
    (rag_figures,) = [f for f in result.figures() if f.mode == "rag"]
    assert rag_figures.after_new_interval == pytest.approx((0.0456, 0.6994), abs=1e-4)


def test_the_findings_say_what_this_run_showed_and_why_rag_missed_the_change() -> None:
    assert hand_result().findings() == [
        "rag gave the new figure after the change: 1/4 · 25% (5–70%), still the old figure in 2. Not the new figure: "
        "1 where the new passage was retrieved but the model gave the old figure (the reader, not the index); "
        "1 where the new passage was retrieved but the model gave neither figure (the reader, not the index); "
        "1 where the new passage was not retrieved (the retriever, not the reader).",
        "base gave the new figure after the change: 0/4 · 0% (0–49%), still the old figure in 4.",
    ]


def test_a_result_saved_before_retrieval_was_recorded_reads_its_reasons_as_unknown() -> None:
    raw = hand_result().to_dict()
    for row in raw["questions"]:
        for phase in ("before", "after"):
            for answer in row[phase].values():
                answer.pop("contains_new"), answer.pop("why_missed", None)
    for phases in raw["summary"].values():
        phases["after"].pop("new_ci"), phases["after"].pop("missed", None), phases["before"].pop("old_ci")
    old = UpdateTestResult.from_dict(raw)
    assert [a.why_missed for a in old.answers() if a.mode == "rag"] == [None, "unknown", "unknown", "unknown"]
    assert old.findings()[0] == (
        "rag gave the new figure after the change: 1/4 · 25% (5–70%), still the old figure in 2. Not the new figure: "
        f"3 where {MISSED_REASONS['unknown']}."
    )


def test_a_rag_answer_records_whether_the_new_passage_was_retrieved(tmp_path: Path, services) -> None:
    config = UpdateTestConfig(
        OLD, NEW, _first_facts(tmp_path, 2), arms=["rag"], engine="embedded", probe_training=False
    )
    result = services.update_test.run(config)
    for row in result.questions:
        # the old version does not hold the new figure; the new one does, and retrieval finds it for these facts
        assert row["before"]["rag"]["contains_new"] is False and row["after"]["rag"]["contains_new"] is True
        after = row["after"]["rag"]
        assert after["why_missed"] == (
            None if after["new"] else "retrieved_old_figure" if after["old"] else "retrieved_not_used"
        )
    rag = result.summary["rag"]["after"]
    assert sum(rag["missed"].values()) == rag["n"] - rag["new"] and rag["missed"]["not_retrieved"] == 0
    assert len(result.findings()) == 1 and result.findings()[0].startswith(
        f"rag gave the new figure after the change: {rag['new']}/2"
    )
