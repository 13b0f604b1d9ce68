"""The command line: `python -m core …` does what the pages do and prints JSON on stdout.

Commands are grouped like the pages: `python -m core PAGE VERB …` (e.g. `python -m core documents ingest`), and
every verb also works on its own (`python -m core ingest`), as it always has. Errors go to stderr as one message
that says what to do, with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from core.cli.advisor import add_advisor_commands
from core.cli.chat import add_chat_commands
from core.cli.documents import add_documents_commands, cmd_rebuild
from core.cli.evaluate import add_eval_commands
from core.cli.finetune import add_finetune_commands
from core.cli.history import add_history_commands
from core.cli.util import SubParsers
from core.config import Settings
from core.errors import AppError
from core.services import build_services

Adder = Callable[[SubParsers], None]

# The pages in their order, each with the modules that add its verbs. `finetune` is both the page and its verb.
PAGES: tuple[tuple[str, str, tuple[Adder, ...]], ...] = (
    (
        "documents",
        "the Documents page: ingest, docs, collections, reindex, rebuild, retrieve",
        (add_documents_commands,),
    ),
    ("chat", "the Chat page: ask, compare, chats", (add_chat_commands, add_history_commands)),
    ("finetune", "the Fine-tune page: dataset, train, status, cancel, export, register, variants", ()),
    ("evaluate", "the Evaluate page: eval, update-test", (add_eval_commands,)),
    ("advisor", "the Advisor page: advise", (add_advisor_commands,)),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m core`."""
    epilog = "commands by page (each verb also works without its page word):\n" + "\n".join(
        f"  {name:<10} {what}" for name, what, _ in PAGES
    )
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="domainchat from the command line (JSON on stdout).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_finetune_commands(sub)
    for name, what, adders in PAGES:
        if not adders:
            continue
        page = sub.add_parser(name, help=what).add_subparsers(dest=f"{name}_command", required=True, metavar="VERB")
        for add in adders:
            add(page)  # the verb under its page: `python -m core documents ingest`
            add(sub)  # and on its own, as before: `python -m core ingest`
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    ns = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(ns, "top_k", "absent") is None:
            ns.top_k = settings.top_k
        if getattr(ns, "method", "absent") is None:
            ns.method = settings.retrieval
        # A damaged store is found by a child process (seconds, only when the store changed since it was last found
        # healthy), never by Chroma failing, or crashing, half-way through a command.
        services = build_services(settings, check_store=True)
        if services.recovery:
            print(f"note: {services.recovery.summary()}", file=sys.stderr)
        try:
            health = services.library.store_health
            if health and ns.func is not cmd_rebuild:
                collection = getattr(ns, "collection", None)
                services.library.ensure_store_readable(collection if isinstance(collection, str) else None)
                print(
                    f"note: {health.summary()}", file=sys.stderr
                )  # another collection is damaged: this command goes on
            return int(ns.func(services, ns))
        finally:
            services.close()
    except AppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
