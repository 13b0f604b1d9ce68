"""The command line's verbs are grouped like the pages, and every verb still works on its own."""

from __future__ import annotations

import pytest

from core.cli.main import PAGES, build_parser

# (the page's form, the old form) of one command per page
SAME_COMMAND = [
    (["documents", "ingest", "--collection", "c", "a.pdf"], ["ingest", "--collection", "c", "a.pdf"]),
    (["documents", "docs", "list", "--collection", "c"], ["docs", "list", "--collection", "c"]),
    (["chat", "ask", "--mode", "base", "Hello?"], ["ask", "--mode", "base", "Hello?"]),
    (["chat", "chats", "list"], ["chats", "list"]),
    (["evaluate", "eval", "--modes", "base"], ["eval", "--modes", "base"]),
    (["evaluate", "update-test", "--no-training-probe"], ["update-test", "--no-training-probe"]),
    (
        ["advisor", "advise", "--skills", "mixed", "--data-changes", "static", "--budget", "small"]
        + ["--hardware", "cpu", "--labelled-pairs", "0"],
        ["advise", "--skills", "mixed", "--data-changes", "static", "--budget", "small"]
        + ["--hardware", "cpu", "--labelled-pairs", "0"],
    ),
]


@pytest.mark.parametrize(("grouped", "alone"), SAME_COMMAND, ids=[g[0] + " " + g[1] for g, _ in SAME_COMMAND])
def test_a_verb_under_its_page_parses_to_the_same_command_as_the_verb_alone(
    grouped: list[str], alone: list[str]
) -> None:
    parser = build_parser()
    a, b = vars(parser.parse_args(grouped)), vars(parser.parse_args(alone))
    assert a.pop("func") is b.pop("func")
    a.pop("command"), b.pop("command")
    a = {k: v for k, v in a.items() if not k.endswith("_command") or k in b}
    assert a == b


def test_the_help_lists_every_page_and_each_page_word_is_a_command() -> None:
    parser = build_parser()
    text = parser.format_help()
    for name, what, _ in PAGES:
        assert f"  {name:<10} {what}" in text
        with pytest.raises(SystemExit) as stop:
            parser.parse_args([name, "--help"])
        assert stop.value.code == 0
