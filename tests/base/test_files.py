"""core.base.files: a failed write leaves the old file whole and no temporary file behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.base.files import atomic_path, copy_atomic, write_json_atomic, write_jsonl_atomic


def test_a_write_that_fails_half_way_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    write_json_atomic(target, {"state": "running"})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"state": "do')
            raise RuntimeError("crash in the middle")
    assert json.loads(target.read_text()) == {"state": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_jsonl_and_copy_write_whole_files(tmp_path: Path) -> None:
    write_jsonl_atomic(tmp_path / "a.jsonl", [{"q": "é"}, {"q": 2}])
    assert [json.loads(line) for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()] == [
        {"q": "é"},
        {"q": 2},
    ]
    copy_atomic(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()


def test_a_folder_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_text("old")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.bin").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
