"""Background jobs: long work (training, training-set generation, evaluation…) as a detached process.

A job is a plain Python program (`python -m <module> --config <job folder>/config.json`) that any
kind of long work can be: the page starts it and polls its status file; closing the browser or
clicking elsewhere does not stop it, because it runs in its own session.

A job of kind K lives in `<data_dir>/<K.root>/<job_id>/`:
- `config.json`  what to do (the kind's own JSON);
- `status.json`  progress, rewritten atomically by the job (state queued|running|done|failed|cancelled);
- `job.lock`     held with `flock` by the job for its whole life: the job is alive exactly while
                 it is locked, so a crashed job never looks alive and a reused PID never does;
- `cancel`       a flag the job's work checks between steps (a SIGTERM goes with it);
- `log.txt`      the job's stdout and stderr.

Heavy kinds also hold `<data_dir>/heavy-job.lock`, so one heavy job runs at a time on this machine.
The starter takes both locks, then hands the open files to the child, so there is no moment when a
started job is unlocked.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from core.base.children import start_child
from core.base.files import write_json_atomic
from core.errors import AppError, JobBusyError, JobError

HEAVY_LOCK_FILE = "heavy-job.lock"
JOB_LOCK_FILE = "job.lock"
TERMINAL_STATES = ("done", "failed", "cancelled")
STATES = ("queued", "running", *TERMINAL_STATES)


@dataclass(frozen=True)
class JobKind:
    """One kind of background job: which program runs it, where its jobs live, how it is named."""

    name: str  # e.g. "training"
    module: str  # run as `python -m <module> --config …`
    root: str  # folder under the data dir holding its jobs, e.g. "finetune/jobs"
    prefix: str  # job-id prefix, e.g. "ft"
    what: str  # human name, e.g. "fine-tuning job"
    heavy: bool = True  # holds the machine-wide heavy-job lock
    cancel_hint: str = ""  # how a user cancels one, e.g. "`python -m core finetune cancel {job_id}`"
    cancelled_message: str = "Cancelled: nothing was kept."  # what a cancelled job's status says

    def jobs_root(self, data_dir: Path) -> Path:
        """The folder holding every job of this kind."""
        return Path(data_dir) / self.root

    def job_dir(self, data_dir: Path, job_id: str) -> Path:
        """The folder of one job (the id is checked, so it cannot point elsewhere)."""
        if not job_id or "/" in job_id or "\\" in job_id or job_id.startswith("."):
            raise JobError(f"{job_id!r} is not a job id: list the {self.what}s to see the ids.")
        return self.jobs_root(data_dir) / job_id

    def new_job_id(self) -> str:
        """A sortable, unique job id."""
        return time.strftime(f"{self.prefix}-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands, as its status file says (and as its lock confirms)."""

    job_id: str
    kind: str
    state: str
    phase: str = ""
    message: str = ""
    step: int = 0
    total_steps: int | None = None
    eta_s: float | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    log_tail: str = ""
    # everything else the job reported (e.g. a training job's loss history and cost)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (done, failed or cancelled)."""
        return self.state in TERMINAL_STATES

    @property
    def fraction(self) -> float:
        """Progress between 0 and 1 (0 while the total is unknown)."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else (1.0 if self.state == "done" else 0.0)

    def to_dict(self) -> dict[str, Any]:
        """The status as the JSON the job wrote (for the command line)."""
        return {
            **self.extra,
            "job_id": self.job_id,
            "kind": self.kind,
            "state": self.state,
            "phase": self.phase,
            "message": self.message,
            "step": self.step,
            "total_steps": self.total_steps,
            "eta_s": self.eta_s,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "result": self.result,
            "error": self.error,
            **({"log_tail": self.log_tail} if self.log_tail else {}),
        }

    @classmethod
    def from_dict(cls, kind: str, job_id: str, raw: Mapping[str, Any]) -> "JobStatus":
        """Read a status file's JSON (unknown keys go to `extra`)."""
        known = {
            "job_id",
            "kind",
            "state",
            "phase",
            "message",
            "step",
            "total_steps",
            "eta_s",
            "created",
            "started",
            "finished",
            "result",
            "error",
            "log_tail",
        }
        state = str(raw.get("state") or "queued")
        return cls(
            job_id=job_id,
            kind=kind,
            state=state if state in STATES else "failed",
            phase=str(raw.get("phase") or ""),
            message=str(raw.get("message") or ""),
            step=int(raw.get("step") or 0),
            total_steps=_int_or_none(raw.get("total_steps")),
            eta_s=_float_or_none(raw.get("eta_s")),
            created=float(raw.get("created") or 0.0),
            started=_float_or_none(raw.get("started")),
            finished=_float_or_none(raw.get("finished")),
            result=dict(raw.get("result") or {}),
            error=str(raw.get("error") or ""),
            log_tail=str(raw.get("log_tail") or ""),
            extra={k: v for k, v in raw.items() if k not in known},
        )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---------------------------------------------------------------- status files


def read_status_file(path: Path) -> dict[str, Any]:
    """The status JSON of a job folder ({} if not written yet)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # not written yet (status files are written atomically, so never half)
    return data if isinstance(data, dict) else {}


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


# ---------------------------------------------------------------- locks


def heavy_lock_path(data_dir: Path) -> Path:
    """The lock file every heavy job holds while it runs."""
    return Path(data_dir) / HEAVY_LOCK_FILE


def _busy_message(holder: Mapping[str, Any]) -> str:
    job = holder.get("job_id", "?")
    started = holder.get("started")
    when = time.strftime(" (started %H:%M)", time.localtime(started)) if isinstance(started, (int, float)) else ""
    how = str(holder.get("cancel_hint") or f"`python -m core finetune cancel {job}`")
    return (
        f"Another heavy job is running: {holder.get('what', 'job')} {job}{when}. This machine runs one at a time: "
        f"wait for it to finish or cancel it (its page, or {how})."
    )


def _try_lock(path: Path) -> int | None:
    """Open and exclusively lock `path`; the descriptor, or None when someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def acquire_heavy_lock(data_dir: Path, job_id: str, what: str = "fine-tuning job", cancel_hint: str = "") -> int:
    """Take the heavy-job lock and return its file descriptor; raise JobBusyError if held."""
    fd = _try_lock(heavy_lock_path(data_dir))
    if fd is None:
        raise JobBusyError(_busy_message(heavy_job_holder(data_dir) or {}))
    _write_holder(
        fd, {"job_id": job_id, "what": what, "pid": os.getpid(), "started": time.time(), "cancel_hint": cancel_hint}
    )
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


def _locked(path: Path) -> bool:
    """Whether some process holds the lock on `path` now (probing takes and drops it at once)."""
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def heavy_job_holder(data_dir: Path) -> dict[str, Any] | None:
    """Who holds the heavy-job lock now (job_id, what, pid, started), or None if it is free."""
    path = heavy_lock_path(data_dir)
    if not _locked(path):
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _job_alive(folder: Path, pid: Any) -> bool:
    """Alive = its job lock is held; a job from before job locks existed: its PID runs our command line."""
    if (folder / JOB_LOCK_FILE).exists():
        return _locked(folder / JOB_LOCK_FILE)
    return _runs_job(pid, folder)


def _runs_job(pid: Any, folder: Path) -> bool:
    """Whether process `pid` is alive and runs the job in `folder` (a reused PID runs something else)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and str(folder / "config.json").encode() in cmdline


# ---------------------------------------------------------------- the parent's side


def start_job(
    data_dir: Path,
    kind: JobKind,
    config: Mapping[str, Any] | str,
    *,
    job_id: str | None = None,
    status: Mapping[str, Any] | None = None,
) -> str:
    """Write the job's config, start its program as a detached process and return its id.

    `config` is the kind's config (a mapping, or JSON text); `status` the first status fields to show.
    JobBusyError when a heavy job already runs.
    """
    data_dir = Path(data_dir)
    job_id = job_id or kind.new_job_id()
    folder = kind.job_dir(data_dir, job_id)
    hint = kind.cancel_hint.format(job_id=job_id)
    heavy_fd = acquire_heavy_lock(data_dir, job_id, kind.what, hint) if kind.heavy else None
    fds = [heavy_fd] if heavy_fd is not None else []
    try:
        try:
            folder.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise JobError(f"A {kind.what} called {job_id} already exists: start it with another id.") from None
        job_fd = _try_lock(folder / JOB_LOCK_FILE)
        assert job_fd is not None  # a folder created just now has no other holder
        fds.append(job_fd)
        text = config if isinstance(config, str) else json.dumps(dict(config), indent=2, default=str)
        (folder / "config.json").write_text(text, encoding="utf-8")
        writer = StatusWriter(
            folder / "status.json",
            {
                "job_id": job_id,
                "kind": kind.name,
                "state": "queued",
                "phase": "starting",
                "message": f"Starting the {kind.what}",
                "step": 0,
                "total_steps": None,
                **(dict(status) if status else {}),
                "created": time.time(),
            },
        )
        writer.update()
        args = ["--config", str(folder / "config.json"), "--job-lock-fd", str(job_fd)]
        if heavy_fd is not None:
            args += ["--lock-fd", str(heavy_fd)]
        with (folder / "log.txt").open("ab") as log:
            # its own session: closing the page (or the app) does not stop the job
            proc = start_child(
                kind.module, args, None, stdout=log, stderr=subprocess.STDOUT, pass_fds=fds, start_new_session=True
            )
        if heavy_fd is not None:
            _write_holder(
                heavy_fd,
                {"job_id": job_id, "what": kind.what, "pid": proc.pid, "started": time.time(), "cancel_hint": hint},
            )
        writer.update(pid=proc.pid)
    except OSError as exc:
        raise JobError(f"Could not start the {kind.what} ({exc}): check that {data_dir} is writable.") from exc
    finally:
        for fd in fds:
            os.close(fd)  # the child keeps the locks through its inherited copies
    return job_id


def job_status(data_dir: Path, kind: JobKind, job_id: str) -> JobStatus:
    """The job's status; a job that is not alive any more but never said it ended is reported as failed."""
    folder = kind.job_dir(data_dir, job_id)
    if not (folder / "config.json").is_file():
        raise JobError(f"No {kind.what} {job_id!r}: list the {kind.what}s to see the ids.")
    raw = read_status_file(folder / "status.json")
    if raw.get("state") in TERMINAL_STATES or _job_alive(folder, raw.get("pid")):
        return JobStatus.from_dict(kind.name, job_id, raw)
    # The job may have written its last status and exited between the read above and the liveness check:
    # read again, or a finished job would be overwritten as one that "stopped unexpectedly" (CI saw it).
    raw = read_status_file(folder / "status.json")
    if raw.get("state") not in TERMINAL_STATES:
        if (folder / "cancel").exists():
            # SIGTERM before the job installed its handler ends it at once: that is still a cancellation
            raw.update(state="cancelled", phase="cancelled", message=kind.cancelled_message)
        else:
            raw.update(
                state="failed",
                message=f"The {kind.what} stopped unexpectedly: see {folder / 'log.txt'}.",
                log_tail=log_tail(folder),
            )
        raw.setdefault("finished", time.time())
        write_json_atomic(folder / "status.json", raw)
    return JobStatus.from_dict(kind.name, job_id, raw)


def log_tail(folder: Path, lines: int = 20) -> str:
    """The last lines of a job's log."""
    try:
        return "\n".join((Path(folder) / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def list_jobs(data_dir: Path, kind: JobKind) -> list[JobStatus]:
    """The status of every job of a kind, newest first."""
    root = kind.jobs_root(data_dir)
    if not root.is_dir():
        return []
    out = [job_status(data_dir, kind, d.name) for d in root.iterdir() if (d / "config.json").is_file()]
    return sorted(out, key=lambda s: s.created, reverse=True)


def cancel_job(data_dir: Path, kind: JobKind, job_id: str, wait_s: float = 0.0) -> JobStatus:
    """Ask a job to stop (flag file + SIGTERM); optionally wait up to `wait_s` for it to end."""
    folder = kind.job_dir(data_dir, job_id)
    status = job_status(data_dir, kind, job_id)
    if status.terminal:
        return status
    (folder / "cancel").write_text(str(time.time()), encoding="utf-8")
    pid = status.extra.get("pid")
    if isinstance(pid, int) and _runs_job(pid, folder):  # never signal a PID that now belongs to another program
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return wait_job(data_dir, kind, job_id, wait_s, poll_s=0.2)


def wait_job(data_dir: Path, kind: JobKind, job_id: str, timeout_s: float, poll_s: float = 0.5) -> JobStatus:
    """Poll until the job ends or `timeout_s` passes; return its last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = job_status(data_dir, kind, job_id)
        if status.terminal or time.monotonic() >= deadline:
            return status
        time.sleep(poll_s)


# ---------------------------------------------------------------- the child's side


class Cancelled(Exception):
    """Raised inside a job's work when it was asked to stop."""


@dataclass
class JobContext:
    """What a job's work gets: its folder, its status writer, and whether it should stop."""

    folder: Path
    status: StatusWriter
    stop_requested: Callable[[], bool]

    def check_cancelled(self) -> None:
        """Raise Cancelled when the job was asked to stop (call between steps)."""
        if self.stop_requested():
            raise Cancelled()

    def progress(self, step: int, total: int | None, message: str, **extra: Any) -> None:
        """Report progress (with an ETA from the time per step so far)."""
        started = float(self.status.data.get("started") or time.time())
        eta = (time.time() - started) / step * (total - step) if step and total else None
        self.status.update(
            step=step, total_steps=total, message=message, eta_s=None if eta is None else round(eta, 1), **extra
        )


Work = Callable[[Path, JobContext], Mapping[str, Any]]


def run_job_main(
    kind: JobKind,
    work: Work,
    argv: Sequence[str] | None = None,
    *,
    interruptible_phases: Sequence[str] = ("starting",),
    on_failure: Callable[[], Mapping[str, Any]] | None = None,
) -> int:
    """The `main` of a job program: run `work(config_path, ctx)` and record how it ended.

    `work` returns the final status fields (e.g. {"result": …, "message": …}); raising Cancelled
    (or ctx.check_cancelled()) ends the job as cancelled; an AppError as failed with its message.
    `on_failure` adds fields to a failed job's status (e.g. peak memory). Exit status 0 done, 1 failed, 2 cancelled.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {kind.module}", description=f"Run one {kind.what} from its config file."
    )
    parser.add_argument("--config", required=True, type=Path, help="the job's config.json")
    parser.add_argument(
        "--lock-fd", type=int, default=None, help="heavy-job lock inherited from the starter (internal)"
    )
    parser.add_argument(
        "--job-lock-fd", type=int, default=None, help="the job's own lock inherited from the starter (internal)"
    )
    args = parser.parse_args(argv)
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(key, value)

    folder = args.config.resolve().parent
    job_id = folder.name
    status = StatusWriter(folder / "status.json", {"job_id": job_id, "kind": kind.name, "pid": os.getpid()})
    status.data.setdefault("created", time.time())
    cancel_flag = folder / "cancel"
    stop = {"signal": False}

    def on_sigterm(signum: int, frame: Any) -> None:
        stop["signal"] = True
        if status.data.get("phase") in interruptible_phases:
            raise Cancelled()  # nothing that matters is written in these phases, so stop now
        # otherwise the work checks the flag between steps, so files and status stay consistent

    signal.signal(signal.SIGTERM, on_sigterm)
    job_fd, heavy_fd = args.job_lock_fd, args.lock_fd
    final: dict[str, Any] = {}
    code = 1
    try:
        if job_fd is None:  # run by hand: take the locks the starter would have handed over
            job_fd = _try_lock(folder / JOB_LOCK_FILE)
            if job_fd is None:
                raise JobError(f"The {kind.what} {job_id} is already running.")
        if heavy_fd is None and kind.heavy:
            data_dir = folder.parents[len(Path(kind.root).parts)]
            heavy_fd = acquire_heavy_lock(data_dir, job_id, kind.what, kind.cancel_hint.format(job_id=job_id))
        status.update(state="running", phase="starting", started=time.time(), message="Starting")
        ctx = JobContext(folder, status, lambda: stop["signal"] or cancel_flag.exists())
        out = dict(work(args.config, ctx))
        final = {"state": "done", "phase": "done", "eta_s": 0, "message": "Done", **out}
        code = 0
    except Cancelled:
        final, code = {"state": "cancelled", "phase": "cancelled", "eta_s": None, "message": kind.cancelled_message}, 2
    except AppError as exc:
        final = {"state": "failed", "eta_s": None, "message": str(exc), "error": type(exc).__name__}
        print(traceback.format_exc(), file=sys.stderr)
    except BaseException as exc:  # the page must learn about any failure, not see "running" forever
        final = {
            "state": "failed",
            "eta_s": None,
            "error": type(exc).__name__,
            "message": f"The {kind.what} failed: {type(exc).__name__}: {exc}. See {folder / 'log.txt'}.",
        }
        print(traceback.format_exc(), file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finishing: nothing is left to interrupt
        if final.get("state") == "failed" and (stop["signal"] or cancel_flag.exists()):
            # Asked to stop, it failed before it could: the stop is what the user wanted (a Cancelled raised by
            # the signal handler can also come back wrapped by a library it interrupted). The error stays recorded.
            final.update(state="cancelled", phase="cancelled", message=kind.cancelled_message)
            code = 2
        if heavy_fd is not None:
            os.close(heavy_fd)  # first: whoever sees the job ended can start the next one
        if final.get("state") == "failed" and on_failure is not None:
            final.update(on_failure())
        status.update(finished=time.time(), **final)
        if job_fd is not None:
            os.close(job_fd)  # last: the job is alive until its final status is written
    return code
