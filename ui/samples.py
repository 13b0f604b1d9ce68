"""Loading the sample documents as the Start and Documents pages offer it: a status box naming the document being
indexed ("Indexing 2 of 3: …") over a bar of the documents finished."""

from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.library.samples import SAMPLE_COLLECTION, SamplesStep
from core.services import Services
from ui.common import show_error


def load_samples(svc: Services) -> bool:
    """Index the samples with live progress; on success the 'samples' collection is the chosen one. False on an
    error (shown)."""
    with st.status("Loading the sample documents…", expanded=True) as box:
        bar = st.progress(0.0)

        def show(step: SamplesStep) -> None:
            box.update(label=step.message, expanded=True)
            bar.progress(step.share, text=f"{step.done} of {step.total} documents indexed")

        try:
            results = svc.library.load_samples(progress=show)
        except AppError as exc:
            box.update(label="The sample documents could not be loaded", state="error")
            show_error(exc)
            return False
        indexed = sum(r.status in ("indexed", "duplicate") for r in results)
        box.update(label=f"Sample documents ready: {indexed} of {len(results)}", state="complete")
    st.session_state["collection"] = SAMPLE_COLLECTION
    st.session_state["last_results"] = results
    return True
