"""The keyword (BM25) index of each collection: an inverted index kept up to date as chunks come and go.

A question costs only the posting lists of its own words (numpy over those arrays), never a pass
over every chunk of the collection. The index is persisted under the data directory as a snapshot
(`index.npz`, arrays only, no pickle) plus an append-only journal (`journal.jsonl`) of the chunks
added and the documents deleted since the snapshot, so an ingest writes only what changed. Loading
replays the journal and folds it into a new snapshot; an ingest ends by doing so (`prepare`), since replaying
costs a question as much as building the index (≈ 0.2–0.4 ms per chunk here). If the files are missing, damaged,
or do not match the collection in the vector store (another chunk count, a re-created collection), the index is
rebuilt from the store's chunks.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
from array import array
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Sequence

from core.base.files import atomic_path
from core.base.words import tokenize

if TYPE_CHECKING:
    import numpy as np

K1, B = 1.5, 0.75  # the usual Okapi BM25 constants (rank_bm25's defaults)
FORMAT = 1
COMPACT_AFTER = 20000  # journalled chunks after which a loaded index writes a fresh snapshot
MAX_TF = 65535  # term frequencies are stored as uint16


class KeywordIndex:
    """BM25 over one collection's chunks, in memory: posting lists of (slot, term frequency) per term.

    Deleting marks slots dead (filtered when scoring) and compacts once half the slots are dead.
    """

    def __init__(self, collection_id: str = "") -> None:
        self.collection_id = collection_id
        self.ids: list[str] = []  # slot -> chunk id ("" once deleted)
        self.slot_of: dict[str, int] = {}
        self.slots_of_doc: dict[str, list[int]] = {}
        self.lengths = array("I")
        self.alive = bytearray()
        self.postings: dict[str, tuple[array, array]] = {}
        self.total_length = 0
        self.live = 0

    # --- changes ---------------------------------------------------------------------------------

    def add(self, chunks: Iterable[tuple[str, str, str]]) -> None:
        """Index (chunk id, document id, text) triples; an id already present is replaced."""
        for chunk_id, doc_id, text in chunks:
            if chunk_id in self.slot_of:
                self._kill(self.slot_of[chunk_id])
            terms = Counter(tokenize(text))
            slot = len(self.ids)
            self.ids.append(chunk_id)
            self.slot_of[chunk_id] = slot
            self.slots_of_doc.setdefault(doc_id, []).append(slot)
            length = sum(terms.values())
            self.lengths.append(length)
            self.alive.append(1)
            self.total_length += length
            self.live += 1
            for term, tf in terms.items():
                posting = self.postings.get(term)
                if posting is None:
                    posting = self.postings[term] = (array("I"), array("H"))
                posting[0].append(slot)
                posting[1].append(min(tf, MAX_TF))

    def delete_document(self, doc_id: str) -> None:
        """Forget every chunk of one document."""
        for slot in self.slots_of_doc.pop(doc_id, []):
            self._kill(slot)
        self._compact_if_sparse()

    def delete_ids(self, chunk_ids: Iterable[str]) -> None:
        """Forget chunks by id (ids not in the index are ignored)."""
        for chunk_id in chunk_ids:
            slot = self.slot_of.get(chunk_id)
            if slot is not None:
                self._kill(slot)
        self._compact_if_sparse()

    def _compact_if_sparse(self) -> None:
        if len(self.ids) > 1000 and self.live < len(self.ids) // 2:
            self._compact()

    def _kill(self, slot: int) -> None:
        if not self.alive[slot]:
            return
        self.alive[slot] = 0
        self.live -= 1
        self.total_length -= self.lengths[slot]
        self.slot_of.pop(self.ids[slot], None)
        self.ids[slot] = ""

    def _compact(self) -> None:
        """Renumber the live slots and drop dead postings (cost: the size of the index, paid rarely)."""
        import numpy as np

        alive = np.frombuffer(self.alive, dtype=np.uint8).astype(bool)
        new_slot = np.cumsum(alive, dtype=np.int64) - 1
        postings: dict[str, tuple[array, array]] = {}
        for term, (slots, tfs) in self.postings.items():
            s = np.frombuffer(slots, dtype=np.uint32)
            keep = alive[s]
            if keep.any():
                postings[term] = (
                    array("I", new_slot[s[keep]].astype(np.uint32).tobytes()),
                    array("H", np.frombuffer(tfs, dtype=np.uint16)[keep].tobytes()),
                )
        self.postings = postings
        self.slots_of_doc = {d: [int(new_slot[s]) for s in slots if alive[s]] for d, slots in self.slots_of_doc.items()}
        self.slots_of_doc = {d: s for d, s in self.slots_of_doc.items() if s}
        self.ids = [i for i, a in zip(self.ids, self.alive) if a]
        self.slot_of = {cid: slot for slot, cid in enumerate(self.ids)}
        self.lengths = array("I", np.frombuffer(self.lengths, dtype=np.uint32)[alive].tobytes())
        self.alive = bytearray(b"\x01" * len(self.ids))

    # --- questions -------------------------------------------------------------------------------

    def search(self, question: str, n: int) -> list[tuple[str, float]]:
        """The `n` best chunks for the question's words by BM25, as (chunk id, score), best first."""
        import numpy as np

        if self.live == 0 or n <= 0:
            return []
        alive = np.frombuffer(self.alive, dtype=np.uint8)
        lengths = np.frombuffer(self.lengths, dtype=np.uint32)
        average = self.total_length / self.live
        found_slots, found_scores = [], []
        for term, times in Counter(tokenize(question)).items():
            posting = self.postings.get(term)
            if posting is None:
                continue
            slots = np.frombuffer(posting[0], dtype=np.uint32)
            slots_alive = alive[slots].astype(bool)
            slots = slots[slots_alive]
            if not len(slots):
                continue
            tf = np.frombuffer(posting[1], dtype=np.uint16)[slots_alive].astype(np.float32)
            # Lucene's idf: never negative, so a word in most chunks still counts a little, never against.
            idf = math.log(1.0 + (self.live - len(slots) + 0.5) / (len(slots) + 0.5))
            norm = K1 * (1.0 - B + B * lengths[slots] / average)
            found_slots.append(slots)
            found_scores.append(times * idf * tf * (K1 + 1.0) / (tf + norm))
        if not found_slots:
            return []
        # One dense accumulator over the slots: O(postings + slots), where sorting the postings to merge them
        # (np.unique) cost O(postings · log) and dominated at 100k chunks, a common word's list being most of them.
        scores = np.bincount(np.concatenate(found_slots), weights=np.concatenate(found_scores), minlength=len(self.ids))
        n = min(n, int(np.count_nonzero(scores)))
        if n <= 0:
            return []
        best = np.argpartition(-scores, n - 1)[:n]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[int(i)], float(scores[i])) for i in best]

    def memory_bytes(self) -> int:
        """Approximate memory held by the index (arrays, ids and the term table)."""
        arrays = sum(s.itemsize * len(s) + t.itemsize * len(t) + 2 * 64 for s, t in self.postings.values())
        terms = sum(49 + len(t) + 56 + 8 for t in self.postings)  # str object + tuple + dict slot
        ids = sum(49 + len(i) + 8 + 100 for i in self.ids)  # str + list slot + dict entry
        return arrays + terms + ids + len(self.lengths) * 4 + len(self.alive)

    # --- snapshot --------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, "np.ndarray"]:
        """The live index as flat arrays (for `numpy.savez`), compacted first."""
        import numpy as np

        if self.live < len(self.ids):
            self._compact()
        terms = list(self.postings)
        offsets = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum([len(self.postings[t][0]) for t in terms], out=offsets[1:])
        doc_of_slot = [""] * len(self.ids)
        for doc, slots in self.slots_of_doc.items():
            for s in slots:
                doc_of_slot[s] = doc
        return {
            "format": np.array([FORMAT]),
            "collection_id": _text_array([self.collection_id]),
            "terms": _text_array(terms),
            "offsets": offsets,
            "slots": np.frombuffer(b"".join(self.postings[t][0].tobytes() for t in terms), dtype=np.uint32),
            "tfs": np.frombuffer(b"".join(self.postings[t][1].tobytes() for t in terms), dtype=np.uint16),
            "lengths": np.frombuffer(self.lengths, dtype=np.uint32).copy(),
            "ids": _text_array(self.ids),
            "docs": _text_array(doc_of_slot),
        }

    @classmethod
    def from_arrays(cls, data: Any) -> "KeywordIndex":
        """Rebuild an index from `to_arrays()` output (raises ValueError/KeyError when it does not fit)."""
        if int(data["format"][0]) != FORMAT:
            raise ValueError("unknown keyword index format")
        index = cls(_text_list(data["collection_id"])[0])
        index.ids = _text_list(data["ids"])
        docs = _text_list(data["docs"])
        lengths = data["lengths"]
        if not (len(index.ids) == len(docs) == len(lengths)):
            raise ValueError("keyword index arrays disagree")
        index.slot_of = {cid: slot for slot, cid in enumerate(index.ids)}
        for slot, doc in enumerate(docs):
            index.slots_of_doc.setdefault(doc, []).append(slot)
        index.lengths = array("I", lengths.astype("uint32").tobytes())
        index.alive = bytearray(b"\x01" * len(index.ids))
        index.total_length = int(lengths.sum())
        index.live = len(index.ids)
        offsets, slots, tfs = data["offsets"], data["slots"], data["tfs"]
        terms = _text_list(data["terms"])
        if len(offsets) != len(terms) + 1 or int(offsets[-1]) != len(slots) or len(slots) != len(tfs):
            raise ValueError("keyword index postings disagree")
        for i, term in enumerate(terms):
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            index.postings[term] = (array("I", slots[lo:hi].tobytes()), array("H", tfs[lo:hi].tobytes()))
        return index


def _text_array(items: Sequence[str]) -> "np.ndarray":
    import numpy as np

    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8)


def _text_list(data: "np.ndarray") -> list[str]:
    text = data.tobytes().decode("utf-8")
    return text.split("\n") if text else []


class KeywordIndexes:
    """The keyword indexes of all collections, persisted under `root` (None: memory only, for tests and tools).

    The vector store tells it about every change (`add`, `delete_document`, `delete_ids`, `drop`, or `forget`
    after a write that failed half-way); the retriever asks it (`search`) with the collection's id and a way to
    count its chunks, which decide whether it must be rebuilt. With `shared=False` (a store only this process
    writes) the count is checked when an index is loaded and then trusted, since every later change passes
    through here: counting is a scan of the collection (≈15 ms at 100k chunks), too dear for every question.
    A store other clients write too (a Chroma server) is counted on every question.
    """

    def __init__(self, root: Path | None, shared: bool = True) -> None:
        self.root = root
        self.shared = shared
        self._loaded: dict[str, KeywordIndex] = {}
        self._pending: dict[str, int] = {}  # journalled chunks since the last snapshot, per loaded collection
        self._lock = threading.RLock()

    def add(self, name: str, collection_id: str, chunks: Sequence[tuple[str, str, str]]) -> None:
        """Record new (or replaced) chunks: (chunk id, document id, text)."""
        if not chunks:
            return
        with self._lock:
            index = self._loaded.get(name)
            if index is not None:
                index.add(chunks)
                self._pending[name] = self._pending.get(name, 0) + len(chunks)
            self._journal(name, {"add": [list(c) for c in chunks], "collection_id": collection_id})
            if index is not None and self._pending[name] >= COMPACT_AFTER:
                self._snapshot(name, index)

    def delete_document(self, name: str, doc_id: str) -> None:
        """Record that every chunk of a document is gone."""
        with self._lock:
            index = self._loaded.get(name)
            if index is not None:
                index.delete_document(doc_id)
            self._journal(name, {"delete_doc": doc_id})

    def delete_ids(self, name: str, chunk_ids: Sequence[str]) -> None:
        """Record that these chunks are gone."""
        if not chunk_ids:
            return
        with self._lock:
            index = self._loaded.get(name)
            if index is not None:
                index.delete_ids(chunk_ids)
            self._journal(name, {"delete_ids": list(chunk_ids)})

    def forget(self, name: str) -> None:
        """Drop the loaded index (kept files stay): the next search loads it again and checks it against the store."""
        with self._lock:
            self._loaded.pop(name, None)
            self._pending.pop(name, None)

    def drop(self, name: str) -> None:
        """Forget a deleted collection."""
        with self._lock:
            self._loaded.pop(name, None)
            self._pending.pop(name, None)
            if self.root is not None:
                shutil.rmtree(self.root / name, ignore_errors=True)

    def search(
        self,
        name: str,
        question: str,
        n: int,
        collection_id: str,
        count: Callable[[], int],
        all_chunks: Callable[[], Iterable[tuple[str, str, str]]],
    ) -> list[tuple[str, float]]:
        """The `n` best chunks by BM25; `collection_id` and `count()` describe the store's collection now,
        `all_chunks` yields its chunks should the index have to be rebuilt."""
        with self._lock:
            index = self.get(name, collection_id, count, all_chunks)
            return index.search(question, n)

    def get(
        self,
        name: str,
        collection_id: str,
        count: Callable[[], int],
        all_chunks: Callable[[], Iterable[tuple[str, str, str]]],
    ) -> KeywordIndex:
        """The collection's index, loaded or rebuilt so that it matches the store's collection."""
        with self._lock:
            index = self._loaded.get(name)
            verify = index is None or self.shared
            if index is None:
                index = self._load(name)
            if index is None or index.collection_id != collection_id or (verify and index.live != count()):
                index = KeywordIndex(collection_id)
                index.add(all_chunks())
                self._snapshot(name, index)
            self._loaded[name] = index
            return index

    def prepare(
        self,
        name: str,
        collection_id: str,
        count: Callable[[], int],
        all_chunks: Callable[[], Iterable[tuple[str, str, str]]],
    ) -> KeywordIndex:
        """The collection's index loaded (or rebuilt) now and its journal folded into a snapshot: after an ingest the
        first question waits for nothing, and a restart reads one snapshot instead of replaying every chunk."""
        with self._lock:
            index = self.get(name, collection_id, count, all_chunks)
            if self._journalled(name):
                self._snapshot(name, index)
            return index

    def loaded(self, name: str) -> KeywordIndex | None:
        """The collection's index if this process holds it in memory (its next search reads no file)."""
        with self._lock:
            return self._loaded.get(name)

    def next_search(self, name: str) -> Literal["ready", "load", "build"]:
        """What the next search of `name` does first: nothing (`ready`), read its snapshot (`load`, ≈ 0.3 s at 100k
        chunks), or `build` it, replaying a journal or reading every chunk (≈ 0.2–0.4 ms per chunk here)."""
        with self._lock:
            if name in self._loaded:
                return "ready"
            if self.root is not None and (self.root / name / "index.npz").is_file() and not self._journalled(name):
                return "load"
            return "build"

    def memory_bytes(self) -> int:
        """Approximate memory of every loaded index."""
        with self._lock:
            return sum(i.memory_bytes() for i in self._loaded.values())

    # --- files -----------------------------------------------------------------------------------

    def _load(self, name: str) -> KeywordIndex | None:
        """Snapshot + journal from disk; None when there is nothing usable (the caller rebuilds)."""
        if self.root is None:
            return None
        import numpy as np

        folder = self.root / name
        index = KeywordIndex()
        snapshot = folder / "index.npz"
        try:
            if snapshot.is_file():
                with np.load(snapshot, allow_pickle=False) as data:
                    index = KeywordIndex.from_arrays(data)
        except (OSError, ValueError, KeyError, UnicodeDecodeError):
            return None
        journal = folder / "journal.jsonl"
        replayed = 0
        if journal.is_file():
            with journal.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        return None  # a torn write: rebuild rather than guess
                    if "add" in entry:
                        index.collection_id = entry.get("collection_id", index.collection_id)
                        index.add(tuple(c) for c in entry["add"])
                    elif "delete_doc" in entry:
                        index.delete_document(entry["delete_doc"])
                    elif "delete_ids" in entry:
                        index.delete_ids(entry["delete_ids"])
                    replayed += 1
        if replayed:
            self._snapshot(name, index)
        return index

    def _journalled(self, name: str) -> bool:
        """Whether changes wait in the journal (a load would replay them)."""
        return self.root is not None and (self.root / name / "journal.jsonl").is_file()

    def _journal(self, name: str, entry: dict[str, Any]) -> None:
        if self.root is None:
            return
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "journal.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def _snapshot(self, name: str, index: KeywordIndex) -> None:
        """Write the whole index and empty the journal (the snapshot now holds it)."""
        self._pending[name] = 0
        if self.root is None:
            return
        import numpy as np

        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "index.npz") as tmp:
            with tmp.open("wb") as f:
                # numpy's default, named: a ** of arrays could otherwise be read as filling `allow_pickle`
                np.savez(f, allow_pickle=True, **index.to_arrays())
        # The snapshot is complete before the journal goes: a crash in between replays chunks the
        # snapshot already holds, which `add` treats as replacements.
        (folder / "journal.jsonl").unlink(missing_ok=True)
