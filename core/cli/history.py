"""`python -m core chats list|export`: the saved conversations of the Chat page, from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.chat.history import NO_COLLECTION, Conversation, to_json, to_markdown
from core.cli.util import SubParsers, print_json
from core.services import Services


def add_history_commands(sub: SubParsers) -> None:
    """Register the `chats` sub-commands."""
    chats = sub.add_parser("chats", help="list the saved conversations or export one").add_subparsers(
        dest="chats_command", required=True
    )
    p = chats.add_parser("list", help="one JSON line per conversation, most recent first")
    p.add_argument("--collection", help="only this collection's conversations (default: every collection)")
    p.set_defaults(func=cmd_chats_list)
    p = chats.add_parser("export", help="print one conversation as Markdown or JSON")
    p.add_argument("chat_id", help="the chat's id, or a unique start of it (see `chats list`)")
    p.add_argument("--collection", help="look only in this collection")
    p.add_argument("--format", choices=["md", "json"], default="md")
    p.set_defaults(func=cmd_chats_export)


def summary(chat: Conversation) -> dict[str, Any]:
    """What `chats list` prints for a conversation."""
    questions = sum(1 for m in chat.messages if m.get("role") == "user")
    modes = sorted(
        {
            str(a.get("mode"))
            for m in chat.messages
            if m.get("role") == "assistant"
            for a in (m.get("answers") or [m])
            if a.get("mode")
        }
    )
    return {
        "id": chat.id,
        "collection": None if chat.collection == NO_COLLECTION else chat.collection,
        "title": chat.title,
        "created": round(chat.created, 3),
        "updated": round(chat.updated, 3),
        "questions": questions,
        "messages": len(chat.messages),
        "modes": modes,
    }


def cmd_chats_list(svc: Services, ns: argparse.Namespace) -> int:
    """Print one JSON line per conversation."""
    history = svc.chat.history
    if ns.collection and ns.collection not in history.collections():
        svc.library.collection_info(
            ns.collection
        )  # a clear error for a misspelt collection; an existing one has no chats yet
    names = [ns.collection] if ns.collection else history.collections()
    chats = [c for name in names for c in history.conversations(name)]
    for chat in sorted(chats, key=lambda c: c.updated, reverse=True):
        print_json(summary(chat))
    return 0


def cmd_chats_export(svc: Services, ns: argparse.Namespace) -> int:
    """Print one conversation in the Chat page's export formats."""
    chat = svc.chat.history.find(ns.chat_id, ns.collection)
    text = to_json(chat) if ns.format == "json" else to_markdown(chat)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
