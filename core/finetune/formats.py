"""The text format a fine-tuned variant is trained on, shared with the chat that queries it.

The bundled Gemma 3 270M is a base model without a chat template, so the variant is trained on the
same completion prompt the chat sends in `finetuned` mode on the embedded engine. Training and the
chat must build prompts with these functions: a one-character difference (a missing space, another
newline) is enough to lose most of what the adapter learned.
"""

from __future__ import annotations

import re

# Generation should stop at these; they are also why answers never contain a blank line.
STOP_SEQUENCES: tuple[str, ...] = ("\n\n", "\nQuestion:")

_BLANK_LINES = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"\s+")


def clean_question(question: str) -> str:
    """A question on one line (a newline inside it would break the prompt's layout)."""
    return _SPACES.sub(" ", question).strip()


def clean_answer(answer: str) -> str:
    """An answer without blank lines, since the chat stops generating at the first blank line."""
    return _BLANK_LINES.sub("\n", answer.strip())


def finetuned_prompt(question: str) -> str:
    """The completion prompt of `finetuned` mode: what the variant was trained to complete."""
    return f"Question: {clean_question(question)}\nAnswer:"


def rag_prompt(context: str, question: str) -> str:
    """The completion prompt with retrieved context (`rag`/`hybrid` modes on a base model)."""
    return f"Context: {context.strip()}\nQuestion: {clean_question(question)}\nAnswer:"


def answer_completion(answer: str) -> str:
    """The text the model is trained to produce after the prompt (EOS is appended as a token)."""
    return " " + clean_answer(answer)
