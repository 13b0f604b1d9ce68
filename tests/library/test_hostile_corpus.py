"""The hostile corpus (tests/helpers/hostile.py) through the real library: the real parser process, real Chroma.

Every file must end indexed (its text findable) or rejected with the specific reason its case names;
the library must survive the lot and stay consistent (catalog = store = kept originals, nothing
written outside the data directory, no temp files).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from core.config import Settings
from core.library.service import safe_display_name
from core.library.types import UploadedFile
from core.services import build_services
from tests.helpers import hostile

COLLECTION = "hostile"
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # marks, embeddings, overrides, isolates
# Per-code words the reason must contain: the user is told what the file is, not a generic failure.
REASON_WORDS = {
    "bomb": ("decompression bomb",),
    "unsafe": ("DOCTYPE",),
    "timeout": ("longer than",),
    "password": ("password",),
    "corrupt": ("damaged", "does not support"),
    "unsupported": ("Unsupported file type",),
    "empty": ("empty", "no text"),
    "needs_ocr": ("OCR",),
    "no_text": ("needs OCR",),
}


@pytest.fixture(scope="module")
def cases() -> list[hostile.Case]:
    """The corpus, built once (the bombs take a few seconds to compress)."""
    return hostile.corpus()


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_hostile_corpus_is_indexed_or_rejected_with_its_reason_and_the_library_stays_consistent(
    tmp_path: Path, embedder, cases
) -> None:
    assert len(cases) >= 50
    assert len({c.label for c in cases}) == len(cases)
    settings = replace(
        Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded"),
        parse_timeout_s=10.0,
        ocr=False,
    )
    svc = build_services(settings, embedder=embedder)
    try:
        results = svc.library.ingest(COLLECTION, [UploadedFile(c.name, c.data) for c in cases])
        assert len(results) == len(cases)
        outcomes = {}
        for case, result in zip(cases, results):
            outcome = "indexed" if result.status == "indexed" else result.code
            outcomes[case.label] = outcome
            assert result.name == safe_display_name(case.name)
            assert (
                "/" not in result.name
                and "\\" not in result.name
                and "\x00" not in result.name
                and len(result.name) <= 200
            )
            assert not BIDI_CONTROLS.search(result.name), f"{case.label}: {result.name!r} keeps a right-to-left control"
            assert outcome in case.expect, f"{case.label}: {result.status} {result.code} {result.reason}"
            if result.status == "rejected":
                assert any(w in result.reason for w in REASON_WORDS[result.code]), (
                    case.label,
                    result.code,
                    result.reason,
                )
                assert ": " in result.reason  # a reason always goes on to say what to do
        # The cases the issue names, spelt out: the right reason, not a generic one.
        assert outcomes["flate-bomb-300mb"] == outcomes["lzw-bomb-200mb"] == outcomes["docx-zip-bomb-300mb"] == "bomb"
        assert "OCR" not in results[[c.label for c in cases].index("flate-bomb-300mb")].reason
        assert {
            outcomes[label] for label in outcomes if label.startswith(("docx-xxe", "docx-billion", "docx-doctype"))
        } == {"unsafe"}
        assert outcomes["slow-page"] in (
            "timeout",
            "corrupt",
        )  # the time limit, or pypdf's token limit on a fast machine

        chunks_of: dict[str, list[str]] = {}
        for chunk in svc.store.all_chunks(COLLECTION):
            chunks_of.setdefault(chunk.doc_id, []).append(chunk.text)
        for case, result in zip(cases, results):
            if result.status == "indexed" and case.text:
                assert _flat(case.text) in _flat(" ".join(chunks_of[result.doc_id])), case.label
            if result.status == "indexed":
                assert not re.search(r"[\x00-\x08\x0b\x0e-\x1f]", "".join(chunks_of[result.doc_id])), (
                    f"{case.label}: control characters indexed"
                )

        # Consistent: every row final, every indexed row's chunks exactly in the store, originals = rows.
        rows = svc.catalog.documents(COLLECTION)
        assert {r.status for r in rows} <= {"indexed", "rejected"}
        indexed = {r.doc_id: r for r in rows if r.status == "indexed"}
        assert indexed.keys() == {r.doc_id for r in results if r.status == "indexed"}
        assert all(svc.library.is_intact(r) for r in indexed.values())
        assert set(svc.store.inventory(COLLECTION)) == set(indexed)
        kept = {p.name for p in svc.library.originals.iterdir()}
        assert kept == svc.catalog.stored_originals() == {r.stored_as for r in indexed.values()}
        # Hostile names are never paths: nothing outside the data directory, no hidden temp files inside it.
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
        assert not Path("/etc/cron.d/evil.txt").exists()
        assert not [p for p in (tmp_path / "data").rglob(".*.tmp")]

        # The library survives: a normal upload afterwards is indexed and found by the app's retrieval. (The corpus's
        # 300 near-identical "Page N of 300." chunks are the plateau that once hid this chunk from the vector index
        # alone: see HNSW_CONFIG in core/store.py.)
        after = svc.library.ingest(
            COLLECTION, [UploadedFile("after.txt", b"The rinse aid dial is set to level four after the hostile run.")]
        )
        assert after[0].status == "indexed", after[0].reason
        hits = svc.retriever.search(COLLECTION, "What level is the rinse aid dial set to?", 3, settings.retrieval)
        assert "rinse aid dial" in hits.chunks[0].text, hits
    finally:
        svc.close()
