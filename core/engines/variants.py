"""The registry of fine-tuned variants: what the chat's fine-tuned picker lists.

A variant lives in `<data_dir>/variants/<name>/variant.json`. On the embedded engine it is the base
GGUF plus a LoRA adapter GGUF stored beside the json; on Ollama it is a model the server holds; on the openai
engine it is a model name an OpenAI-compatible server serves (a LoRA module on vLLM/SGLang, a llama.cpp alias).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.base.files import write_json_atomic
from core.base.names import validate_name
from core.engines.base import EngineName
from core.errors import VariantError

# How a variant was trained: `plain` on question → answer pairs; `read-passages` also on each pair in the prompt the
# hybrid mode sends (core/finetune/passages.py); `paraphrase` also on rewordings of each question
# (core/finetune/paraphrase.py). A record without one was trained before recipes were recorded.
PLAIN = "plain"
READ_PASSAGES = "read-passages"
PARAPHRASE = "paraphrase"
RECIPES = (PLAIN, READ_PASSAGES, PARAPHRASE)


@dataclass(frozen=True)
class Variant:
    """A registered fine-tuned variant."""

    name: str
    engine: EngineName
    base_model: str
    # embedded: adapter file name inside the variant folder; ollama: the Ollama model name
    adapter_file: str = ""
    ollama_model: str = ""
    dataset: str = ""
    cost: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    note: str = ""
    # openai: the model name the server serves the variant under (its /v1/models lists it)
    served_model: str = ""
    # the training recipe (one of RECIPES); "" for a variant recorded before recipes were, or trained elsewhere
    recipe: str = ""


def validate_variant_name(name: str) -> str:
    """Return `name` if usable as a variant name, else raise a message saying what is allowed."""
    return validate_name(name, "Variant name")


def _plain_file_name(name: str) -> bool:
    return (
        bool(name) and name not in (".", "..") and Path(name).name == name and "\\" not in name and "\x00" not in name
    )


class VariantRegistry:
    """Reads and writes variant records under the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "variants"

    def folder(self, name: str) -> Path:
        """The folder holding a variant's files."""
        return self.root / validate_variant_name(name)

    def list(self, engine: str | None = None) -> list[Variant]:
        """All variants (optionally of one engine), newest first."""
        out: list[Variant] = []
        if self.root.is_dir():
            for meta in self.root.glob("*/variant.json"):
                try:
                    variant = Variant(**json.loads(meta.read_text(encoding="utf-8")))
                except (ValueError, TypeError):
                    continue  # a half-written or foreign file is not a variant
                # A record naming another folder, or an adapter outside its own, is not listed (`get` explains why).
                if variant.name == meta.parent.name and (
                    variant.engine != "embedded" or _plain_file_name(variant.adapter_file)
                ):
                    out.append(variant)
        out = [v for v in out if engine is None or v.engine == engine]
        return sorted(out, key=lambda v: v.created, reverse=True)

    def get(self, name: str) -> Variant:
        """The variant called `name`."""
        meta = self.folder(name) / "variant.json"
        if not meta.is_file():
            raise VariantError(
                f"No fine-tuned variant called {name!r}: build one on the Fine-tune page or pick another."
            )
        try:
            variant = Variant(**json.loads(meta.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            raise VariantError(
                f"The record of variant {name!r} is damaged: delete the variant and build it again."
            ) from None
        if variant.name != name:
            raise VariantError(
                f"The record of variant {name!r} names another variant ({variant.name!r}): delete the variant and "
                "build it again."
            )
        return variant

    def check_free(self, name: str, replace: bool = False) -> str:
        """Return `name` if a new variant may take it (valid, and unused unless replacing); VariantError otherwise."""
        if not replace and (self.folder(name) / "variant.json").is_file():
            raise VariantError(
                f"A variant called {name!r} already exists: pick another name, or delete it first (or replace it)."
            )
        return name

    def adapter_path(self, variant: Variant) -> Path:
        """The adapter file of an embedded-engine variant; always a file inside the variant's folder."""
        folder = self.folder(variant.name).resolve()
        path = (folder / variant.adapter_file).resolve()
        # variant.json is data on disk: an absolute path or '..' in it must not point the engine elsewhere.
        if not variant.adapter_file or path.parent != folder:
            raise VariantError(
                f"Variant {variant.name!r} names the adapter file {variant.adapter_file!r}, which is not a file "
                "inside its folder: "
                "delete the variant and register it again (Fine-tune page, or `python -m core finetune …`)."
            )
        return path

    def register(self, variant: Variant) -> Variant:
        """Write (or replace) a variant record; its files must already be in its folder."""
        folder = self.folder(variant.name)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "variant.json", asdict(variant))
        return variant

    def delete(self, name: str) -> None:
        """Remove a variant and its files."""
        folder = self.folder(name)
        if not folder.is_dir():
            raise VariantError(f"No fine-tuned variant called {name!r} to delete.")
        shutil.rmtree(folder)
