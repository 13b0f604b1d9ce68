"""domainchat: RAG or fine-tuning for your domain chatbot? Measure it on your own documents.

Entrypoint: `streamlit run app.py`. Navigation over pages/, and the sidebar every page shares.
"""

from __future__ import annotations

import streamlit as st

from core.errors import AppError
from pages.common import services, show_error

st.set_page_config(page_title="domainchat", page_icon="💬", layout="wide")

pages = [
    st.Page("pages/documents.py", title="Documents", icon="📚", default=True),
]
navigation = st.navigation(pages)

try:
    svc = services()
except AppError as exc:
    show_error(exc)
    st.stop()

with st.sidebar:
    st.markdown("### domainchat")
    try:
        names = [c.name for c in svc.library.list_collections()]
    except AppError as exc:
        show_error(exc)
        names = []
    if names:
        current = st.session_state.get("collection")
        index = names.index(current) if current in names else 0
        st.session_state["collection"] = st.selectbox("Collection", names, index=index, help="One collection per domain, e.g. manuals, legal, medical.")
    else:
        st.session_state["collection"] = None
        st.caption("No collection yet: create one on the Documents page.")
    st.caption(f"Embeddings: `{svc.embedder.name}`")

navigation.run()
