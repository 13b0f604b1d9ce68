"""The live panel of a background job (training, training-set generation, evaluation): it polls while the job runs
and stops polling once the job has ended, so a finished job costs no reruns every two seconds."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable

import streamlit as st

POLL_S = 2.0
LIVE_NOTE = f"Live: refreshed every {POLL_S:g} s while the job runs."


def job_panel(running: bool) -> Callable[[Callable[..., bool]], Callable[..., None]]:
    """Decorate a panel body that draws a job and returns True once the job has ended.

    While `running` (the job's state when the page was drawn), the panel is an `st.fragment` polled every
    POLL_S seconds; when the body reports the end, the whole page runs again once and draws the panel
    without polling (a fragment's `run_every` is fixed where it is defined, so only a page run can drop it).
    """

    def decorate(body: Callable[..., bool]) -> Callable[..., None]:
        @st.fragment(run_every=POLL_S if running else None)
        @wraps(body)
        def panel(*args: Any, **kwargs: Any) -> None:
            ended = body(*args, **kwargs)
            if running and ended:
                st.rerun()
            elif running:
                st.caption(f":material/autorenew: {LIVE_NOTE}")

        return panel

    return decorate
