"""`python -m core` as a user runs it: a real process, JSON on stdout, real Chroma and embeddings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_docs"


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data_dir), "DOMAINCHAT_ENGINE": "embedded"}
    proc = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "data"
    out = json.loads(run(data, "ingest", "--collection", "samples", *map(str, sorted(SAMPLES.glob("*.pdf"))), str(SAMPLES / "software-license-agreement.docx")).stdout)
    assert {f["status"] for f in out["files"]} == {"indexed"}
    assert all(f["pages"] >= 5 and f["chunks"] > 0 for f in out["files"])
    return data


def test_collections_and_docs_listing(indexed: Path) -> None:
    (collection,) = json.loads(run(indexed, "collections", "list").stdout)
    assert collection["name"] == "samples" and collection["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    docs = json.loads(run(indexed, "docs", "list", "--collection", "samples").stdout)
    assert {d["name"] for d in docs} == {"aquaflow-dishwasher-manual.pdf", "diabetes-patient-guide.pdf", "software-license-agreement.docx"}
    assert collection["chunks"] == sum(d["chunks"] for d in docs)


@pytest.mark.parametrize("method", ["dense", "fused", "hybrid"])
def test_retrieve_finds_the_right_page_for_sample_questions(indexed: Path, method: str) -> None:
    lines = run(indexed, "retrieve", "--collection", "samples", "--top-k", "3", "--method", method,
                "--questions", str(SAMPLES / "aquaflow-dishwasher-manual.questions.jsonl")).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 15
    hits = sum(any(c["source"] == r["source"] and c["page"] == r["page"] for c in r["chunks"]) for r in rows)
    # retrieval is good but not perfect: require most questions to find their page in the top 3
    assert hits >= 12, f"only {hits}/15 questions retrieved their page with {method}"
    first = rows[0]
    assert {"source", "page", "score", "chunk_id", "text"} <= set(first["chunks"][0])
    assert first["method"] == ("fused" if method == "hybrid" else method)  # the old name of `fused` still works


def test_single_question_returns_the_page_of_its_answer(indexed: Path) -> None:
    questions = [json.loads(line) for line in (SAMPLES / "software-license-agreement.questions.jsonl").read_text().splitlines()]
    q = questions[0]
    out = json.loads(run(indexed, "retrieve", "--collection", "samples", "--top-k", "3", q["question"]).stdout)
    assert any(c["page"] == q["page"] and c["source"] == q["source"] for c in out["chunks"])


def test_errors_exit_non_zero_with_a_message(indexed: Path, tmp_path: Path) -> None:
    proc = run(indexed, "retrieve", "--collection", "nope", "anything", check=False)
    assert proc.returncode == 1 and "no collection called 'nope'" in proc.stderr
    proc = run(indexed, "docs", "delete", "--collection", "samples", "deadbeef", check=False)
    assert proc.returncode == 1 and "docs list" in proc.stderr
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"q": 1}\n')
    proc = run(indexed, "retrieve", "--collection", "samples", "--questions", str(bad), check=False)
    assert proc.returncode == 1 and "has no \"question\"" in proc.stderr


def test_duplicates_and_deletion_from_the_command_line(indexed: Path) -> None:
    manual = str(SAMPLES / "aquaflow-dishwasher-manual.pdf")
    (again,) = json.loads(run(indexed, "ingest", "--collection", "samples", manual).stdout)["files"]
    assert again["status"] == "duplicate"
    before = json.loads(run(indexed, "collections", "list").stdout)[0]["chunks"]
    out = json.loads(run(indexed, "docs", "delete", "--collection", "samples", again["doc_id"]).stdout)
    after = json.loads(run(indexed, "collections", "list").stdout)[0]["chunks"]
    assert before - after == out["chunks"] > 0
