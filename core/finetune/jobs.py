"""Training jobs: detached subprocesses that report to a status file, one heavy job at a time.

A job lives in `<data_dir>/finetune/jobs/<job_id>/`: `config.json` (what to do), `status.json`
(progress, written atomically by the job), `cancel` (a flag the training loop checks) and `log.txt`
(the job's stdout and stderr). The page polls `job_status`; closing the browser does not stop a job
because it runs in its own session.

One heavy job at a time: `<data_dir>/heavy-job.lock` is held with `flock` by the running job for its
whole life (the parent takes the lock, then hands the open file to the child), so a crashed job
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from core.errors import FineTuneError, JobBusyError

LOCK_FILE = "heavy-job.lock"
TERMINAL_STATES = ("done", "failed", "cancelled")
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


# ---------------------------------------------------------------- paths and status files


def jobs_root(data_dir: Path) -> Path:
    """The folder holding every training job."""
    return Path(data_dir) / "finetune" / "jobs"


def job_dir(data_dir: Path, job_id: str) -> Path:
    """The folder of one job."""
    if not job_id or "/" in job_id or job_id.startswith("."):
        raise FineTuneError(f"{job_id!r} is not a job id: list jobs with `python -m core finetune status`.")
    return jobs_root(data_dir) / job_id


def new_job_id() -> str:
    """A sortable, unique job id."""
    return time.strftime("ft-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_status_file(path: Path) -> dict[str, Any]:
    """The status JSON of a job folder ({} if not written yet)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}  # only possible for a file written by something else than write_json_atomic


class StatusWriter:
    """Keeps a job's status dict and rewrites status.json on every update."""

    def __init__(self, path: Path, initial: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {**read_status_file(self.path), **(dict(initial) if initial else {})}

    def update(self, **changes: Any) -> dict[str, Any]:
        """Apply changes and write the file."""
        self.data.update(changes)
        self.data["updated"] = time.time()
        write_json_atomic(self.path, self.data)
        return self.data


# ---------------------------------------------------------------- the heavy-job lock


def lock_path(data_dir: Path) -> Path:
    """The lock file every heavy job holds while it runs."""
    return Path(data_dir) / LOCK_FILE


def _busy_message(holder: Mapping[str, Any]) -> str:
    job = holder.get("job_id", "?")
    started = holder.get("started")
    when = time.strftime(" (started %H:%M)", time.localtime(started)) if isinstance(started, (int, float)) else ""
    return (
        f"Another heavy job is running: {holder.get('what', 'job')} {job}{when}. This machine runs one at a time: "
        f"wait for it to finish or cancel it (Fine-tune page, or `python -m core finetune cancel {job}`)."
    )


def acquire_heavy_lock(data_dir: Path, job_id: str, what: str = "fine-tuning job") -> int:
    """Take the heavy-job lock and return its file descriptor; raise JobBusyError if held."""
    path = lock_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise JobBusyError(_busy_message(holder)) from None
    _write_holder(fd, {"job_id": job_id, "what": what, "pid": os.getpid(), "started": time.time()})
    return fd


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _write_holder(fd: int, holder: Mapping[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(holder).encode())


def heavy_job_holder(data_dir: Path) -> dict[str, Any] | None:
    """Who holds the heavy-job lock now (job_id, what, pid, started), or None if it is free."""
    path = lock_path(data_dir)
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(fd)
    finally:
        os.close(fd)  # closing also drops the probe's own lock
    return None


# ---------------------------------------------------------------- starting and watching jobs


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # An exited child that nobody reaped yet is a zombie: dead for our purpose.
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never reach for a model hub from a job, and keep the log free of progress bars.
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error", PYTHONUNBUFFERED="1")
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start_job(config: TrainConfig) -> str:
    """Start a training job as a detached subprocess and return its id; JobBusyError if one runs."""
    data_dir = Path(config.data_dir)
    folder = config.job_dir
    _check_config(config)
    fd = acquire_heavy_lock(data_dir, config.job_id)
    try:
        folder.mkdir(parents=True, exist_ok=False)
        (folder / "config.json").write_text(config.to_json(), encoding="utf-8")
        status = StatusWriter(folder / "status.json", {
            "job_id": config.job_id, "state": "queued", "phase": "starting", "message": "Starting the training process",
            "step": 0, "total_steps": None, "epoch": 0, "epochs": config.epochs, "loss": None,
            "base_model": config.base_model, "dataset": config.dataset_name or config.dataset,
            "created": time.time(),
        })
        status.update()
        with (folder / "log.txt").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "core.finetune.train", "--config", str(folder / "config.json"), "--lock-fd", str(fd)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(fd,), start_new_session=True, env=_child_env(), cwd=str(folder),
            )
        _write_holder(fd, {"job_id": config.job_id, "what": "fine-tuning job", "pid": proc.pid, "started": time.time()})
        status.update(pid=proc.pid)
    except FileExistsError:
        raise FineTuneError(f"A job called {config.job_id} already exists: start it with another id.") from None
    except OSError as exc:
        raise FineTuneError(f"Could not start the training process ({exc}): check that {data_dir} is writable.") from exc
    finally:
        os.close(fd)  # the child keeps the lock through its inherited copy
    return config.job_id


def _check_config(config: TrainConfig) -> None:
    """Fail before starting a process when the config cannot work (minutes later is too late)."""
    from core.variants import VariantRegistry, validate_variant_name

    if not config.base_gguf and not config.base_hf_dir:
        raise FineTuneError("No base model given: train from the engine's GGUF file (or a Hugging Face model folder).")
    base = Path(config.base_gguf or config.base_hf_dir)
    if not base.exists():
        raise FineTuneError(f"The base model {base} does not exist: check the engine's model file.")
    if not Path(config.dataset).exists():
        raise FineTuneError(f"The training set {config.dataset} does not exist: build or import one first.")
    if config.epochs < 1 or config.batch_size < 1 or not config.learning_rate > 0 or config.lora_r < 1:
        raise FineTuneError("Epochs, batch size, learning rate and LoRA rank must all be positive.")
    reg = config.register or {}
    if reg:
        name = validate_variant_name(str(reg.get("name", "")))
        if reg.get("engine", "embedded") not in ("embedded", "ollama"):
            raise FineTuneError(f"Cannot register on engine {reg.get('engine')!r}: use 'embedded' or 'ollama'.")
        if not reg.get("replace") and (VariantRegistry(Path(config.data_dir)).folder(name) / "variant.json").is_file():
            raise FineTuneError(f"A variant called {name!r} already exists: pick another name, or delete it first.")


def job_status(data_dir: Path, job_id: str) -> dict[str, Any]:
    """The job's status (state running|done|failed|cancelled, step, loss, ETA, cost, result…)."""
    folder = job_dir(data_dir, job_id)
    if not (folder / "config.json").is_file():
        raise FineTuneError(f"No training job {job_id!r}: list jobs with `python -m core finetune status`.")
    status = read_status_file(folder / "status.json")
    status.setdefault("job_id", job_id)
    if status.get("state") not in TERMINAL_STATES and not _pid_alive(status.get("pid")):
        # No process: killed or crashed hard (a job whose pid is not written yet gets a grace period).
        if (folder / "cancel").exists():
            # SIGTERM before the job installed its handler ends it at once: that is still a cancellation
            status.update(state="cancelled", phase="cancelled", message="Cancelled: nothing was saved as a variant.")
            write_json_atomic(folder / "status.json", status)
        elif status.get("pid") is not None or time.time() - float(status.get("created", 0)) > 10:
            status.update(state="failed", message=f"The training process stopped unexpectedly: see {folder / 'log.txt'}.", log_tail=_log_tail(folder))
            write_json_atomic(folder / "status.json", status)
    return status


def _log_tail(folder: Path, lines: int = 20) -> str:
    try:
        return "\n".join((folder / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def list_jobs(data_dir: Path) -> list[dict[str, Any]]:
    """The status of every job, newest first."""
    root = jobs_root(data_dir)
    if not root.is_dir():
        return []
    out = [job_status(data_dir, d.name) for d in root.iterdir() if (d / "config.json").is_file()]
    return sorted(out, key=lambda s: s.get("created", 0), reverse=True)


def cancel_job(data_dir: Path, job_id: str, wait_s: float = 0.0) -> dict[str, Any]:
    """Ask a job to stop (flag file + SIGTERM); optionally wait up to `wait_s` for it to end."""
    folder = job_dir(data_dir, job_id)
    status = job_status(data_dir, job_id)
    if status.get("state") in TERMINAL_STATES:
        return status
    (folder / "cancel").write_text(str(time.time()), encoding="utf-8")
    pid = status.get("pid")
    if _pid_alive(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status = job_status(data_dir, job_id)
        if status.get("state") in TERMINAL_STATES:
            return status
        time.sleep(0.2)
    return job_status(data_dir, job_id)


def wait_job(data_dir: Path, job_id: str, timeout_s: float, poll_s: float = 0.5) -> dict[str, Any]:
    """Poll until the job ends or `timeout_s` passes; return its last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = job_status(data_dir, job_id)
        if status.get("state") in TERMINAL_STATES or time.monotonic() >= deadline:
            return status
        time.sleep(poll_s)


def make_train_config(
    settings: Any,
    dataset: str | Path,
    *,
    engine: str = "embedded",
    base_gguf: str | Path | None = None,
    base_hf_dir: str | Path | None = None,
    base_model: str = "",
    variant_name: str = "",
    replace: bool = False,
    **options: Any,
) -> TrainConfig:
    """A TrainConfig for `settings`: the dataset by name (or path), the engine's base model unless given,
    and (with `variant_name`) registration on `engine` when training ends. `options` are TrainConfig fields."""
    from core.finetune.dataset import dataset_dir

    data_dir = Path(settings.data_dir)
    path = Path(dataset)
    if not path.exists() and "/" not in str(dataset):
        path = dataset_dir(data_dir, str(dataset))
    if base_gguf is None and base_hf_dir is None:
        if engine == "embedded":
            from core.engines.embedded import EmbeddedEngine

            emb = EmbeddedEngine(settings)
            base_gguf, base_model = emb.gguf_path(), base_model or emb.base_name
        elif engine == "ollama":
            from core.finetune.register import ollama_base_gguf

            base_model = base_model or settings.ollama_model
            base_gguf = ollama_base_gguf(settings, base_model)
        else:
            raise FineTuneError(f"Unknown engine {engine!r}: use 'embedded' or 'ollama'.")
    register = {"name": variant_name, "engine": engine, "replace": replace, "base_model": base_model,
                "ollama_host": settings.ollama_host} if variant_name else None
    return TrainConfig(
        job_id=new_job_id(), data_dir=str(data_dir), dataset=str(path), dataset_name=path.name if path.is_dir() else path.stem,
        base_gguf=str(base_gguf or ""), base_hf_dir=str(base_hf_dir or ""),
        base_model=base_model or Path(str(base_gguf or base_hf_dir)).stem, register=register, **options,
    )
