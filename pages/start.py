"""Start page: what the app decides, the five steps with where the user stands, and the next step as a button."""

from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.library.samples import has_samples
from ui.common import page_setup, show_error, show_model_limits
from ui.samples import load_samples

STATE_ICONS = {
    "done": ":material/check_circle:",
    "next": ":material/arrow_forward:",
    "todo": ":material/radio_button_unchecked:",
}
STATE_WORDS = {"done": "done", "next": "next", "todo": "to do"}

svc = page_setup()

st.title("Start")
st.markdown(
    "**domainchat helps you decide how your domain chatbot should know your documents: by retrieving passages at "
    "question time (RAG), by fine-tuning the model on them, or both.** You try each way on your own documents, on this "
    "machine, score them on the same questions, and get a recommendation."
)
show_model_limits(svc)

try:
    progress = svc.journey.progress()
except AppError as exc:
    show_error(exc)
    st.stop()

following = progress.next


def draw_steps() -> None:
    """The five steps side by side: state, what was found, and a link to each page."""
    for number, (column, step) in enumerate(zip(st.columns(len(progress.steps)), progress.steps), 1):
        with column, st.container(border=True):
            st.markdown(f"{STATE_ICONS[step.state]} **{number}. {step.name}**")
            st.caption(f"{STATE_WORDS[step.state].capitalize()} · {step.detail}")
            st.caption(step.purpose)
            st.page_link(step.page, label=f"Open {step.name}")


if following is None:
    # Every step done: the path steps aside, a click away; the sidebar lists the same pages in order.
    st.success(
        "All five steps are done. Change your documents, train again or run a new evaluation, then ask the Advisor "
        "again: the recommendation follows the latest scores."
    )
    with st.expander("The five steps"):
        draw_steps()
else:
    # the first step not done, which is not always the one after the last done (a user may evaluate before training)
    number = progress.steps.index(following) + 1
    st.subheader(f"Step {number} of {len(progress.steps)}: {following.name}")
    st.caption(f"{following.purpose} ({progress.done} of {len(progress.steps)} steps done.)")
    if st.button(f"Go to {following.name}", type="primary", icon=":material/arrow_forward:", key="next_step"):
        st.switch_page(following.page)
    if following.page == "pages/documents.py" and has_samples():
        # a first try without documents of one's own: the samples load here, with a line per document
        if st.button(
            "Or load the sample documents",
            icon=":material/auto_stories:",
            key="load_samples",
            help="A dishwasher manual, a software licence agreement and a diabetes patient guide, indexed into the "
            "collection 'samples' (about 10 s).",
        ) and load_samples(svc):
            st.rerun()  # the steps now show the documents indexed and Chat as the next step
    draw_steps()
