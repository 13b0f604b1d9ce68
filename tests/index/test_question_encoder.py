"""Questions embedded on onnxruntime (an in-memory ONNX export of the loaded MiniLM) get the PyTorch vectors."""

from __future__ import annotations

import numpy as np
import pytest

from core.index.embeddings import SMALL_BATCH, SentenceTransformerEmbedder


@pytest.fixture(scope="module")
def both() -> tuple[SentenceTransformerEmbedder, SentenceTransformerEmbedder]:
    onnx, torch_only = SentenceTransformerEmbedder(), SentenceTransformerEmbedder(onnx_questions=False)
    assert onnx.question_encoder_ready(timeout_s=300), "the export to ONNX failed (see the log)"
    assert not torch_only.question_encoder_ready()
    return onnx, torch_only


@pytest.mark.slow
def test_questions_on_onnxruntime_get_the_pytorch_vectors_for_short_long_and_mixed_batches(both) -> None:
    onnx, torch_only = both
    long_text = " ".join(
        f"clause {i} of the agreement binds the licensee" for i in range(120)
    )  # past the 256-token cut
    batches = [
        ["How often is the filter cleaned?"],
        ["Who wrote the opinion?", "What was the median follow-up in the cohort of 156 patients?", long_text],
        [f"question number {i} about the pump" for i in range(SMALL_BATCH)],
    ]
    for texts in batches:
        a, b = np.array(onnx.embed(texts)), np.array(torch_only.embed(texts))
        assert a.shape == b.shape == (len(texts), 384)
        assert np.abs(a - b).max() < 1e-4
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_both_thread_counts_give_the_same_vectors(both) -> None:
    onnx, _ = both
    encoder = onnx._encoder
    assert encoder is not None
    texts = ["When was the case argued?", "What is the warranty period?"]
    assert np.abs(encoder.embed(texts, 1) - encoder.embed(texts, 2)).max() < 1e-5
