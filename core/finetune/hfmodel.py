"""The base model's weights for training, loaded from the same GGUF the engine serves.

transformers (≥ 5) reads a GGUF directly and dequantises it, but that takes ~50 s for Gemma 3 270M
here (tokenizer ~18 s, weights ~35 s); the result is saved once as an HF folder under the data
directory so later runs load in seconds. torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.files import atomic_path
from core.errors import FineTuneError

_DONE = "converted.json"


@dataclass(frozen=True)
class BaseSource:
    """Where the base weights come from: a GGUF file or a Hugging Face model folder."""

    gguf: Path | None = None
    hf_dir: Path | None = None

    def __post_init__(self) -> None:
        if (self.gguf is None) == (self.hf_dir is None):
            raise FineTuneError("Give the base model as exactly one of a GGUF file or a Hugging Face model folder.")

    @property
    def label(self) -> str:
        """A short name for messages and records."""
        path = self.gguf or self.hf_dir
        return path.name if path is not None else ""  # one of them is set (checked above)


def gguf_fingerprint(path: Path) -> str:
    """A quick identity of a GGUF: size plus hashes of its head and tail (full hashing of GBs is slow)."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def cache_dir_for(gguf: Path, cache_root: Path) -> Path:
    """The HF folder a GGUF is converted into."""
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(gguf).stem)[:60]
    return Path(cache_root) / f"{stem}-{gguf_fingerprint(gguf)}"


def is_converted(gguf: Path, cache_root: Path) -> bool:
    """Whether the GGUF already has a complete HF conversion in the cache."""
    return (cache_dir_for(gguf, cache_root) / _DONE).is_file()


def _clear_quantizer(model: Any) -> None:
    # The GGUF loader leaves a quantizer and a quantization_config behind although the weights are
    # dequantised; with them, peft/training and save_pretrained refuse the model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def convert_gguf(gguf: Path, cache_root: Path) -> Path:
    """Dequantise a GGUF into a cached HF folder (model + tokenizer) and return the folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    target = cache_dir_for(gguf, cache_root)
    if (target / _DONE).is_file():
        return target
    if not gguf.is_file():
        raise FineTuneError(f"Base model file {gguf} does not exist: check the engine's model path.")
    started = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise FineTuneError(
            f"transformers cannot load {gguf.name} for training ({exc}): its architecture may not be supported; "
            "use a Hugging Face model folder of the same model instead."
        ) from exc
    _clear_quantizer(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:  # the folder appears whole, marker included, or not at all
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / _DONE).write_text(
            json.dumps({"gguf": str(gguf), "seconds": round(time.perf_counter() - started, 1)}), encoding="utf-8"
        )
    return target


def load_base(source: BaseSource, cache_root: Path, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) in float32 on `device`, from the cached conversion when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if source.gguf is not None:
        folder = convert_gguf(source.gguf, cache_root)
    elif source.hf_dir is not None:
        folder = Path(source.hf_dir)
    else:
        raise FineTuneError("Give the base model as exactly one of a GGUF file or a Hugging Face model folder.")
    if not (folder / "config.json").is_file():
        raise FineTuneError(
            f"{folder} is not a Hugging Face model folder (no config.json): give a GGUF file or a model folder."
        )
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    _clear_quantizer(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    # transformers wraps `to` in a decorator whose type loses the method binding (it expects the model as an argument)
    return model.to(device), tokenizer  # type: ignore[arg-type]


def pick_device(requested: str = "auto") -> str:
    """'cuda' when a GPU is present (or requested), else 'cpu'."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise FineTuneError("A GPU was requested for training but torch sees none: use device 'auto' or 'cpu'.")
    return requested
