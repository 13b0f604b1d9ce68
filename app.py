"""domainchat: RAG or fine-tuning for your domain chatbot? Measure it on your own documents.

Entrypoint: `streamlit run app.py`. Each page draws the shared sidebar itself (ui.common.page_setup),
so it is the same whichever page runs.
"""

from __future__ import annotations

import streamlit as st

from ui.common import PAGE_ICON, run_navigation

st.set_page_config(page_title="domainchat", page_icon=PAGE_ICON, layout="wide")
run_navigation()
