"""Conversations, kept per collection on disk so they survive a restart; export as Markdown or JSON."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import AppError
from core.answers import Answer
from core.fsutil import write_json_atomic

_ID = re.compile(r"^[0-9a-f]{32}$")
NO_COLLECTION = "_no-collection"


@dataclass
class Conversation:
    """A chat: its messages alternate user and assistant; assistant messages carry mode, model and sources."""

    id: str
    collection: str
    title: str = "New chat"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add_question(self, text: str) -> None:
        """Append the user's question (and name the chat after its first one)."""
        if not self.messages:
            self.title = " ".join(text.split())[:60] or "New chat"
        self.messages.append({"role": "user", "content": text, "time": time.time()})

    def add_answer(self, answer: Answer) -> None:
        """Append an answer with everything needed to show it again."""
        data = answer.to_dict()
        data.pop("question", None)
        self.messages.append({"role": "assistant", "content": data.pop("text"), "time": time.time(), **data})


class ChatHistory:
    """Conversations stored as one JSON file each under `<data_dir>/chats/<collection>/`."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "chats"

    def new(self, collection: str | None) -> Conversation:
        """A new, not yet saved conversation."""
        return Conversation(uuid.uuid4().hex, collection or NO_COLLECTION)

    def save(self, chat: Conversation) -> None:
        """Write a conversation atomically (a crash never leaves half a file)."""
        chat.updated = time.time()
        folder = self._folder(chat.collection)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / f"{chat.id}.json", asdict(chat))

    def list(self, collection: str | None) -> list[Conversation]:
        """The conversations of a collection, most recent first."""
        folder = self._folder(collection or NO_COLLECTION)
        chats = []
        for path in folder.glob("*.json") if folder.is_dir() else []:
            try:
                chats.append(Conversation(**json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, TypeError):
                continue  # an unreadable file must not hide the others
        return sorted(chats, key=lambda c: c.updated, reverse=True)

    def delete(self, collection: str | None, chat_id: str) -> None:
        """Remove one conversation."""
        self._path(collection or NO_COLLECTION, chat_id).unlink(missing_ok=True)

    def _folder(self, collection: str) -> Path:
        # Collection names are validated by the store ([A-Za-z0-9._-], no ".."), so they are safe folder names.
        if "/" in collection or collection.startswith("."):
            raise AppError(f"Collection name {collection!r} cannot hold chats.")
        return self.root / collection

    def _path(self, collection: str, chat_id: str) -> Path:
        if not _ID.match(chat_id):
            raise AppError(f"{chat_id!r} is not a chat id.")
        return self._folder(collection) / f"{chat_id}.json"


def to_markdown(chat: Conversation) -> str:
    """The conversation as a readable Markdown document, sources included."""
    lines = [f"# {chat.title}", "", f"Collection: {chat.collection} · exported {time.strftime('%Y-%m-%d %H:%M')}", ""]
    for message in chat.messages:
        if message["role"] == "user":
            lines += [f"**You:** {message['content']}", ""]
            continue
        label = f"{message.get('mode', '?')} · {message.get('model', '?')} ({message.get('engine', '?')})"
        flag = " *(incomplete)*" if message.get("incomplete") else ""
        lines += [f"**Assistant** [{label}]{flag}: {message['content']}", ""]
        for i, source in enumerate(message.get("sources", []), 1):
            lines.append(f"> [{i}] {source['file']}, page {source['page']} (score {source['score']})")
        if message.get("sources"):
            lines.append("")
    return "\n".join(lines)


def to_json(chat: Conversation) -> str:
    """The conversation as JSON."""
    return json.dumps(asdict(chat), ensure_ascii=False, indent=2)
