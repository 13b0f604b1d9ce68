"""`python -m core ask` and `python -m core compare`: answer questions in one mode, or in several side by side, as JSON.

`ask` keeps its questions and answers in the chat history, as the Chat page does (one conversation per run, in the
collection's history: `python -m core chats list` shows it); `--no-history` answers without keeping them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.chat.answers import Answer
from core.chat.history import NO_COLLECTION, Conversation
from core.chat.service import MODES, Question
from core.cli.util import one_or_many
from core.config import ENGINE_CHOICES, RETRIEVAL_METHODS, retrieval_method
from core.engines.base import Engine
from core.errors import AppError, ConfigError
from core.services import Services


def add_chat_commands(sub: Any) -> None:
    """Register the `ask` and `compare` sub-commands."""
    p = sub.add_parser(
        "ask",
        help="answer a question with the LLM in one of the four modes (kept in the chat history)",
        description="Answer a question (or each of a file) in one mode and print it as JSON. The questions "
        "and answers are kept in the chat history as the Chat page keeps them: one conversation "
        "per run, under --collection (see `python -m core chats list`); --no-history keeps "
        "nothing.",
    )
    p.add_argument("--mode", choices=list(MODES), default="rag")
    p.add_argument(
        "--no-history",
        action="store_true",
        help="do not keep the questions and answers in the chat history (by default each run is saved as "
        "one conversation)",
    )
    _answer_options(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "compare", help="answer one question in several modes side by side (one JSON object per question)"
    )
    p.add_argument(
        "--modes", default=",".join(MODES), type=_modes, help=f"comma-separated modes (default: {','.join(MODES)})"
    )
    _answer_options(p)
    p.set_defaults(func=cmd_compare)


def _answer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collection", help="collection to retrieve from (rag and hybrid modes)")
    p.add_argument("--engine", choices=list(ENGINE_CHOICES), default=None)
    p.add_argument("--model", help="base model (default: the engine's default)")
    p.add_argument("--variant", help="fine-tuned variant (finetuned and hybrid modes; default: the newest registered)")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument(
        "--method",
        type=retrieval_method,
        choices=list(RETRIEVAL_METHODS),
        default=None,
        help="retrieval method (fused: BM25 + dense; 'hybrid' is accepted as its old name)",
    )
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument(
        "--questions", help="question file (JSONL, JSON list or CSV with a question column); prints one JSON line each"
    )
    p.add_argument("question", nargs="*")


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(
            f"unknown mode(s) {', '.join(unknown) or '(none)'}: use some of {','.join(MODES)}"
        )
    return modes


def _question_factory(svc: Services, ns: argparse.Namespace, engine: Engine) -> Any:
    """A function text -> Question with the command line's choices and the settings' defaults."""
    settings = svc.settings
    base = ns.model or svc.engines.default_model(engine)
    variant = svc.engines.variant_model(engine, ns.variant or svc.engines.newest_variant(engine) or "") or None

    def make(text: str, mode: str) -> Question:
        return Question(
            text=text,
            mode=mode,  # type: ignore[arg-type]
            collection=ns.collection,
            base_model=base,
            variant_model=variant,
            top_k=ns.top_k or settings.top_k,
            temperature=settings.temperature if ns.temperature is None else ns.temperature,
            retrieval=ns.method or settings.retrieval,  # type: ignore[arg-type]
            max_tokens=settings.max_answer_tokens,
        )

    return make


def _short(answer: dict[str, Any]) -> dict[str, Any]:
    for source in answer["sources"]:
        source.pop("text")  # the passage's place, not its text: one line per answer stays readable
    return answer


def cmd_ask(svc: Services, ns: argparse.Namespace) -> int:
    """Answer one question or a file of them, kept as one new conversation of the chat history (unless --no-history)."""
    engine = svc.engines.resolve(ns.engine)
    make = _question_factory(svc, ns, engine)
    conversation: Conversation | None = None if ns.no_history else svc.chat.history.new(ns.collection)
    unsaved: list[AppError] = []

    def one(text: str, extra: dict[str, Any]) -> dict[str, Any]:
        question = make(text, ns.mode)
        if conversation is None:
            stream = svc.chat.ask(question, engine)
            for _ in stream:
                pass
            answer: Answer = stream.answer
        else:
            # The Chat page's turn: the question saved first, then the answer (a stop half-way keeps the partial one).
            turn = svc.chat.turn(conversation, question, engine)
            (answer,) = turn.run()
            unsaved[:] = [turn.save_error] if turn.save_error else []
        return {**extra, **_short(answer.to_dict())}

    status = one_or_many(ns, one)
    if unsaved:  # the answers were printed; say why the history lacks them (a full disk says how to make room)
        raise AppError(f"{unsaved[0]} The answers above were not kept in the chat history.")
    if conversation is not None and conversation.messages:
        collection = conversation.collection
        where = "no collection" if collection == NO_COLLECTION else f"collection '{collection}'"
        print(
            f"kept in the chat history of {where}: `python -m core chats export {conversation.id[:8]}`", file=sys.stderr
        )
    return status


def cmd_compare(svc: Services, ns: argparse.Namespace) -> int:
    """Answer one question (or each of a file) in every chosen mode: one JSON object with every mode's answer."""
    if not ns.collection and any(m in ("rag", "hybrid") for m in ns.modes):
        raise ConfigError(
            "The rag and hybrid modes retrieve from a collection: add --collection NAME, "
            "or compare --modes base,finetuned."
        )
    engine = svc.engines.resolve(ns.engine)
    make = _question_factory(svc, ns, engine)

    def one(text: str, extra: dict[str, Any]) -> dict[str, Any]:
        comparison = svc.chat.compare(make(text, ns.modes[0]), ns.modes, engine)
        comparison.run()
        out = comparison.to_dict()
        out["answers"] = [_short(a) for a in out["answers"]]
        return {**extra, **out}

    return one_or_many(ns, one)
