"""Loading the sample documents as the Start and Documents pages offer it: a status box naming the document being
indexed ("Indexing 2 of 3: …") over a bar of the documents finished."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from core.errors import AppError
from core.library.samples import SAMPLE_COLLECTION, SamplesStep
from core.services import Services
from ui.common import show_error


def load_samples(svc: Services) -> bool:
    """Index the samples with live progress; on success the 'samples' collection is the chosen one. False on an
    error (shown)."""
    # A user who leaves the page (or reruns it) while the samples load must not stop the indexing half-way: the
    # request to rerun arrives as an exception at the next drawing call; it is held until the samples are in.
    held: list[ScriptControlException] = []
    with st.status("Loading the sample documents…", expanded=True) as box:
        bar = st.progress(0.0)

        def show(step: SamplesStep) -> None:
            if held:
                return  # the page is going away: nothing more to draw
            try:
                box.update(label=step.message, expanded=True)
                bar.progress(step.share, text=f"{step.done} of {step.total} documents indexed")
            except ScriptControlException as request:
                held.append(request)

        try:
            results = svc.library.load_samples(progress=show)
        except AppError as exc:
            if held:
                raise held[0] from exc
            box.update(label="The sample documents could not be loaded", state="error")
            show_error(exc)
            return False
        indexed = sum(r.status in ("indexed", "duplicate") for r in results)
        box.update(label=f"Sample documents ready: {indexed} of {len(results)}", state="complete")
    st.session_state["collection"] = SAMPLE_COLLECTION
    st.session_state["last_results"] = results
    if held:
        raise held[0]  # the rerun or page change the user asked for, now that the samples are in
    return True
