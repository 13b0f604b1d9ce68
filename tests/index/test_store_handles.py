"""Collection handles kept between questions on the on-disk store stay right when the collection changes underneath."""

from __future__ import annotations

from pathlib import Path

from core.base.chunks import Chunk
from core.config import Settings
from core.index.store import VectorStore


def test_a_kept_collection_handle_follows_a_collection_deleted_and_made_again_through_the_client(
    tmp_path: Path,
) -> None:
    store = VectorStore.open(Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data"))
    try:
        store.create_collection("docs", "m", 100, 10)
        store.add_chunks("docs", [Chunk("a-00000", "a", "a.txt", 1, "the old pump text")], [[1.0, 0.0]])
        assert [h.chunk.chunk_id for h in store.query("docs", [1.0, 0.0], 1)] == ["a-00000"]
        assert "docs" in store._handles  # kept for the next question
        # LangChain interop writes through `client`: the kept handle now names a deleted collection.
        store.client.delete_collection("docs")
        remade = store.client.create_collection("docs", metadata={"embedding_model": "m"}, embedding_function=None)
        remade.add(
            ids=["b-00000"],
            embeddings=[[1.0, 0.0]],
            documents=["the new pump text"],
            metadatas=[{"doc_id": "b", "source": "b.txt", "page": 1, "start": 0, "end": 17}],
        )
        assert [h.chunk.chunk_id for h in store.query("docs", [1.0, 0.0], 1)] == ["b-00000"]
        assert [c.chunk_id for c in store.get_chunks("docs", ["b-00000"])] == ["b-00000"]
        store.check_embedding_model("docs", "m")
        store.delete_collection("docs")
        assert "docs" not in store._handles
        store.create_collection("docs", "m", 100, 10)
        assert store.query("docs", [1.0, 0.0], 1) == []  # the re-created collection, not the deleted one
    finally:
        store.close()
