"""Untrusted text (documents, file names, model output, remote error messages): shown as text, quoted as data.

Streamlit already refuses raw HTML unless asked; Markdown is still live, and an image in Markdown
makes the browser fetch a remote URL. Escaping every Markdown character shows text literally.

Retrieved passages go into the prompt between `<documents>` fences: a passage must not be able to close
the fence early, nor smuggle in the model's control tokens (the embedded engine parses special tokens
such as `<start_of_turn>` in the prompt), so tag-like text in passages is defused before it is quoted.
"""

from __future__ import annotations

import re
import unicodedata

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~$:])")

# Any spelling of the fence a model might read as one: ASCII or look-alike brackets, spaces, any case.
_FENCE = re.compile(
    r"[<\uff1c\u2039\u2329\u27e8\u3008\ufe64]\s*/?\s*documents?\s*[>\uff1e\u203a\u232a\u27e9\u3009\ufe65]",
    re.IGNORECASE,
)
# Tag-like tokens: `<eos>`, `<start_of_turn>`, `<|im_start|>`, `</s>`; real text rarely has them once parsed.
_TAG = re.compile(r"<(/?[A-Za-z_|][A-Za-z0-9_|]{0,40})>")
_INSTRUCTIONS = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.\n]{0,60}\b(instructions?|prompts?|rules)\b"
    r"|\b(ignore|disregard)\s+(all|any|the)\s+(previous|above|prior)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bnew instructions\b|^\s*(system|assistant)\s*:",
    re.IGNORECASE | re.MULTILINE,
)


def escape_markdown(text: str) -> str:
    """`text` with every Markdown-active character escaped, so it renders literally."""
    return _SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def defuse_passage(text: str) -> str:
    """A passage safe to quote inside the prompt's `<documents>` fence (it cannot close it or add control tokens)."""
    # Zero-width and other format characters can hide a fence from a pattern and mean nothing to a reader.
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _FENCE.sub("(documents)", text)
    return _TAG.sub(lambda m: f"\u2039{m.group(1)}\u203a", text)


def injection_flag(text: str) -> str:
    """Why a passage looks like an attempt to instruct the model ('' when it does not); shown in Sources."""
    plain = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    reasons = []
    if _FENCE.search(plain):
        reasons.append("tries to close the documents block")
    if _TAG.search(plain):
        reasons.append("contains control-token-like tags")
    if _INSTRUCTIONS.search(plain):
        reasons.append("contains instructions addressed to the model")
    return "; ".join(reasons)
