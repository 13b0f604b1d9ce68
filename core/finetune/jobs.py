"""Training jobs: the training program run as a `core.base.jobs` background job (kind TRAINING).

A job lives in `<data_dir>/finetune/jobs/<job_id>/` (see `core.base.jobs` for the files, the locks and
how liveness is checked); `TrainConfig` is its config.json. One heavy job runs at a time.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.base import jobs as core_jobs
from core.base.jobs import JobKind, JobStatus, acquire_heavy_lock, heavy_job_holder
from core.engines.variants import PARAPHRASE, PLAIN, READ_PASSAGES, RECIPES, VariantRegistry
from core.errors import FineTuneError

__all__ = [
    "RECIPES",
    "TRAINING",
    "REGISTER_ENGINES",
    "VARIANT_ENGINES",
    "TrainConfig",
    "TrainingStatus",
    "acquire_heavy_lock",
    "cancel_job",
    "heavy_job_holder",
    "job_dir",
    "job_status",
    "jobs_root",
    "list_jobs",
    "new_job_id",
    "serve_commands",
    "start_job",
    "wait_job",
]
# The engines a training job registers its variant on: those this app can hand the adapter to itself (llama.cpp
# in-process, or Ollama through its API). An OpenAI-compatible server loads adapters when it starts (vLLM
# --lora-modules, llama.cpp --lora), which this app cannot do for it: training prints the command that serves the
# adapter (`serve_commands`), and the served name is then registered with REGISTER_ENGINES' "openai".
VARIANT_ENGINES = ("ollama", "embedded")
# the engines a variant may be registered on: the training engines, and a model an OpenAI-compatible server serves
REGISTER_ENGINES = (*VARIANT_ENGINES, "openai")
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    """Everything a training job needs; written as the job's config.json."""

    job_id: str
    data_dir: str
    # a dataset folder (train_pairs.jsonl / train.jsonl) or a JSONL file of pairs or chat messages
    dataset: str
    # the base weights: a GGUF (the one the engine serves) or a Hugging Face model folder
    base_gguf: str = ""
    base_hf_dir: str = ""
    # how the variant record names its base and dataset (e.g. "gemma3:270m", "manuals")
    base_model: str = ""
    dataset_name: str = ""
    # where GGUF→HF conversions are cached; empty means <data_dir>/finetune/base
    cache_dir: str = ""
    epochs: int = 10
    batch_size: int = 4
    # measured: 100 pairs × 10 epochs → 99/100 exact at 5e-4, 95/100 at 1e-3 (noisier end)
    learning_rate: float = 5e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    max_length: int = 256
    # share of examples also shown in the RAG prompt form (Context/Question/Answer); costs ~10× per example
    rag_fraction: float = 0.0
    # "read passages": a JSONL of finished RAG prompts and answers (core.finetune.passages), '' for none
    passage_examples: str = ""
    # longest RAG-form example in tokens, read-passages or rag_fraction (the RAG prompt with its worked examples is ≈
    # 300–600 tokens)
    passage_max_length: int = 1024
    # what building them did (pairs, passages, distractors, skipped), recorded with the job
    passage_counts: dict[str, int] | None = None
    # "paraphrase" (core.finetune.paraphrase): rewordings of each pair's question trained with its answer; 0: none
    rewordings_per_pair: int = 0
    # the model that rewords them, as a generation job names it ({"engine", "model", "settings"}); None: rule-based
    rewording_model: dict[str, Any] | None = None
    # reworded evaluation questions (beyond the training set's own reworded half) no training rewording may match
    evaluation_rewordings: list[str] = field(default_factory=list)
    # "completion" (Question:/Answer: text, base models), "chat" (the base's chat template), or
    # "auto": chat when the base GGUF has a chat template, as the engines decide at chat time
    prompt_form: str = "auto"
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    # stop after this many optimiser steps (0: run all epochs); for tests and quick trials
    max_steps: int = 0
    # after training: {"name": ..., "engine": "embedded"|"ollama", "ollama_host": ..., "ollama_model": ...}
    register: dict[str, Any] | None = None

    @property
    def job_dir(self) -> Path:
        """The job's folder."""
        return job_dir(Path(self.data_dir), self.job_id)

    @property
    def recipe(self) -> str:
        """The training recipe: read-passages when the job also trains on the hybrid prompt's passages, paraphrase when
        on reworded questions, else plain."""
        if self.passage_examples:
            return READ_PASSAGES
        return PARAPHRASE if self.rewordings_per_pair > 0 else PLAIN

    @property
    def base_cache(self) -> Path:
        """Where the base GGUF's HF conversion is cached."""
        return Path(self.cache_dir) if self.cache_dir else Path(self.data_dir) / "finetune" / "base"

    def to_json(self) -> str:
        """The config as JSON text."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_file(cls, path: Path) -> "TrainConfig":
        """Read a config.json (unknown keys are an error, so typos do not pass silently)."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise FineTuneError(f"{path} has unknown keys {unknown}: allowed keys are {sorted(known)}.")
        return cls(**raw)


@dataclass(frozen=True)
class TrainingStatus(JobStatus):
    """A training job's status, with the training figures typed."""

    @property
    def epoch(self) -> int:
        """The epoch being run (1-based; 0 before the first)."""
        return int(self.extra.get("epoch") or 0)

    @property
    def epochs(self) -> int:
        """Epochs asked for."""
        return int(self.extra.get("epochs") or 0)

    @property
    def loss(self) -> float | None:
        """The loss of the last step."""
        value = self.extra.get("loss")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def loss_history(self) -> list[float]:
        """The loss per step (the last 500)."""
        return [float(x) for x in self.extra.get("loss_history") or []]

    @property
    def cost(self) -> dict[str, Any]:
        """What training cost (wall time, steps, s/step, device, peak memory…), when it ended."""
        return dict(self.extra.get("cost") or {})

    @property
    def variant(self) -> str:
        """The variant registered when the job ended ('' if none)."""
        return str(self.result.get("variant") or "")

    @property
    def serve_commands(self) -> dict[str, str]:
        """How to serve this job's adapter on an OpenAI-compatible server (empty until it is done)."""
        return serve_commands(self) if self.state == "done" else {}

    @classmethod
    def of(cls, status: JobStatus) -> "TrainingStatus":
        """The typed view of a training job's status."""
        return cls(**{f.name: getattr(status, f.name) for f in fields(JobStatus)})


# ---------------------------------------------------------------- the training job on core.base.jobs

TRAINING = JobKind(
    name="training",
    module="core.finetune.train",
    root="finetune/jobs",
    prefix="ft",
    what="fine-tuning job",
    heavy=True,
    cancel_hint="`python -m core finetune cancel {job_id}`",
    cancelled_message="Cancelled: nothing was saved as a variant.",
)


def jobs_root(data_dir: Path) -> Path:
    """The folder holding every training job."""
    return TRAINING.jobs_root(data_dir)


def job_dir(data_dir: Path, job_id: str) -> Path:
    """The folder of one job."""
    return TRAINING.job_dir(data_dir, job_id)


def new_job_id() -> str:
    """A sortable, unique job id."""
    return TRAINING.new_job_id()


def start_job(config: TrainConfig) -> str:
    """Start a training job as a detached subprocess and return its id; JobBusyError if one runs."""
    _check_config(config)
    return core_jobs.start_job(
        Path(config.data_dir),
        TRAINING,
        config.to_json(),
        job_id=config.job_id,
        status={
            "message": "Starting the training process",
            "epoch": 0,
            "epochs": config.epochs,
            "recipe": config.recipe,
            "loss": None,
            "base_model": config.base_model,
            "dataset": config.dataset_name or config.dataset,
        },
    )


def _check_config(config: TrainConfig) -> None:
    """Fail before starting a process when the config cannot work (minutes later is too late)."""
    if config.passage_examples and config.rewordings_per_pair:
        raise FineTuneError(
            f"A job trains one recipe: pick {READ_PASSAGES} or {PARAPHRASE}, not both (score them side by side as two "
            "variants)."
        )
    if config.rewordings_per_pair < 0:
        raise FineTuneError("Rewordings per pair cannot be negative: use 1 or more for paraphrase, 0 for none.")
    if not config.base_gguf and not config.base_hf_dir:
        raise FineTuneError("No base model given: train from the engine's GGUF file (or a Hugging Face model folder).")
    base = Path(config.base_gguf or config.base_hf_dir)
    if not base.exists():
        raise FineTuneError(f"The base model {base} does not exist: check the engine's model file.")
    if not Path(config.dataset).exists():
        raise FineTuneError(f"The training set {config.dataset} does not exist: build or import one first.")
    if config.passage_examples and not Path(config.passage_examples).is_file():
        raise FineTuneError(
            f"The read-passages examples {config.passage_examples} do not exist: start the training with 'read "
            "passages' again."
        )
    if config.epochs < 1 or config.batch_size < 1 or not config.learning_rate > 0 or config.lora_r < 1:
        raise FineTuneError("Epochs, batch size, learning rate and LoRA rank must all be positive.")
    reg = config.register or {}
    if reg:
        if reg.get("engine", "embedded") not in VARIANT_ENGINES:
            raise FineTuneError(
                f"Cannot register on engine {reg.get('engine')!r} after training: use 'embedded' or 'ollama' (a "
                "server loads the adapter when it starts: serve it with the command training prints, then register "
                "the served name with `finetune register --engine openai --served-model NAME`)."
            )
        VariantRegistry(Path(config.data_dir)).check_free(str(reg.get("name", "")), bool(reg.get("replace")))


def serve_commands(status: JobStatus, name: str = "") -> dict[str, str]:
    """The commands that serve a finished job's adapter under model name `name` (default: its variant, else its
    job id) on OpenAI-compatible servers, and the one that registers that name as the variant."""
    result = status.result
    served = name or str(result.get("variant") or "") or status.job_id
    q = shlex.quote
    out: dict[str, str] = {}
    adapter_dir = Path(str(result.get("adapter_dir") or ""))
    config_file = adapter_dir.parent / "config.json"
    try:
        config = TrainConfig.from_file(config_file) if config_file.is_file() else None
    except (OSError, ValueError, TypeError, FineTuneError):
        config = None  # an unreadable config only costs the base's path: a placeholder stands in
    if result.get("adapter_dir") and (adapter_dir / "adapter_config.json").is_file():
        try:
            peft = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            peft = {}
        # the HF model the adapter was trained on (for a GGUF base, the folder it was converted to)
        base = str(peft.get("base_model_name_or_path") or "BASE_MODEL")
        rank = int(peft.get("r") or (config.lora_r if config else 16))
        out["vllm"] = (
            f"vllm serve {q(base)} --enable-lora --max-lora-rank {max(rank, 8)} "
            f"--lora-modules {q(f'{served}={adapter_dir}')}"
        )
        out["sglang"] = (
            f"python -m sglang.launch_server --model-path {q(base)} --lora-paths {q(f'{served}={adapter_dir}')}"
        )
    if result.get("adapter_gguf"):
        base_gguf = config.base_gguf if config and config.base_gguf else "BASE.gguf"
        out["llama.cpp"] = f"llama-server -m {q(base_gguf)} --lora {q(str(result['adapter_gguf']))} --alias {q(served)}"
    if out:
        out["register"] = (
            f"python -m core finetune register --engine openai --served-model {q(served)} --name {q(served)}"
        )
    return out


def job_status(data_dir: Path, job_id: str) -> TrainingStatus:
    """A training job's status (state queued|running|done|failed|cancelled, step, loss, ETA, cost, result…)."""
    return TrainingStatus.of(core_jobs.job_status(Path(data_dir), TRAINING, job_id))


def list_jobs(data_dir: Path) -> list[TrainingStatus]:
    """The status of every training job, newest first."""
    return [TrainingStatus.of(s) for s in core_jobs.list_jobs(Path(data_dir), TRAINING)]


def cancel_job(data_dir: Path, job_id: str, wait_s: float = 0.0) -> TrainingStatus:
    """Ask a training job to stop (flag file + SIGTERM); optionally wait up to `wait_s` for it to end."""
    return TrainingStatus.of(core_jobs.cancel_job(Path(data_dir), TRAINING, job_id, wait_s))


def wait_job(data_dir: Path, job_id: str, timeout_s: float, poll_s: float = 0.5) -> TrainingStatus:
    """Poll until the training job ends or `timeout_s` passes; return its last status."""
    return TrainingStatus.of(core_jobs.wait_job(Path(data_dir), TRAINING, job_id, timeout_s, poll_s))
