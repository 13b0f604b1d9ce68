"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF, and checks that llama.cpp will accept it.

The layout follows llama.cpp's `convert_lora_to_gguf.py` and its loader (`llama-adapter.cpp`):
- keys `general.type = "adapter"`, `general.architecture` = the base's, `adapter.type = "lora"`,
  `adapter.lora.alpha` (float32); llama.cpp scales the product by alpha / rank like PEFT;
- for each adapted weight `blk.N.attn_q.weight` two tensors `…weight.lora_a` and `…weight.lora_b`,
  written from PEFT's `lora_A` (rank × in) and `lora_B` (out × rank) as they are, which gives the
  GGUF shapes llama.cpp checks: lora_a ne = (in, rank), lora_b ne = (rank, out).

The written file is checked with `core.engines.gguf_files.validate_lora_gguf` before it replaces the
target (llama-cpp-python would crash on a bad adapter instead of reporting it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.base.files import atomic_path
from core.engines.gguf_files import base_header, validate_lora_gguf
from core.errors import VariantError

if TYPE_CHECKING:  # gguf and numpy are imported where an adapter is converted
    import gguf
    import numpy as np
    import numpy.typing as npt

# Architectures whose GGUF stores attention/MLP weights exactly as the HF checkpoint does.
_SAME_LAYOUT = {"gemma", "gemma2", "gemma3", "qwen2", "qwen3", "starcoder2", "stablelm", "granite"}
# llama.cpp's converter reorders the rows of q/k for these (rotary layout); LoRA B rows must follow.
_PERMUTED_QK = {"llama"}


@dataclass(frozen=True)
class LoraWeight:
    """One adapted weight: its GGUF base tensor name and the A (r×in) / B (out×r) float32 arrays."""

    base_name: str
    a: Any
    b: Any


@dataclass(frozen=True)
class Adapter:
    """A PEFT adapter read into GGUF terms."""

    weights: list[LoraWeight]
    alpha: float  # as llama.cpp applies it: scale = alpha / rank
    rank: int
    arch: str


def gguf_arch(reader: gguf.GGUFReader) -> str:
    """The `general.architecture` of an open GGUFReader."""
    field = reader.fields.get("general.architecture")
    if field is None:
        raise VariantError("The base GGUF has no general.architecture key: it is not a llama.cpp model file.")
    return str(field.contents())


def _permute_rows(b: npt.NDArray[np.float32], n_head: int) -> npt.NDArray[np.float32]:
    # The same row reordering llama.cpp's converter applies to q/k weights (its `permute`).
    return b.reshape(n_head, 2, b.shape[0] // n_head // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def read_adapter(adapter_dir: Path, base_gguf: Path) -> Adapter:
    """Read a PEFT adapter folder and map its tensors onto the base GGUF's tensor names."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    try:
        cfg = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
        tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    except (OSError, ValueError) as exc:
        raise VariantError(f"{adapter_dir} is not a readable PEFT LoRA adapter ({exc}): train it again.") from exc
    if (
        cfg.get("peft_type", "LORA") != "LORA"
        or cfg.get("use_dora")
        or cfg.get("rank_pattern")
        or cfg.get("alpha_pattern")
    ):
        raise VariantError(
            "Only plain LoRA adapters (no DoRA, no per-layer rank or alpha) can be written for llama.cpp."
        )
    meta, shapes = base_header(base_gguf)
    arch = str(meta["general.architecture"])
    if arch not in _SAME_LAYOUT | _PERMUTED_QK:
        raise VariantError(
            f"Writing a LoRA for a {arch!r} base GGUF is not supported yet: use a Gemma, Qwen or Llama model."
        )
    n_blocks = int(meta.get(f"{arch}.block_count", 0))
    arch_enum = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
    names = gguf.get_tensor_name_map(arch_enum, n_blocks)
    base_names = set(shapes)

    pairs: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        for marker, part in ((".lora_A.weight", "a"), (".lora_B.weight", "b")):
            if key.endswith(marker):
                hf_name = key[: -len(marker)].replace("base_model.model.", "", 1) + ".weight"
                pairs.setdefault(hf_name, {})[part] = value.astype(np.float32)
                break
        else:
            raise VariantError(
                f"Unexpected tensor {key} in the adapter: only lora_A/lora_B weights can be written for llama.cpp."
            )

    rank = int(cfg.get("r", 0))
    weights = []
    for hf_name, ab in sorted(pairs.items()):
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight",))
        if gguf_name is None or gguf_name not in base_names:
            raise VariantError(
                f"Adapter weight {hf_name} has no counterpart in the base GGUF: was it trained on another model?"
            )
        if "a" not in ab or "b" not in ab:
            raise VariantError(f"Adapter weight {hf_name} lacks its lora_A or lora_B half: train it again.")
        a, b = ab["a"], ab["b"]
        rank = a.shape[0]
        if arch in _PERMUTED_QK and gguf_name.endswith(("attn_q.weight", "attn_k.weight")):
            heads_key = "attention.head_count" if gguf_name.endswith("attn_q.weight") else "attention.head_count_kv"
            n_head = int(meta.get(f"{arch}.{heads_key}") or meta[f"{arch}.attention.head_count"])
            b = _permute_rows(b, n_head)
        weights.append(LoraWeight(gguf_name, np.ascontiguousarray(a), np.ascontiguousarray(b)))
    if not weights:
        raise VariantError(f"{adapter_dir} holds no LoRA weight: train it again.")
    alpha = float(cfg.get("lora_alpha", rank))
    if cfg.get("use_rslora"):
        # rsLoRA scales by alpha / sqrt(r); llama.cpp divides by r, so fold the difference into alpha.
        alpha = alpha * math.sqrt(rank)
    return Adapter(weights, alpha, rank, arch)


def peft_to_lora_gguf(adapter_dir: Path, base_gguf: Path, out_path: Path) -> Path:
    """Write the PEFT adapter in `adapter_dir` as a llama.cpp LoRA GGUF for `base_gguf`; validate it."""
    import gguf

    adapter = read_adapter(adapter_dir, base_gguf)
    meta, _ = base_header(base_gguf)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), adapter.arch)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, adapter.alpha)
        name = meta.get("general.name")
        if name:
            writer.add_string("general.name", f"{name} LoRA")
        for w in adapter.weights:
            writer.add_tensor(w.base_name + ".lora_a", w.a)
            writer.add_tensor(w.base_name + ".lora_b", w.b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        validate_lora_gguf(tmp, base_gguf)  # only a valid adapter replaces the target
    return out_path
