"""GGUF files: a fast header reader, the checks a LoRA adapter must pass, and a crash-proof llama.cpp run.

- `read_gguf_header`: scalar metadata and the tensor table in ~0.05 s (gguf's GGUFReader needs ~10 s on
  a model because it decodes the 262k-entry vocabulary), cached per file version.
- `validate_lora_gguf`: everything llama.cpp's loader checks in an adapter, so a bad file is a message,
  not a crash at the first token (llama-cpp-python does not report a bad adapter).
- `smoke_generate`: llama.cpp run in a child process, where a crash cannot take the app down.
"""

from __future__ import annotations

import json
import mmap
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from core.errors import VariantError

if TYPE_CHECKING:  # gguf (and numpy with it) is imported only where a file is validated
    import gguf

_HEADERS: dict[tuple[str, int, int], "GGUFHeader"] = {}
_VALIDATED: dict[tuple[tuple[str, int, int], tuple[str, int, int]], dict[str, Any]] = {}
_TABLES_LOCK = threading.Lock()


def file_key(path: Path) -> tuple[str, int, int]:
    """A file's identity and version: (resolved path, size, modification time in ns)."""
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True)
class GGUFHeader:
    """The scalar metadata (arrays skipped) and the tensor table (name -> shape, ggml order) of a GGUF."""

    metadata: dict[str, Any]
    tensors: dict[str, tuple[int, ...]]


def read_gguf_header(path: Path) -> GGUFHeader:
    """Read a GGUF's header quickly, cached per file version.

    gguf's GGUFReader takes ~10 s on the bundled model (it decodes the 262k-entry vocabulary);
    this reader skips arrays and reads the rest in ~0.05 s.
    """
    key = file_key(path)
    with _TABLES_LOCK:
        if key in _HEADERS:
            return _HEADERS[key]
    header = _read_header(path)
    with _TABLES_LOCK:
        _HEADERS[key] = header
    return header


def _read_header(path: Path) -> GGUFHeader:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        (version,) = struct.unpack_from("<I", mm, 4)
        if version < 2:
            raise ValueError(f"{path} is GGUF version {version}; only version 2 and later are supported")
        n_tensors, n_kv = struct.unpack_from("<QQ", mm, 8)
        pos = 24

        def read_string(at: int) -> tuple[str, int]:
            (n,) = struct.unpack_from("<Q", mm, at)
            return mm[at + 8 : at + 8 + n].decode("utf-8", "replace"), at + 8 + n

        def skip_value(at: int, vtype: int) -> int:
            if vtype == 8:
                (n,) = struct.unpack_from("<Q", mm, at)
                return at + 8 + n
            if vtype == 9:
                etype, count = struct.unpack_from("<IQ", mm, at)
                at += 12
                if etype in _GGUF_SCALARS:
                    return at + struct.calcsize(_GGUF_SCALARS[etype]) * count
                for _ in range(count):
                    at = skip_value(at, etype)
                return at
            if vtype not in _GGUF_SCALARS:
                raise ValueError(f"unknown GGUF value type {vtype}")
            return at + struct.calcsize(_GGUF_SCALARS[vtype])

        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            name, pos = read_string(pos)
            (vtype,) = struct.unpack_from("<I", mm, pos)
            pos += 4
            if vtype == 8:
                metadata[name], pos = read_string(pos)
            elif vtype in _GGUF_SCALARS:
                (metadata[name],) = struct.unpack_from(_GGUF_SCALARS[vtype], mm, pos)
                pos += struct.calcsize(_GGUF_SCALARS[vtype])
            else:
                pos = skip_value(pos, vtype)
        tensors: dict[str, tuple[int, ...]] = {}
        for _ in range(n_tensors):
            name, pos = read_string(pos)
            (n_dims,) = struct.unpack_from("<I", mm, pos)
            dims = struct.unpack_from(f"<{n_dims}Q", mm, pos + 4)
            pos += 4 + 8 * n_dims + 4 + 8  # dims, then the type (u32) and data offset (u64)
            tensors[name] = tuple(int(d) for d in dims)
        return GGUFHeader(metadata, tensors)


def base_header(gguf_path: Path) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """(scalar metadata, tensor name -> GGUF shape) of a GGUF file, read in ~0.05 s.

    gguf's GGUFReader needs ~10 s on a model because it decodes the whole vocabulary; a model's
    scalars and tensor table are all a check or a conversion needs.
    """
    try:
        header = read_gguf_header(Path(gguf_path))
    except Exception as exc:  # noqa: BLE001 - a damaged file raises struct.error, ValueError, OSError…
        raise VariantError(
            f"{Path(gguf_path).name} cannot be read as a GGUF file ({exc}): check or rebuild the file."
        ) from exc
    if not header.metadata.get("general.architecture"):
        raise VariantError(f"{Path(gguf_path).name} has no general.architecture key: it is not a llama.cpp model file.")
    return dict(header.metadata), dict(header.tensors)


def _field(reader: gguf.GGUFReader, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return field.contents() if field is not None else default


def validate_lora_gguf(path: Path, base_gguf: Path, variant_name: str = "") -> dict[str, Any]:
    """Check a LoRA GGUF against its base the way llama.cpp's loader does; VariantError (saying the fix) if bad.

    llama-cpp-python does not report a missing or mismatched adapter: it crashes the process at the
    first token. So everything llama.cpp checks is checked here first (once per file version).
    Returns what was found: tensor count, ranks, alpha, architecture.
    """
    path, base_gguf = Path(path), Path(base_gguf)
    label = f"The adapter of variant '{variant_name}'" if variant_name else f"The adapter {path.name}"
    fix = (
        "build the variant again on the Fine-tune page, or delete it."
        if variant_name
        else "train or convert the adapter again."
    )
    if not path.is_file():
        raise VariantError(f"{label} is missing ({path}): {fix}")
    if not base_gguf.is_file():
        raise VariantError(f"The base model file {base_gguf} does not exist: the adapter cannot be used without it.")
    key = (file_key(path), file_key(base_gguf))
    with _TABLES_LOCK:
        if key in _VALIDATED:
            return _VALIDATED[key]
    info = _validate(path, base_gguf, label, fix)
    with _TABLES_LOCK:
        _VALIDATED[key] = info
    return info


def _validate(path: Path, base_gguf: Path, label: str, fix: str) -> dict[str, Any]:
    import gguf
    import numpy as np

    base_meta, base_shapes = base_header(base_gguf)
    base_arch = str(base_meta["general.architecture"])
    try:
        # the header first: a whole model read by GGUFReader would take seconds
        general_type = read_gguf_header(path).metadata.get("general.type")
        reader = gguf.GGUFReader(str(path)) if general_type == "adapter" else None
    except Exception as exc:  # noqa: BLE001 - any parse failure (struct.error, ValueError, OSError…) means "not a usable GGUF"
        raise VariantError(
            f"{label} ({path}) is not a readable GGUF file ({exc.__class__.__name__}: {exc}): {fix}"
        ) from exc
    if reader is None or _field(reader, "adapter.type") != "lora":
        adapter_type = _field(reader, "adapter.type") if reader is not None else None
        raise VariantError(
            f"{label} ({path.name}) is not a LoRA adapter GGUF (general.type={general_type!r}, "
            f"adapter.type={adapter_type!r}): {fix}"
        )
    arch = _field(reader, "general.architecture")
    if arch != base_arch:
        raise VariantError(f"{label} was made for a {arch!r} model, the base {base_gguf.name} is {base_arch!r}: {fix}")
    alpha = _field(reader, "adapter.lora.alpha")
    if not isinstance(alpha, (int, float)) or not alpha > 0:
        raise VariantError(f"{label} has adapter.lora.alpha={alpha!r}; it must be positive: {fix}")
    halves: dict[str, dict[str, Any]] = {}
    for t in reader.tensors:
        target, dot, part = t.name.rpartition(".")
        if dot and part in ("lora_a", "lora_b"):
            halves.setdefault(target, {})[part] = t
        elif not t.name.endswith("_norm.weight"):  # llama.cpp's converter may carry norms; it skips them
            raise VariantError(f"{label} has a tensor '{t.name}' that is not a LoRA tensor (.lora_a/.lora_b): {fix}")
    if not halves:
        raise VariantError(f"{label} contains no LoRA tensors: {fix}")
    ranks = set()
    for target, parts in halves.items():
        if target not in base_shapes:
            raise VariantError(
                f"{label} changes tensor '{target}', which the base model {base_gguf.name} does not have: "
                f"it was trained for another model; {fix}"
            )
        if set(parts) != {"lora_a", "lora_b"}:
            raise VariantError(f"{label} has only {', '.join(parts)} for '{target}': the file is incomplete; {fix}")
        a, b, w = (
            [int(x) for x in parts["lora_a"].shape],
            [int(x) for x in parts["lora_b"].shape],
            list(base_shapes[target]),
        )
        # llama.cpp's own rule: a is [n_in, r], b is [r, n_out], the base weight is [n_in, n_out].
        if len(a) != 2 or len(b) != 2 or len(w) < 2 or a[0] != w[0] or b[1] != w[1] or a[1] != b[0]:
            raise VariantError(
                f"{label} has shapes {tuple(a)} x {tuple(b)} for '{target}' (base {tuple(w)}): "
                f"it was trained for another model; {fix}"
            )
        for half in parts.values():
            if half.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
                raise VariantError(
                    f"{label}: {half.name} is {half.tensor_type.name}; only F32/F16 adapters are supported: {fix}"
                )
            if not np.isfinite(np.asarray(half.data, dtype=np.float32)).all():
                raise VariantError(
                    f"{label}: {half.name} contains NaN or infinite values (training diverged: lower the learning "
                    "rate)."
                )
        ranks.add(a[1])
    return {"tensors": len(halves), "rank": sorted(ranks), "alpha": float(alpha), "architecture": base_arch}


_SMOKE_CODE = r"""
import json, sys
from llama_cpp import Llama
args = json.loads(sys.argv[1])
llm = Llama(
    model_path=args["model"], lora_path=args["lora"] or None, n_ctx=512, n_threads=1, n_threads_batch=2, seed=0,
    verbose=False,
)
outs = [
    llm.create_completion(p, max_tokens=args["max_tokens"], temperature=0.0, stop=args["stop"])["choices"][0]["text"]
    for p in args["prompts"]
]
print(json.dumps(outs))
"""


def smoke_generate(
    model_gguf: Path,
    prompts: Sequence[str],
    lora: Path | None = None,
    max_tokens: int = 24,
    stop: Sequence[str] = ("\n\n", "\nQuestion:"),
    timeout_s: float = 180.0,
) -> list[str]:
    """Greedy completions from llama.cpp run in a child process (a bad file crashes the child, not us)."""
    payload = json.dumps(
        {
            "model": str(model_gguf),
            "lora": str(lora) if lora else "",
            "prompts": list(prompts),
            "max_tokens": max_tokens,
            "stop": list(stop),
        }
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _SMOKE_CODE, payload], capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise VariantError(
            f"llama.cpp did not answer within {timeout_s:.0f} s with {Path(model_gguf).name}: the machine may be "
            "overloaded; try again."
        ) from None
    if proc.returncode != 0:
        what = f"{Path(model_gguf).name}" + (f" with adapter {Path(lora).name}" if lora else "")
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise VariantError(
            f"llama.cpp could not run {what} (exit {proc.returncode}: {' | '.join(tail)}): the file is not usable; "
            "build the variant again."
        )
    try:
        return list(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        raise VariantError(
            f"llama.cpp gave no readable answer for {Path(model_gguf).name}: build the variant again."
        ) from None
