"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF, and checks that llama.cpp will accept it.

The layout follows llama.cpp's `convert_lora_to_gguf.py` and its loader (`llama-adapter.cpp`):
- keys `general.type = "adapter"`, `general.architecture` = the base's, `adapter.type = "lora"`,
  `adapter.lora.alpha` (float32); llama.cpp scales the product by alpha / rank like PEFT;
- for each adapted weight `blk.N.attn_q.weight` two tensors `…weight.lora_a` and `…weight.lora_b`,
  written from PEFT's `lora_A` (rank × in) and `lora_B` (out × rank) as they are, which gives the
  GGUF shapes llama.cpp checks: lora_a ne = (in, rank), lora_b ne = (rank, out).

llama-cpp-python does not report a bad adapter; it crashes at the first token. So
`validate_lora_gguf` checks everything the loader checks with the gguf reader, and `smoke_generate`
runs llama.cpp in a child process, where a crash cannot take the app down.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core.errors import VariantError
from core.fsutil import atomic_path

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


def gguf_arch(reader: Any) -> str:
    """The `general.architecture` of an open GGUFReader."""
    field = reader.fields.get("general.architecture")
    if field is None:
        raise VariantError("The base GGUF has no general.architecture key: it is not a llama.cpp model file.")
    return str(field.contents())


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return field.contents() if field is not None else default


def base_header(gguf_path: Path) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """(scalar metadata, tensor name -> GGUF shape) of a GGUF file, read in ~0.05 s.

    gguf's GGUFReader needs ~10 s on a model because it decodes the whole vocabulary; a model's
    scalars and tensor table are all a check or a conversion needs.
    """
    from core.engines.embedded import read_gguf_header

    try:
        header = read_gguf_header(Path(gguf_path))
    except Exception as exc:  # noqa: BLE001 - a damaged file raises struct.error, ValueError, OSError…
        raise VariantError(f"{Path(gguf_path).name} cannot be read as a GGUF file ({exc}): check or rebuild the file.") from exc
    if not header.metadata.get("general.architecture"):
        raise VariantError(f"{Path(gguf_path).name} has no general.architecture key: it is not a llama.cpp model file.")
    return dict(header.metadata), dict(header.tensors)


def _permute_rows(b: Any, n_head: int) -> Any:
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
    if cfg.get("peft_type", "LORA") != "LORA" or cfg.get("use_dora") or cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise VariantError("Only plain LoRA adapters (no DoRA, no per-layer rank or alpha) can be written for llama.cpp.")
    meta, shapes = base_header(base_gguf)
    arch = str(meta["general.architecture"])
    if arch not in _SAME_LAYOUT | _PERMUTED_QK:
        raise VariantError(f"Writing a LoRA for a {arch!r} base GGUF is not supported yet: use a Gemma, Qwen or Llama model.")
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
            raise VariantError(f"Unexpected tensor {key} in the adapter: only lora_A/lora_B weights can be written for llama.cpp.")

    rank = int(cfg.get("r", 0))
    weights = []
    for hf_name, ab in sorted(pairs.items()):
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight",))
        if gguf_name is None or gguf_name not in base_names:
            raise VariantError(f"Adapter weight {hf_name} has no counterpart in the base GGUF: was it trained on another model?")
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


def validate_lora_gguf(path: Path, base_gguf: Path) -> dict[str, Any]:
    """Check a LoRA GGUF against its base the way llama.cpp's loader does; raise VariantError if bad."""
    import gguf
    import numpy as np

    path, base_gguf = Path(path), Path(base_gguf)
    if not path.is_file():
        raise VariantError(f"Adapter file {path} does not exist: train or convert the adapter again.")
    if not base_gguf.is_file():
        raise VariantError(f"Base model file {base_gguf} does not exist: the adapter cannot be used without it.")
    base_meta, base_shapes = base_header(base_gguf)
    base_arch = str(base_meta["general.architecture"])
    bad = f"{path.name} is not a usable LoRA for {base_gguf.name}"
    try:
        if base_header(path)[0].get("general.type") != "adapter":
            # checked on the header first: a whole model read by GGUFReader would take seconds
            raise VariantError(f"{bad}: it is not marked as a LoRA adapter (general.type).")
        reader = gguf.GGUFReader(str(path))
    except VariantError:
        raise
    except (ValueError, OSError) as exc:
        raise VariantError(f"{path.name} is not a readable GGUF file ({exc}): convert the adapter again.") from exc
    if _field(reader, "general.type") != "adapter" or _field(reader, "adapter.type") != "lora":
        raise VariantError(f"{bad}: it is not marked as a LoRA adapter (general.type/adapter.type).")
    if _field(reader, "general.architecture") != base_arch:
        raise VariantError(f"{bad}: it was made for {_field(reader, 'general.architecture')!r}, the base is {base_arch!r}.")
    alpha = _field(reader, "adapter.lora.alpha")
    if not isinstance(alpha, float) or not alpha > 0:
        raise VariantError(f"{bad}: adapter.lora.alpha is missing or not positive.")
    halves: dict[str, dict[str, Any]] = {}
    for t in reader.tensors:
        for suffix in (".lora_a", ".lora_b"):
            if t.name.endswith(suffix):
                halves.setdefault(t.name[: -len(suffix)], {})[suffix[-1]] = t
                break
        else:
            if not t.name.endswith("_norm.weight"):
                raise VariantError(f"{bad}: tensor {t.name} has an unexpected name.")
    if not halves:
        raise VariantError(f"{bad}: it holds no LoRA tensor.")
    ranks = set()
    for name, ab in halves.items():
        if set(ab) != {"a", "b"}:
            raise VariantError(f"{bad}: {name} lacks its lora_a or lora_b tensor.")
        if name not in base_shapes:
            raise VariantError(f"{bad}: the base has no tensor {name} (wrong base model?).")
        a, b, ne = [int(x) for x in ab["a"].shape], [int(x) for x in ab["b"].shape], list(base_shapes[name])
        if len(a) != 2 or len(b) != 2 or ne[0] != a[0] or ne[1] != b[1] or a[1] != b[0]:
            raise VariantError(f"{bad}: {name} has lora_a {a} / lora_b {b} for a base tensor of {ne} (wrong base model?).")
        for half in (ab["a"], ab["b"]):
            if half.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
                raise VariantError(f"{bad}: {half.name} is {half.tensor_type.name}; only F32/F16 are written here.")
            if not np.isfinite(np.asarray(half.data, dtype=np.float32)).all():
                raise VariantError(f"{bad}: {half.name} contains NaN or infinite values (training diverged: lower the learning rate).")
        ranks.add(a[1])
    return {"tensors": len(halves), "rank": sorted(ranks), "alpha": alpha, "architecture": base_arch}


_SMOKE_CODE = r"""
import json, sys
from llama_cpp import Llama
args = json.loads(sys.argv[1])
llm = Llama(model_path=args["model"], lora_path=args["lora"] or None, n_ctx=512, n_threads=1, n_threads_batch=2, seed=0, verbose=False)
outs = [llm.create_completion(p, max_tokens=args["max_tokens"], temperature=0.0, stop=args["stop"])["choices"][0]["text"] for p in args["prompts"]]
print(json.dumps(outs))
"""


def smoke_generate(model_gguf: Path, prompts: Sequence[str], lora: Path | None = None, max_tokens: int = 24,
                   stop: Sequence[str] = ("\n\n", "\nQuestion:"), timeout_s: float = 180.0) -> list[str]:
    """Greedy completions from llama.cpp run in a child process (a bad file crashes the child, not us)."""
    payload = json.dumps({"model": str(model_gguf), "lora": str(lora) if lora else "", "prompts": list(prompts),
                          "max_tokens": max_tokens, "stop": list(stop)})
    try:
        proc = subprocess.run([sys.executable, "-c", _SMOKE_CODE, payload], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise VariantError(f"llama.cpp did not answer within {timeout_s:.0f} s with {Path(model_gguf).name}: the machine may be overloaded; try again.") from None
    if proc.returncode != 0:
        what = f"{Path(model_gguf).name}" + (f" with adapter {Path(lora).name}" if lora else "")
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise VariantError(f"llama.cpp could not run {what} (exit {proc.returncode}: {' | '.join(tail)}): the file is not usable; build the variant again.")
    try:
        return list(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        raise VariantError(f"llama.cpp gave no readable answer for {Path(model_gguf).name}: build the variant again.") from None
