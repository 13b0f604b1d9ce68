"""The loaded MiniLM, exported once to ONNX in memory, for the few texts a question needs (≈ 3× faster).

A question's embedding was the largest part of a retrieval at 100k chunks: ≈ 10 ms in PyTorch, most of
it per-operator overhead on a 10-token input, against ≈ 3.6 ms for the same graph in onnxruntime (both
cores free; 5.7 against ≈ 12 ms on one). The graph is exported from the model already loaded (no file,
nothing downloaded), so its vectors are the PyTorch ones to float rounding (tested). Two sessions, one
and two threads, share the weights; the caller picks one by the cores other processes leave free
(core/cpu.py).

Exporting takes ≈ 3 s, so it runs on a background thread that the app starts with its services
(one-shot CLI commands do not); questions asked before it finishes use PyTorch. Where `onnx` or
`onnxruntime` is missing or the export fails, PyTorch stays.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # sentence-transformers pulls in torch: imported where a model is loaded
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


class OnnxQuestionEncoder:
    """Mean-pooled, normalised sentence vectors from an ONNX export of a sentence-transformers BERT model."""

    def __init__(self, model: SentenceTransformer) -> None:
        """Export `model` (a loaded SentenceTransformer of Transformer + mean Pooling) and open its sessions."""
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        self._model = model
        graph = _export(model)
        proto = onnx.load_from_string(graph)
        # One copy of the weights for both sessions (each would otherwise hold its own ≈ 90 MB).
        self._weights = {
            t.name: ort.OrtValue.ortvalue_from_numpy(numpy_helper.to_array(t)) for t in proto.graph.initializer
        }
        del proto
        self._sessions = {threads: self._session(ort, graph, threads) for threads in (1, 2)}

    def _session(self, ort: ModuleType, graph: bytes, threads: int) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No spin-waiting after a run: llama.cpp reads the prompt right after retrieval, on the same two cores
        # (spinning is ≈ 0.4 ms faster per question on an idle machine, and steals a core from what follows).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for name, value in self._weights.items():
            options.add_initializer(name, value)
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str], threads: int) -> Any:
        """Normalised vectors (a numpy array, one row per text), on 1 or 2 threads."""
        import numpy as np

        features = self._model.preprocess(list(texts))  # the model's own tokenizer, truncation and padding
        feeds = {
            "input_ids": features["input_ids"].numpy().astype(np.int64),
            "attention_mask": features["attention_mask"].numpy().astype(np.int64),
        }
        return self._sessions[2 if threads >= 2 else 1].run(None, feeds)[0]


def _export(model: SentenceTransformer) -> bytes:
    """The model's transformer, mean pooling and normalisation as one ONNX graph (bytes)."""
    import torch

    found = model[0].auto_model
    if not isinstance(found, torch.nn.Module):  # `exportable` let only a transformer module through
        raise TypeError(f"{type(model[0]).__name__}.auto_model is not a torch module")
    transformer: torch.nn.Module = found

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    sample = model.preprocess(["a question", "a slightly longer second question"])
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's tracing notes about Python conditionals
        # The TorchScript exporter (dynamo=False) writes to a file object as well as to a path; the signature
        # names only paths, after the newer exporter that does not.
        torch.onnx.export(
            Sentence().eval(),
            (sample["input_ids"], sample["attention_mask"]),
            buffer,  # type: ignore[arg-type]
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


def exportable(model: SentenceTransformer) -> bool:
    """Whether `model` is the shape this export handles: a BERT-like transformer followed by mean pooling only."""
    try:
        modules = list(model)
    except TypeError:
        return False
    return (
        len(modules) in (2, 3)
        and hasattr(modules[0], "auto_model")
        and getattr(modules[1], "pooling_mode", None) == "mean"
        and (len(modules) == 2 or type(modules[2]).__name__ == "Normalize")
    )


def build_in_background(
    model: SentenceTransformer, done: Callable[[OnnxQuestionEncoder], None]
) -> threading.Thread | None:
    """Start exporting `model` on a daemon thread; `done(encoder)` is called when it is ready (never on failure)."""
    if not exportable(model):
        log.info(
            "question encoder: %s is not Transformer + mean pooling; questions stay on PyTorch", type(model).__name__
        )
        return None

    def run() -> None:
        try:
            encoder = OnnxQuestionEncoder(model)
        except Exception as exc:  # noqa: BLE001 (missing packages, an exporter that cannot trace this model)
            log.warning(
                "question encoder: ONNX export failed (%s: %s); questions stay on PyTorch", type(exc).__name__, exc
            )
            return
        done(encoder)

    thread = threading.Thread(target=run, name="question-encoder-export", daemon=True)
    thread.start()
    return thread
