"""A LoRA adapter merged into a copy of the base GGUF (for Ollama, which refuses `ADAPTER` now).

Only the tensors the adapter targets change: they are dequantised, get `B @ A * alpha / r` added,
and are written as F16 (or F32). Every other tensor is copied byte for byte in its original quant
type, and every metadata key of the base is kept with its value (tokenizer, template, stop tokens),
so the merged model behaves like the base everywhere the adapter does not reach. The file is
written tensor by tensor, so memory stays near one tensor's size plus the adapter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.files import atomic_path
from core.engines.gguf_files import validate_lora_gguf
from core.errors import VariantError
from core.finetune.lora_gguf import LoraWeight, gguf_arch, read_adapter


@dataclass(frozen=True)
class MergeReport:
    """What a merge did."""

    path: Path
    merged_tensors: int
    copied_tensors: int
    out_type: str
    size_bytes: int
    seconds: float


def read_lora_gguf(path: Path, base_gguf: Path) -> tuple[list[LoraWeight], float]:
    """The (validated) weights and alpha of a llama.cpp LoRA GGUF, A as r×in and B as out×r."""
    import gguf
    import numpy as np

    validate_lora_gguf(path, base_gguf)
    reader = gguf.GGUFReader(str(path))
    halves: dict[str, dict[str, Any]] = {}
    for t in reader.tensors:
        if t.name.endswith((".lora_a", ".lora_b")):
            # the reader's array shape is the GGUF shape reversed: lora_a (r, in), lora_b (out, r)
            halves.setdefault(t.name[:-7], {})[t.name[-1]] = np.asarray(t.data, dtype=np.float32)
    alpha = float(reader.fields["adapter.lora.alpha"].contents())
    return [LoraWeight(name, ab["a"], ab["b"]) for name, ab in sorted(halves.items())], alpha


def merge_lora(base_gguf: Path, adapter: Path, out_path: Path, out_type: str = "F16") -> MergeReport:
    """Write `out_path`: the base GGUF with the adapter (PEFT folder or LoRA GGUF) merged in."""
    import gguf
    import numpy as np

    started = time.perf_counter()
    base_gguf, adapter, out_path = Path(base_gguf), Path(adapter), Path(out_path)
    if out_type not in ("F16", "F32"):
        raise VariantError(f"Merged tensors can be written as F16 or F32, not {out_type}.")
    reader = gguf.GGUFReader(str(base_gguf))
    if adapter.is_dir():
        parsed = read_adapter(adapter, base_gguf)
        weights, alpha = parsed.weights, parsed.alpha
    else:
        weights, alpha = read_lora_gguf(adapter, base_gguf)
    by_name = {w.base_name: w for w in weights}
    np_type = np.float16 if out_type == "F16" else np.float32
    qtype = gguf.GGMLQuantizationType[out_type]

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:  # a failed merge leaves no half file behind
        writer = gguf.GGUFWriter(str(tmp), gguf_arch(reader))
        for field in reader.fields.values():
            # GGUF.* are the header's own counts; the writer adds general.architecture itself
            if field.name.startswith("GGUF.") or field.name == "general.architecture":
                continue
            vtype = field.types[0]
            sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub_type)
            if field.name == "general.alignment":
                writer.data_alignment = int(field.contents())

        for t in reader.tensors:
            if t.name in by_name:
                rows, cols = int(t.shape[1]), int(t.shape[0])  # GGUF shape is (in, out)
                writer.add_tensor_info(
                    t.name, (rows, cols), np.dtype(np_type), rows * cols * np.dtype(np_type).itemsize, qtype
                )
            else:
                writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()

        for t in reader.tensors:
            w = by_name.get(t.name)
            if w is None:
                writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
                continue
            try:
                weight = gguf.quants.dequantize(t.data, t.tensor_type)
            except NotImplementedError:
                writer.close()
                raise VariantError(
                    f"{t.name} of {base_gguf.name} is {t.tensor_type.name}, which cannot be dequantised here: use a "
                    "base with K- or legacy quants, F16 or F32."
                ) from None
            rank = w.a.shape[0]
            merged = weight.reshape(w.b.shape[0], w.a.shape[1]).astype(np.float32) + (w.b @ w.a) * (alpha / rank)
            if not np.isfinite(merged).all() or (out_type == "F16" and np.abs(merged).max() > 65000):
                writer.close()
                raise VariantError(
                    f"Merging gives out-of-range values in {t.name}: the adapter is broken (train again with a lower "
                    "learning rate)."
                )
            writer.write_tensor_data(np.ascontiguousarray(merged.astype(np_type)))
        writer.close()
    return MergeReport(
        out_path,
        len(by_name),
        len(reader.tensors) - len(by_name),
        out_type,
        out_path.stat().st_size,
        round(time.perf_counter() - started, 2),
    )


def metadata_of(path: Path) -> dict[str, Any]:
    """Every metadata key of a GGUF with its value (the header's GGUF.* counts left out)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    return {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}
