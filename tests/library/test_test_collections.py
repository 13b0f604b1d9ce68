"""Test collections (made by the document-update test) are listed apart from the user's, on a real Chroma store."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.errors import InvalidNameError
from core.library.service import TEST_COLLECTION_PREFIX, UploadedFile, is_test_collection
from core.services import build_services


def test_test_collections_are_listed_apart_from_the_users_and_survive_a_restart(settings: Settings) -> None:
    svc = build_services(settings)
    try:
        svc.library.create_collection("manuals")
        svc.library.create_test_collection(f"{TEST_COLLECTION_PREFIX}20261207T064200Z")
        assert [c.name for c in svc.library.list_collections()] == ["manuals"]
        assert [c.name for c in svc.library.list_test_collections()] == [f"{TEST_COLLECTION_PREFIX}20261207T064200Z"]
    finally:
        svc.close()
    again = build_services(settings)  # the mark is the name: a new process sees the same split
    try:
        assert [c.name for c in again.library.list_collections()] == ["manuals"]
        assert [c.name for c in again.library.list_test_collections()] == [f"{TEST_COLLECTION_PREFIX}20261207T064200Z"]
        assert again.library.delete_collection(f"{TEST_COLLECTION_PREFIX}20261207T064200Z") == 0
        assert again.library.list_test_collections() == []
    finally:
        again.close()


def test_a_user_cannot_make_a_collection_with_the_reserved_prefix(settings: Settings) -> None:
    svc = build_services(settings)
    try:
        with pytest.raises(InvalidNameError, match="choose another name"):
            svc.library.create_collection(f"{TEST_COLLECTION_PREFIX}mine")
        with pytest.raises(InvalidNameError, match="choose another name"):  # an upload would create it too
            svc.library.ingest(f"{TEST_COLLECTION_PREFIX}mine", [UploadedFile("a.txt", b"text")])
        with pytest.raises(InvalidNameError, match="must start with"):
            svc.library.create_test_collection("manuals")
        svc.library.create_test_collection(f"{TEST_COLLECTION_PREFIX}once")
        with pytest.raises(InvalidNameError, match="already exists"):  # a test collection is always a fresh one
            svc.library.create_test_collection(f"{TEST_COLLECTION_PREFIX}once")
        assert svc.library.list_collections() == []
        assert [c.name for c in svc.library.list_test_collections()] == [f"{TEST_COLLECTION_PREFIX}once"]
    finally:
        svc.close()


def test_only_the_reserved_prefix_marks_a_test_collection() -> None:
    assert is_test_collection("update-test-20261207T064200Z")
    assert not is_test_collection("update-test")  # the name older releases used is an ordinary collection
    assert not is_test_collection("manuals-update-test-1")
