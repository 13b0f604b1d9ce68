"""The keyword (BM25) index: scores equal a from-scratch BM25, changes are followed, files survive a restart,
and a missing, damaged or stale index is rebuilt from the store."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest

from core.base.words import tokenize
from core.config import Settings
from core.index.keyword import K1, B, KeywordIndex, KeywordIndexes
from core.services import Services, build_services

WORDS = "filter pump drain door rinse salt tablet spray arm hose valve error code clean weekly water hot cold".split()


def corpus(n: int, seed: int = 1) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    return [(f"c{i}", f"d{i // 5}", " ".join(rng.choices(WORDS, k=rng.randint(3, 30)))) for i in range(n)]


def brute_force(chunks: list[tuple[str, str, str]], question: str) -> dict[str, float]:
    """BM25 (Lucene idf) computed the slow, obvious way over every chunk."""
    docs = {cid: Counter(tokenize(text)) for cid, _, text in chunks}
    n = len(docs)
    average = sum(sum(c.values()) for c in docs.values()) / n
    scores: dict[str, float] = {}
    for term, times in Counter(tokenize(question)).items():
        df = sum(1 for c in docs.values() if term in c)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for cid, c in docs.items():
            if term in c:
                tf, dl = c[term], sum(c.values())
                scores[cid] = scores.get(cid, 0.0) + times * idf * tf * (K1 + 1) / (
                    tf + K1 * (1 - B + B * dl / average)
                )
    return scores


def check_against_brute_force(index: KeywordIndex, chunks: list[tuple[str, str, str]], question: str) -> None:
    expected = brute_force(chunks, question)
    got = index.search(question, 10)
    assert got, question
    top = sorted(expected.values(), reverse=True)[:10]
    assert [round(s, 4) for _, s in got] == [round(s, 4) for s in top]
    for cid, score in got:
        assert score == pytest.approx(expected[cid], rel=1e-5)


def test_scores_equal_a_from_scratch_bm25_after_adds_deletes_and_replacements() -> None:
    chunks = corpus(300)
    index = KeywordIndex("c")
    index.add(chunks)
    for q in ("How do I clean the filter weekly?", "drain pump error code", "salt salt tablet"):
        check_against_brute_force(index, chunks, q)
    # delete two documents and replace one chunk's text under the same id
    index.delete_document("d3")
    index.delete_document("d7")
    index.add([("c100", "d20", "valve valve valve hose")])
    live = [c for c in chunks if c[1] not in ("d3", "d7") and c[0] != "c100"] + [
        ("c100", "d20", "valve valve valve hose")
    ]
    assert index.live == len(live)
    check_against_brute_force(index, live, "valve hose")
    assert all(
        cid not in {c[0] for c in chunks if c[1] in ("d3", "d7")} for cid, _ in index.search("filter pump drain", 300)
    )


def test_compaction_after_mass_deletion_keeps_the_same_answers() -> None:
    chunks = corpus(2500, seed=2)
    index = KeywordIndex("c")
    index.add(chunks)
    doomed = {f"d{i}" for i in range(0, 400)}  # 2000 of 2500 chunks
    for d in sorted(doomed):
        index.delete_document(d)
    assert len(index.ids) < 2500  # compacted: dead slots are gone
    live = [c for c in chunks if c[1] not in doomed]
    check_against_brute_force(index, live, "rinse arm spray")


def test_unknown_words_and_empty_index_give_no_hits() -> None:
    index = KeywordIndex("c")
    assert index.search("filter", 5) == []
    index.add(corpus(20))
    assert index.search("zyxwv qqq", 5) == []


def test_the_index_survives_a_restart_through_snapshot_and_journal(tmp_path: Path) -> None:
    chunks = corpus(200, seed=3)
    first = KeywordIndexes(tmp_path)
    first.add("m", "id-1", chunks[:100])  # not loaded yet: journal only
    rebuilt: list[int] = []

    def every_chunk() -> list[tuple[str, str, str]]:
        rebuilt.append(1)
        return chunks[:100]

    expected = first.search("m", "filter drain", 5, "id-1", lambda: 100, every_chunk)
    assert not rebuilt and (tmp_path / "m" / "index.npz").is_file() and not (tmp_path / "m" / "journal.jsonl").exists()
    first.add("m", "id-1", chunks[100:])  # loaded now: in memory and journalled
    first.delete_document("m", "d0")
    live = [c for c in chunks if c[1] != "d0"]
    after = first.search("m", "filter drain", 5, "id-1", lambda: len(live), every_chunk)
    second = KeywordIndexes(tmp_path)
    assert second.search("m", "filter drain", 5, "id-1", lambda: len(live), every_chunk) == after
    assert not rebuilt
    assert expected  # the first search found something too


@pytest.mark.parametrize(
    "damage", ["torn journal", "damaged snapshot", "other count", "re-created collection", "files removed"]
)
def test_a_missing_damaged_or_stale_index_is_rebuilt_from_the_store(tmp_path: Path, damage: str) -> None:
    chunks = corpus(50, seed=4)
    indexes = KeywordIndexes(tmp_path)
    indexes.add("m", "id-1", chunks)
    indexes.search("m", "pump", 3, "id-1", lambda: 50, lambda: chunks)  # folds the journal into a snapshot
    count, cid, source = 50, "id-1", chunks
    folder = tmp_path / "m"
    if damage == "torn journal":
        (folder / "journal.jsonl").write_text('{"add": [["c1", "d0", "pump')
    elif damage == "damaged snapshot":
        (folder / "index.npz").write_bytes(b"not a zip")
    elif damage == "other count":
        source, count = chunks[:40], 40  # e.g. another process deleted chunks through a Chroma server
    elif damage == "re-created collection":
        cid = "id-2"
    else:
        for p in folder.iterdir():
            p.unlink()
    calls: list[int] = []

    def every_chunk() -> list[tuple[str, str, str]]:
        calls.append(1)
        return source

    fresh = KeywordIndexes(tmp_path)
    got = fresh.search("m", "pump valve", 50, cid, lambda: count, every_chunk)
    assert calls == [1]
    expected = brute_force(source, "pump valve")
    assert {c for c, _ in got} == {c for c, s in expected.items() if s > 0}


def test_fused_retrieval_follows_ingest_delete_and_a_lost_index(services: Services, settings: Settings) -> None:
    from core.library.service import UploadedFile

    svc = services
    texts = {
        "a.txt": "Error E42 means the circulation pump is blocked.",
        "b.txt": "Clean the coarse filter every week under running water.",
        "c.txt": "The warranty lasts two years from the date of purchase.",
    }
    results = {
        r.name: r for r in svc.library.ingest("manuals", [UploadedFile(n, t.encode()) for n, t in texts.items()])
    }
    assert svc.retriever.search("manuals", "E42", 1, "fused").chunks[0].source == "a.txt"
    svc.library.delete_document("manuals", results["a.txt"].doc_id)
    assert all(c.source != "a.txt" for c in svc.retriever.search("manuals", "E42 pump", 3, "fused").chunks)
    assert svc.store.keyword_search("manuals", "E42", 5) == []
    # The files live under the data directory; losing them costs a rebuild, not a wrong answer.
    folder = settings.data_dir / "keywords" / "manuals"
    assert (folder / "index.npz").is_file()
    svc.close()
    for p in folder.iterdir():
        p.unlink()
    again = build_services(settings, embedder=svc.embedder)
    try:
        assert again.retriever.search("manuals", "warranty years", 1, "fused").chunks[0].source == "c.txt"
        assert [cid for cid, _ in again.store.keyword_search("manuals", "coarse filter", 5)] == again.store.chunk_ids(
            "manuals", results["b.txt"].doc_id
        )
        again.library.delete_collection("manuals")
        assert not folder.exists()
    finally:
        again.close()


def test_an_index_this_process_alone_writes_is_counted_once_on_load_and_follows_deleted_ids(tmp_path: Path) -> None:
    chunks = corpus(60, seed=5)
    counted: list[int] = []

    def count(n: int):
        return lambda: counted.append(n) or n

    own = KeywordIndexes(tmp_path, shared=False)
    own.add("m", "id-1", chunks)
    for _ in range(3):
        own.search("m", "pump", 5, "id-1", count(60), lambda: chunks)
    assert counted == [60]  # once, when loaded: not a scan of the collection per question
    gone = [cid for cid, _, _ in chunks[:10]]
    own.delete_ids("m", gone)
    live = chunks[10:]
    assert {c for c, _ in own.search("m", "pump valve", 60, "id-1", count(50), lambda: live)} == {
        c for c, s in brute_force(live, "pump valve").items() if s > 0
    }
    # The deleted ids are journalled: a restart agrees with the store without rebuilding.
    rebuilt: list[int] = []
    again = KeywordIndexes(tmp_path, shared=False)
    got = again.search("m", "pump valve", 60, "id-1", count(50), lambda: rebuilt.append(1) or live)
    assert not rebuilt and {c for c, _ in got} == {c for c, s in brute_force(live, "pump valve").items() if s > 0}


def test_a_shared_store_is_counted_on_every_question_and_a_forgotten_index_is_checked_again(tmp_path: Path) -> None:
    chunks = corpus(40, seed=6)
    counted: list[int] = []
    shared = KeywordIndexes(tmp_path, shared=True)
    shared.add("m", "id-1", chunks)
    for _ in range(3):
        shared.search("m", "drain", 5, "id-1", lambda: counted.append(1) or 40, lambda: chunks)
    assert len(counted) == 3  # another client may have written through the server since

    own = KeywordIndexes(tmp_path, shared=False)
    own.search("m", "drain", 5, "id-1", lambda: 40, lambda: chunks)
    own.forget("m")  # what a write that failed half-way does
    fewer = chunks[:30]  # ... after which the store holds something else
    got = own.search("m", "drain hose", 40, "id-1", lambda: 30, lambda: fewer)
    assert {c for c, _ in got} == {c for c, s in brute_force(fewer, "drain hose").items() if s > 0}


def test_a_write_that_fails_half_way_makes_the_next_fused_search_check_the_store(services: Services) -> None:
    from core.library.service import UploadedFile

    svc = services
    svc.library.ingest("manuals", [UploadedFile("a.txt", b"Error E42 means the circulation pump is blocked.")])
    assert svc.retriever.search("manuals", "E42", 1, "fused").chunks[0].source == "a.txt"
    assert "manuals" in svc.store.keywords._loaded
    collection = svc.store._get("manuals")
    ids = svc.store.chunk_ids("manuals")

    class Interrupted(Exception):
        pass

    original = type(collection).delete
    try:

        def delete_then_fail(self, *args, **kwargs):  # noqa: ANN001, ANN202
            original(self, *args, **kwargs)
            raise Interrupted

        type(collection).delete = delete_then_fail
        with pytest.raises(Interrupted):
            svc.store.delete_chunks("manuals", ids)
    finally:
        type(collection).delete = original
    assert "manuals" not in svc.store.keywords._loaded  # forgotten: the next search loads it and counts the store
    assert svc.store.keyword_search("manuals", "E42", 5) == []
