"""`python -m core chats list|export` as a user runs it: a real process reading the conversations the Chat page
saved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.base.chunks import Chunk
from core.chat.answers import Answer
from core.chat.history import ChatHistory, Conversation

ROOT = Path(__file__).resolve().parents[2]


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data_dir), "DOMAINCHAT_ENGINE": "embedded"}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def saved_chat(
    history: ChatHistory, collection: str | None, question: str, answer: str, mode: str = "rag"
) -> Conversation:
    chat = history.new(collection)
    chat.add_question(question)
    source = Chunk("c1", "d1", "manual.pdf", 6, "Check and clean the filters once a week.", score=0.8)
    chat.add_answer(
        Answer(question, answer, mode, "embedded", "gemma-3-270m", sources=[source] if mode == "rag" else [])
    )
    history.save(chat)
    return chat


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_chats_list_prints_one_json_line_per_chat_newest_first_and_filters_by_collection(data_dir: Path) -> None:
    history = ChatHistory(data_dir)
    older = saved_chat(history, "manuals", "How often should the filters be cleaned?", "Once a week. [1]")
    newer = saved_chat(history, None, "What is a dishwasher?", "A machine.", mode="base")

    proc = run(data_dir, "chats", "list")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["id"] for r in rows] == [newer.id, older.id]
    assert rows[1] == {
        **rows[1],
        "collection": "manuals",
        "title": "How often should the filters be cleaned?",
        "questions": 1,
        "messages": 2,
        "modes": ["rag"],
    }
    assert rows[0]["collection"] is None and rows[0]["modes"] == ["base"]

    only = [json.loads(line) for line in run(data_dir, "chats", "list", "--collection", "manuals").stdout.splitlines()]
    assert [r["id"] for r in only] == [older.id]


def test_chats_export_prints_the_chat_as_markdown_or_json_by_a_unique_id_start(data_dir: Path) -> None:
    history = ChatHistory(data_dir)
    chat = saved_chat(history, "manuals", "How often should the filters be cleaned?", "Once a week. [1]")

    md = run(data_dir, "chats", "export", chat.id[:8])
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# How often should the filters be cleaned?")
    assert "**You:** How often should the filters be cleaned?" in md.stdout and "Once a week. [1]" in md.stdout
    assert "> [1] manual.pdf, page 6" in md.stdout

    data = json.loads(run(data_dir, "chats", "export", chat.id, "--format", "json").stdout)
    assert data["id"] == chat.id and [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["sources"][0]["page"] == 6


def test_chats_export_of_an_unknown_id_says_how_to_find_one(data_dir: Path) -> None:
    saved_chat(ChatHistory(data_dir), "manuals", "Q?", "A.")
    proc = run(data_dir, "chats", "export", "0123456789abcdef")
    assert proc.returncode == 1 and not proc.stdout
    assert "No chat '0123456789abcdef'" in proc.stderr and "chats list" in proc.stderr
    missing = run(data_dir, "chats", "list", "--collection", "nosuchthing")
    assert missing.returncode == 1 and "nosuchthing" in missing.stderr
