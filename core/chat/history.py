"""Conversations, kept per collection on disk so they survive a restart; export as Markdown or JSON.

A conversation's `messages` are the JSON saved on disk (and what the exports write); `Conversation.entries()` reads
them as typed `ChatMessage`s, which is how the Chat page shows them.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

from core.base.files import write_json_atomic
from core.chat.answers import Answer, AnswerRecord
from core.errors import AppError

_ID = re.compile(r"^[0-9a-f]{32}$")
NO_COLLECTION = "_no-collection"
# Saved with the question before the answer streams: what the chat shows if the page stops before the answer ends.
INTERRUPTED = (
    "The answer stopped before it finished (the page was rerun or closed while it was written): "
    "ask the question again for a full answer."
)


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation as the Chat page reads it: a question, an answer, or a comparison of answers."""

    role: Literal["user", "assistant"]
    content: str  # the question, or the one answer's text ('' for a comparison)
    time: float | None = None
    answer: AnswerRecord | None = None  # an assistant message with one answer
    answers: tuple[AnswerRecord, ...] = ()  # a comparison: one answer per mode, in the order asked
    preferred: str | None = None  # the mode of the comparison's answer marked best
    pending: bool = False  # the placeholder saved while the answer streams

    @property
    def is_comparison(self) -> bool:
        """Whether this is one question answered in several modes side by side."""
        return bool(self.answers)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChatMessage":
        """A saved message read as a typed record."""
        role: Literal["user", "assistant"] = "user" if data.get("role") == "user" else "assistant"
        comparison = data.get("kind") == "comparison"
        return cls(
            role=role,
            content=str(data.get("content", "")),
            time=data.get("time"),
            answer=AnswerRecord.from_dict(data) if role == "assistant" and not comparison else None,
            answers=tuple(AnswerRecord.from_dict(a) for a in data.get("answers") or []) if comparison else (),
            preferred=data.get("preferred"),
            pending=bool(data.get("pending")),
        )


@dataclass
class Conversation:
    """A chat: its messages alternate user and assistant; assistant messages carry mode, model and sources."""

    id: str
    collection: str
    title: str = "New chat"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def entries(self, start: int = 0) -> list[ChatMessage]:
        """The messages from index `start` on, as typed records (a page reads only the ones it shows)."""
        return [ChatMessage.from_dict(m) for m in self.messages[start:]]

    def add_question(self, text: str) -> None:
        """Append the user's question (and name the chat after its first one)."""
        if not self.messages:
            self.title = " ".join(text.split())[:60] or "New chat"
        self.messages.append({"role": "user", "content": text, "time": time.time()})

    def start_answer(self, question: str) -> None:
        """Append the question and a placeholder answer marked incomplete: saved now, a stop mid-answer keeps both."""
        self.add_question(question)
        self.messages.append(
            {
                "role": "assistant",
                "content": "",
                "time": time.time(),
                "incomplete": True,
                "error": INTERRUPTED,
                "pending": True,
            }
        )

    def drop_unanswered(self) -> str | None:
        """Remove a trailing placeholder and its question (the question failed and is offered again); returns the
        question."""
        if len(self.messages) >= 2 and self.messages[-1].get("pending") and self.messages[-2]["role"] == "user":
            self.messages.pop()
            return str(self.messages.pop()["content"])
        return None

    def add_answer(self, answer: Answer) -> None:
        """Append an answer (in place of the placeholder `start_answer` left) with everything needed to show it
        again."""
        data = _answer_record(answer)
        self._put({"role": "assistant", "content": data.pop("text"), "time": time.time(), **data})

    def add_comparison(self, answers: Sequence[Answer]) -> None:
        """Append one question's answers in several modes, side by side (no preference yet)."""
        self._put(
            {
                "role": "assistant",
                "kind": "comparison",
                "content": "",
                "time": time.time(),
                "answers": [_answer_record(a) for a in answers],
                "preferred": None,
            }
        )

    def _put(self, message: dict[str, Any]) -> None:
        if self.messages and self.messages[-1].get("pending"):
            self.messages[-1] = message
        else:
            self.messages.append(message)

    def set_preference(self, index: int, mode: str | None) -> None:
        """Mark the best answer of the comparison at message `index` (None clears the mark)."""
        message = self.messages[index] if 0 <= index < len(self.messages) else {}
        if message.get("kind") != "comparison":
            raise AppError(f"Message {index} is not a comparison: only a comparison's answers can be marked best.")
        modes = [a.get("mode") for a in message["answers"]]
        if mode is not None and mode not in modes:
            raise AppError(f"Mode {mode!r} is not in this comparison: mark one of {', '.join(map(str, modes))}.")
        message["preferred"] = mode


class ChatHistory:
    """Conversations stored as one JSON file each under `<data_dir>/chats/<collection>/`."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "chats"
        # Parsed files by path, valid while (mtime, size) stay the same: a page rerun must not re-parse every chat.
        self._parsed: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}
        self._guard = threading.Lock()

    def new(self, collection: str | None) -> Conversation:
        """A new, not yet saved conversation."""
        return Conversation(uuid.uuid4().hex, collection or NO_COLLECTION)

    def save(self, chat: Conversation) -> None:
        """Write a conversation atomically (a crash never leaves half a file)."""
        chat.updated = time.time()
        folder = self._folder(chat.collection)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / f"{chat.id}.json", asdict(chat))

    def conversations(self, collection: str | None) -> list[Conversation]:
        """The conversations of a collection, most recent first."""
        folder = self._folder(collection or NO_COLLECTION)
        chats = []
        for path in folder.glob("*.json") if folder.is_dir() else []:
            try:
                data = self._read(path)
                # A fresh list per caller: each session appends to its own copy, the shared parse stays intact.
                chats.append(Conversation(**{**data, "messages": list(data.get("messages", []))}))
            except (OSError, ValueError, TypeError):
                continue  # an unreadable file must not hide the others
        return sorted(chats, key=lambda c: c.updated, reverse=True)

    def _read(self, path: Path) -> dict[str, Any]:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        with self._guard:
            cached = self._parsed.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a conversation")
        with self._guard:
            self._parsed[path] = (version, data)
        return data

    def delete(self, collection: str | None, chat_id: str) -> None:
        """Remove one conversation."""
        path = self._path(collection or NO_COLLECTION, chat_id)
        path.unlink(missing_ok=True)
        with self._guard:
            self._parsed.pop(path, None)

    def collections(self) -> list[str]:
        """The collections that hold saved conversations (the `_no-collection` folder included), sorted."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def find(self, chat_id: str, collection: str | None = None) -> Conversation:
        """One conversation by its id or a unique start of it, in one collection or in any."""
        wanted = chat_id.strip().lower()
        folders = [collection or NO_COLLECTION] if collection else self.collections()
        found = [c for name in folders for c in self.conversations(name) if wanted and c.id.startswith(wanted)]
        if len(found) == 1:
            return found[0]
        if not found:
            where = f" in collection '{collection}'" if collection else ""
            raise AppError(
                f"No chat {chat_id!r}{where}: list the chats and their ids with `python -m core chats list`."
            )
        raise AppError(
            f"{chat_id!r} starts {len(found)} chat ids: give more of the id (`python -m core chats list` shows them "
            "whole)."
        )

    def _folder(self, collection: str) -> Path:
        # Collection names are validated by the store ([A-Za-z0-9._-], no ".."), so they are safe folder names.
        if "/" in collection or collection.startswith("."):
            raise AppError(f"Collection name {collection!r} cannot hold chats.")
        return self.root / collection

    def _path(self, collection: str, chat_id: str) -> Path:
        if not _ID.fullmatch(chat_id):
            raise AppError(f"{chat_id!r} is not a chat id.")
        return self._folder(collection) / f"{chat_id}.json"

    # The old name of `conversations`, kept for callers written before it (last in the class: a method called
    # `list` shadows the builtin in every annotation of the class body below it).
    list = conversations


def _answer_record(answer: Answer) -> dict[str, Any]:
    data = answer.to_dict()
    data.pop("question", None)
    return data


@dataclass(frozen=True)
class PreferenceTally:
    """How often a mode's answer was marked best among the comparisons it took part in (with a mark)."""

    mode: str
    preferred: int
    compared: int

    def __str__(self) -> str:
        return f"{self.mode} preferred {self.preferred} of {self.compared} times"


def tally_preferences(chats: Iterable[Conversation]) -> list[PreferenceTally]:
    """Per mode, the marked comparisons it was in and how many it won; most preferred first."""
    preferred: dict[str, int] = {}
    compared: dict[str, int] = {}
    for chat in chats:
        for message in chat.messages:
            if message.get("kind") != "comparison" or not message.get("preferred"):
                continue
            for answer in message["answers"]:
                mode = str(answer.get("mode"))
                compared[mode] = compared.get(mode, 0) + 1
                preferred[mode] = preferred.get(mode, 0) + (mode == message["preferred"])
    out = [PreferenceTally(m, preferred.get(m, 0), n) for m, n in compared.items()]
    return sorted(out, key=lambda t: (-t.preferred / t.compared, t.mode))


def _markdown_answer(message: dict[str, Any], lines: list[str], heading: str) -> None:
    label = f"{message.get('mode', '?')} · {message.get('model', '?')} ({message.get('engine', '?')})"
    if message.get("ran"):
        label += f" · ran: {message['ran']}"
    flag = " *(incomplete)*" if message.get("incomplete") else ""
    text = message.get("content", message.get("text", ""))
    if message.get("error") and not text:
        text = f"*(no answer: {message['error']})*"
    lines += [f"{heading} [{label}]{flag}: {text}", ""]
    for i, source in enumerate(message.get("sources", []), 1):
        lines.append(f"> [{i}] {source['file']}, page {source['page']} (score {source['score']})")
    if message.get("sources"):
        lines.append("")


def to_markdown(chat: Conversation) -> str:
    """The conversation as a readable Markdown document, sources included."""
    lines = [f"# {chat.title}", "", f"Collection: {chat.collection} · exported {time.strftime('%Y-%m-%d %H:%M')}", ""]
    for message in chat.messages:
        if message["role"] == "user":
            lines += [f"**You:** {message['content']}", ""]
            continue
        if message.get("kind") == "comparison":
            best = message.get("preferred")
            lines += [f"**Comparison of {len(message['answers'])} modes**" + (f" (best: {best})" if best else ""), ""]
            for answer in message["answers"]:
                mark = " ★ best" if answer.get("mode") == best else ""
                _markdown_answer(answer, lines, f"- **{answer.get('mode')}**{mark}")
            continue
        _markdown_answer(message, lines, "**Assistant**")
    return "\n".join(lines)


def to_json(chat: Conversation) -> str:
    """The conversation as JSON."""
    return json.dumps(asdict(chat), ensure_ascii=False, indent=2)
