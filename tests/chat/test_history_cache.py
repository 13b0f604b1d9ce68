"""Conversations are parsed once per file version: a rerun reuses the parse, a change on disk is seen,
and one caller's unsaved message never leaks into another's copy."""

from __future__ import annotations

import os
from pathlib import Path

from core.chat.history import ChatHistory


def test_listing_reuses_the_parse_and_sees_changes_made_elsewhere(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path)
    chat = history.new("manuals")
    chat.add_question("How often is the filter cleaned?")
    history.save(chat)
    first = history.list("manuals")[0]
    first.add_question("unsaved follow-up")  # one session's copy grows...
    again = history.list("manuals")[0]
    assert [m["content"] for m in again.messages] == ["How often is the filter cleaned?"]  # ...not the shared parse
    path = tmp_path / "chats" / "manuals" / f"{chat.id}.json"
    assert history._parsed[path][1]["messages"] is not again.messages

    other = ChatHistory(tmp_path)  # another process writes the same conversation
    changed = other.list("manuals")[0]
    changed.add_question("second question")
    other.save(changed)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a coarse clock must not hide it either
    assert [m["content"] for m in history.list("manuals")[0].messages][-1] == "second question"

    history.delete("manuals", chat.id)
    assert history.list("manuals") == [] and path not in history._parsed
