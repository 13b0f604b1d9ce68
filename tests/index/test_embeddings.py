"""The bundled embedder: a few texts (a question) take a shorter path than a batch, with the very same vectors."""

from __future__ import annotations

import numpy as np

from core.index.embeddings import SMALL_BATCH, SentenceTransformerEmbedder


def test_a_small_batch_gets_the_same_normalised_vectors_as_sentence_transformers_encode(
    embedder: SentenceTransformerEmbedder,
) -> None:
    texts = [
        "What is the maximum load of the door?",
        "Clean the coarse filter every week under running water. " * 40,
        "",
    ]
    assert len(texts) <= SMALL_BATCH
    ours = np.array(embedder.embed(texts))
    reference = embedder._load().encode(texts, normalize_embeddings=True, show_progress_bar=False)
    assert ours.shape == (3, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.allclose(ours, reference, atol=1e-6)
    # A long batch takes `encode` itself: the two paths agree on a text they share.
    batch = np.array(embedder.embed(texts * SMALL_BATCH))
    assert np.allclose(batch[:3], ours, atol=1e-6)
