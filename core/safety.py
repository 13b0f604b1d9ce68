"""Showing untrusted text (documents, model output) without letting it act as markup.

Streamlit already refuses raw HTML unless asked; Markdown is still live, and an image in Markdown
makes the browser fetch a remote URL. Escaping every Markdown character shows text literally.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~$:])")


def escape_markdown(text: str) -> str:
    """`text` with every Markdown-active character escaped, so it renders literally."""
    return _SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")
