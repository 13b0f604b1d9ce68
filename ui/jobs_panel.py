"""The live panel of a background job (training, training-set generation, evaluation): it polls while the job runs
and stops polling once the job has ended, so a finished job costs no reruns every two seconds."""

from __future__ import annotations

from datetime import datetime
from functools import wraps
from typing import Any, Callable

import streamlit as st

from core.base.jobs import JobStatus

POLL_S = 2.0
LIVE_NOTE = f"Live: refreshed every {POLL_S:g} s while the job runs."


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _took(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def status_words(status: JobStatus) -> str:
    """A job's state as the job reports it, with its times: "running since 10:02:11", "done 10:05:40 (3.5 min)"."""
    if status.state == "queued":
        return f"queued since {_clock(status.created)}" if status.created else "queued"
    if status.state == "running":
        return f"running since {_clock(status.started or status.created)}"
    if status.finished:
        took = f" ({_took(status.finished - status.started)})" if status.started else ""
        return f"{status.state} {_clock(status.finished)}{took}"
    return status.state


def job_panel(
    running: bool, state: Callable[[], str] | None = None, drawn: str = ""
) -> Callable[[Callable[..., bool]], Callable[..., None]]:
    """Decorate a panel body that draws a job and returns True once the job has ended.

    While `running` (the job's state when the page was drawn), the panel is an `st.fragment` polled every
    POLL_S seconds; when the body reports the end, the whole page runs again once and draws the panel
    without polling (a fragment's `run_every` is fixed where it is defined, so only a page run can drop it).
    `state` and `drawn`: the job's live state and the state the page drew; when they differ (queued → running) the page
    runs again too, so its lists and labels outside the panel never keep saying "queued" for a running job.
    """

    def decorate(body: Callable[..., bool]) -> Callable[..., None]:
        @st.fragment(run_every=POLL_S if running else None)
        @wraps(body)
        def panel(*args: Any, **kwargs: Any) -> None:
            ended = body(*args, **kwargs)
            if running and (ended or (state is not None and state() != drawn)):
                st.rerun()
            elif running:
                st.caption(f":material/autorenew: {LIVE_NOTE}")

        return panel

    return decorate
