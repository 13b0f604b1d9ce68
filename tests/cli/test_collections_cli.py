"""`python -m core collections list` names the document-update test's kept collections apart from the user's: its
JSON stays the user's collections (what scripts pick from), stderr lists the test ones, and `--tests` gives them as
JSON. Real Chroma in a temporary data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli.main import main
from core.config import Settings
from core.services import build_services

KEPT = "update-test-20261207T101500"


def test_collections_list_shows_the_test_collections_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(dotenv=None, data_dir=data))
    try:
        svc.library.create_collection("manuals")
        svc.library.create_test_collection(KEPT)
    finally:
        svc.close()
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    capsys.readouterr()

    assert main(["collections", "list"]) == 0
    out = capsys.readouterr()
    assert [c["name"] for c in json.loads(out.out)] == ["manuals"]
    said = out.err.splitlines()
    assert said[0].startswith("Test collections kept by the document-update test (1, not among yours;")
    assert said[1:] == [f"  {KEPT}: 0 chunks"]

    assert main(["collections", "list", "--tests"]) == 0
    out = capsys.readouterr()
    assert [c["name"] for c in json.loads(out.out)] == [KEPT] and out.err == ""


def test_collections_list_says_nothing_more_without_test_collections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    svc = build_services(Settings.from_env(dotenv=None, data_dir=data))
    try:
        svc.library.create_collection("manuals")
    finally:
        svc.close()
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(data))
    capsys.readouterr()
    assert main(["collections", "list"]) == 0
    out = capsys.readouterr()
    assert [c["name"] for c in json.loads(out.out)] == ["manuals"] and out.err == ""
