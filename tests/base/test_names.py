"""The one name validator: exact matches only (a trailing newline or a path is never a name)."""

from __future__ import annotations

import pytest

from core.base.names import validate_collection_name, validate_name
from core.errors import InvalidNameError


@pytest.mark.parametrize("name", ["manuals-ft", "a", "v1.2_b"])
def test_good_names_pass(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["manuals\n", "Manuals", "-x", "../x", "a/b", "", "x" * 64])
def test_bad_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidNameError, match="lowercase letters, digits"):
        validate_name(name, "Variant name")


def test_collection_names_follow_chromas_rule_exactly() -> None:
    assert validate_collection_name("Manuals") == "Manuals"
    for bad in ("ab", "manuals\n", "a..b", "-manuals"):
        with pytest.raises(InvalidNameError, match="3–63 letters"):
            validate_collection_name(bad)
