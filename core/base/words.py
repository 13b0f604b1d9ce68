"""Word tokens, the one way the app splits text into words (BM25, citation attribution, grounding checks)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits)."""
    return _TOKEN.findall(text.lower())
