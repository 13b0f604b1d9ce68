"""`python -m core ask`: answer questions in any mode from the command line, one JSON object each."""

from __future__ import annotations

import argparse
from typing import Any

from core.chat import MODES, Question
from core.cli_util import one_or_many
from core.config import RETRIEVAL_METHODS, retrieval_method
from core.services import Services


def add_chat_commands(sub: Any) -> None:
    """Register the `ask` sub-command."""
    p = sub.add_parser("ask", help="answer a question with the LLM in one of the four modes")
    p.add_argument("--collection", help="collection to retrieve from (rag and hybrid modes)")
    p.add_argument("--mode", choices=list(MODES), default="rag")
    p.add_argument("--engine", choices=["auto", "ollama", "embedded"], default=None)
    p.add_argument("--model", help="base model (default: the engine's default)")
    p.add_argument("--variant", help="fine-tuned variant (finetuned and hybrid modes; default: the newest registered)")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--method", type=retrieval_method, choices=list(RETRIEVAL_METHODS), default=None,
                   help="retrieval method (fused: BM25 + dense; 'hybrid' is accepted as its old name)")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--questions", help="question file (JSONL, JSON list or CSV with a question column); prints one JSON line each")
    p.add_argument("question", nargs="*")
    p.set_defaults(func=cmd_ask)


def cmd_ask(svc: Services, ns: argparse.Namespace) -> int:
    """Answer one question or a file of them."""
    settings = svc.settings
    engine = svc.engines.resolve(ns.engine)
    base = ns.model or svc.engines.default_model(engine)
    variant = svc.engines.variant_model(engine, ns.variant or svc.engines.newest_variant(engine) or "") or None

    def one(text: str, extra: dict[str, Any]) -> dict[str, Any]:
        question = Question(
            text=text,
            mode=ns.mode,
            collection=ns.collection,
            base_model=base,
            variant_model=variant,
            top_k=ns.top_k or settings.top_k,
            temperature=settings.temperature if ns.temperature is None else ns.temperature,
            retrieval=ns.method or settings.retrieval,  # type: ignore[arg-type]
            max_tokens=settings.max_answer_tokens,
        )
        stream = svc.chat.ask(question, engine)
        for _ in stream:
            pass
        result = stream.answer.to_dict()
        for source in result["sources"]:
            source.pop("text")
        return {**extra, **result}

    return one_or_many(ns, one)
