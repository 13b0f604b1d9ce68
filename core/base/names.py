"""The one name validator: names that become folder names or store keys (variants, training sets, collections).

`fullmatch` (not `match` with `$`, which accepts a trailing newline) so a name is exactly what the rule says.
"""

from __future__ import annotations

import re

from core.errors import InvalidNameError

# variants, training sets, evaluation runs: lowercase, safe as a folder name and as an Ollama model name
_LOWER = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
# collections: what Chroma accepts (3–63 characters, letters or digits at both ends, no "..")
_COLLECTION = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,61}[a-zA-Z0-9]")


def validate_name(name: str, what: str = "Name") -> str:
    """Return `name` if it is 1–63 lowercase letters, digits, '.', '_' or '-' (starting with a letter or digit)."""
    if not isinstance(name, str) or not _LOWER.fullmatch(name):
        raise InvalidNameError(
            f"{what} {name!r} is not valid: use 1–63 lowercase letters, digits, '.', '_' or '-', starting with a "
            "letter or digit."
        )
    return name


def validate_collection_name(name: str) -> str:
    """Return `name` if Chroma accepts it as a collection name, else raise a message saying what is allowed."""
    if not isinstance(name, str) or not _COLLECTION.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            f"Collection name {name!r} is not valid: use 3–63 letters, digits, '.', '_' or '-', starting and ending "
            "with a letter or digit (e.g. 'manuals')."
        )
    return name
