"""More than 1,000 chunks survive a restart of the app (on-disk store) and of a `chroma run` server (issue 10, item 3).

Chroma has reports of embeddings past the first ~1,000 lost on restart; these tests write 3,000 chunks with
precomputed vectors (the embedding model is not what is under test), restart, and count them in a new process.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.base.chunks import Chunk
from core.config import Settings
from core.index.store import VectorStore
from tests.helpers.chroma_server import chroma_server

ROOT = Path(__file__).resolve().parents[2]
COUNT = 3000
PROBE = 2345  # a chunk far past the first thousand: the vector index must still find it by its own vector


def _chunks() -> tuple[list[Chunk], np.ndarray]:
    vectors = np.random.default_rng(7).standard_normal((COUNT, 384)).astype(np.float32)  # seeded: the same every run
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [
        Chunk(
            f"doc{i // 100:03d}-{i:05d}", f"doc{i // 100:03d}", f"doc{i // 100:03d}.txt", 1, f"Chunk {i} of the manual."
        )
        for i in range(COUNT)
    ]
    return chunks, vectors


def _write(settings: Settings) -> set[str]:
    chunks, vectors = _chunks()
    store = VectorStore.open(settings)
    store.create_collection("manuals", "test-vectors", 1000, 150)
    store.add_chunks("manuals", chunks, vectors.tolist())
    assert store.count("manuals") == COUNT
    store.close()
    return {c.chunk_id for c in chunks}


def _read_in_new_process(settings: Settings) -> dict:
    """What a freshly started app sees: count, ids, and the nearest chunk to the probe's vector."""
    _, vectors = _chunks()
    script = (
        "import json, sys; from core.config import Settings; from core.index.store import VectorStore\n"
        "a = json.loads(sys.argv[1]); s = Settings.from_env(env={}, dotenv=None, data_dir=a['data'], "
        "chroma_host=a['host'], chroma_port=a['port'])\n"
        "st = VectorStore.open(s)\n"
        "print(json.dumps({'count': st.count('manuals'), 'ids': st.chunk_ids('manuals'),"
        " 'nearest': st.query('manuals', a['probe'], 1)[0].chunk.chunk_id}))\n"
    )
    arg = json.dumps(
        {
            "data": str(settings.data_dir),
            "host": settings.chroma_host,
            "port": settings.chroma_port,
            "probe": vectors[PROBE].tolist(),
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", script, arg], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_3000_chunks_on_disk_are_all_there_after_the_app_restarts(settings: Settings) -> None:
    ids = _write(settings)
    seen = _read_in_new_process(settings)
    assert seen["count"] == COUNT and set(seen["ids"]) == ids
    assert seen["nearest"] == f"doc{PROBE // 100:03d}-{PROBE:05d}"


@pytest.mark.slow
def test_3000_chunks_on_a_chroma_server_are_all_there_after_the_server_restarts(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "chroma-server-data"
    with chroma_server(path) as port:
        ids = _write(dataclasses.replace(settings, chroma_host="127.0.0.1", chroma_port=port))
    with chroma_server(path) as port:  # a new `chroma run` process on the same folder
        seen = _read_in_new_process(dataclasses.replace(settings, chroma_host="127.0.0.1", chroma_port=port))
    assert seen["count"] == COUNT and set(seen["ids"]) == ids
    assert seen["nearest"] == f"doc{PROBE // 100:03d}-{PROBE:05d}"
