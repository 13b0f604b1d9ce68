"""`python -m core` as a user runs it: a real process, JSON on stdout, real Chroma and embeddings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.ollama_server import FakeModel, FakeOllamaServer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_docs"


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data_dir), "DOMAINCHAT_ENGINE": "embedded"}
    proc = subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "data"
    out = json.loads(
        run(
            data,
            "ingest",
            "--collection",
            "samples",
            *map(str, sorted(SAMPLES.glob("*.pdf"))),
            str(SAMPLES / "software-license-agreement.docx"),
        ).stdout
    )
    assert {f["status"] for f in out["files"]} == {"indexed"}
    assert all(f["pages"] >= 5 and f["chunks"] > 0 for f in out["files"])
    return data


def test_collections_and_docs_listing(indexed: Path) -> None:
    (collection,) = [c for c in json.loads(run(indexed, "collections", "list").stdout) if c["name"] == "samples"]
    assert collection["name"] == "samples" and collection["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    docs = json.loads(run(indexed, "docs", "list", "--collection", "samples").stdout)
    assert {d["name"] for d in docs} == {
        "aquaflow-dishwasher-manual.pdf",
        "diabetes-patient-guide.pdf",
        "software-license-agreement.docx",
    }
    assert collection["chunks"] == sum(d["chunks"] for d in docs)


@pytest.mark.parametrize("method", ["dense", "fused", "hybrid"])
def test_retrieve_finds_the_right_page_for_sample_questions(indexed: Path, method: str) -> None:
    lines = run(
        indexed,
        "retrieve",
        "--collection",
        "samples",
        "--top-k",
        "3",
        "--method",
        method,
        "--questions",
        str(SAMPLES / "aquaflow-dishwasher-manual.questions.jsonl"),
    ).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 15
    hits = sum(any(c["source"] == r["source"] and c["page"] == r["page"] for c in r["chunks"]) for r in rows)
    # retrieval is good but not perfect: require most questions to find their page in the top 3
    assert hits >= 12, f"only {hits}/15 questions retrieved their page with {method}"
    first = rows[0]
    assert {"source", "page", "score", "chunk_id", "text"} <= set(first["chunks"][0])
    assert first["method"] == ("fused" if method == "hybrid" else method)  # the old name of `fused` still works


def test_single_question_returns_the_page_of_its_answer(indexed: Path) -> None:
    questions = [
        json.loads(line) for line in (SAMPLES / "software-license-agreement.questions.jsonl").read_text().splitlines()
    ]
    q = questions[0]
    out = json.loads(run(indexed, "retrieve", "--collection", "samples", "--top-k", "3", q["question"]).stdout)
    assert any(c["page"] == q["page"] and c["source"] == q["source"] for c in out["chunks"])


def test_errors_exit_non_zero_with_a_message(indexed: Path, tmp_path: Path) -> None:
    proc = run(indexed, "retrieve", "--collection", "nope", "anything", check=False)
    assert proc.returncode == 1 and "no collection called 'nope'" in proc.stderr
    proc = run(indexed, "docs", "delete", "--collection", "samples", "deadbeef", check=False)
    assert proc.returncode == 1 and "docs list" in proc.stderr
    bad = tmp_path / "q.jsonl"
    bad.write_text(
        '{"question": "How long is the warranty?"}\n{"text": 1}\n'
    )  # questions alone are fine; line 2 has none
    proc = run(indexed, "retrieve", "--collection", "samples", "--questions", str(bad), check=False)
    assert proc.returncode == 1 and "line 2: the question is empty" in proc.stderr


def test_duplicates_and_deletion_from_the_command_line(indexed: Path) -> None:
    # its own collection: deleting from `samples` would take the manual away from the tests after this one
    manual = str(SAMPLES / "aquaflow-dishwasher-manual.pdf")
    (first,) = json.loads(run(indexed, "ingest", "--collection", "scratch", manual).stdout)["files"]
    (again,) = json.loads(run(indexed, "ingest", "--collection", "scratch", manual).stdout)["files"]
    assert first["status"] == "indexed" and again["status"] == "duplicate" and again["doc_id"] == first["doc_id"]
    chunks = {c["name"]: c["chunks"] for c in json.loads(run(indexed, "collections", "list").stdout)}
    out = json.loads(run(indexed, "docs", "delete", "--collection", "scratch", again["doc_id"]).stdout)
    after = {c["name"]: c["chunks"] for c in json.loads(run(indexed, "collections", "list").stdout)}
    assert chunks["scratch"] - after["scratch"] == out["chunks"] > 0
    assert after["samples"] == chunks["samples"]  # the other collection is untouched


def test_compare_prints_one_object_with_every_mode_labelled(indexed: Path, ollama_server: FakeOllamaServer) -> None:
    ollama_server.find("gemma3:270m").reply = "Check and clean the filters once a week."  # type: ignore[union-attr]
    ollama_server.add_model(FakeModel("manual-ft:latest", reply="Once a week."))
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(indexed), "OLLAMA_HOST": ollama_server.url}
    question = "How often should the filters be checked and cleaned?"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "compare",
            "--collection",
            "samples",
            "--modes",
            "base,rag,finetuned,hybrid",
            "--engine",
            "ollama",
            "--variant",
            "manual-ft:latest",
            question,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()  # one JSON object for the question
    out = json.loads(line)
    assert out["question"] == question and out["engine"] == "ollama"
    assert [a["mode"] for a in out["answers"]] == ["base", "rag", "finetuned", "hybrid"]
    assert [a["model"] for a in out["answers"]] == [
        "gemma3:270m",
        "gemma3:270m",
        "manual-ft:latest",
        "manual-ft:latest",
    ]
    assert [bool(a["sources"]) for a in out["answers"]] == [False, True, False, True]
    assert any(s["file"] == "aquaflow-dishwasher-manual.pdf" and s["page"] == 6 for s in out["answers"][1]["sources"])
    assert all(a["timings"]["total_ms"] is not None and a["ran"].startswith("Ollama model") for a in out["answers"])
    bad = subprocess.run(
        [sys.executable, "-m", "core", "compare", "--modes", "base,rag", "--engine", "ollama", question],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "add --collection NAME" in bad.stderr
