"""Showing a cited page (used by the Chat sources and the Documents table; not a page of its own).

The image is a PNG rendered by core; text documents are shown as escaped text with the passage marked,
so nothing of the document runs in the browser.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.chat.safety import escape_markdown
from core.services import Services
from ui.common import guarded


def source_page_toggle(svc: Services, collection: str | None, source: dict[str, Any], key: str) -> None:
    """A 'Show page N' button under one source; once clicked, the page with the passage highlighted and the original."""
    doc_ref = source.get("doc_id") or str(source.get("chunk_id", "")).rsplit("-", 1)[0]
    if not collection or not doc_ref:
        return
    if source.get("ocr"):
        st.caption(":material/document_scanner: Text read by OCR from a scanned page")
    state = f"pageview::{key}"
    label = "Hide page" if st.session_state.get(state) else f"Show page {source['page']}"
    if st.button(label, key=f"{state}::button", icon=":material/description:"):
        st.session_state[state] = not st.session_state.get(state, False)
        st.rerun()
    if st.session_state.get(state):
        show_page(
            svc, collection, doc_ref, int(source["page"]), str(source.get("text", "")), bool(source.get("ocr")), key
        )


def show_page(
    svc: Services, collection: str, doc_ref: str, page: int, passage: str = "", ocr: bool = False, key: str = ""
) -> None:
    """One page of a document (passage highlighted when given) and a download of the original."""
    with guarded():
        with st.spinner(f"Rendering page {page}…"):
            view = svc.pageview.page(collection, doc_ref, page, passage, ocr=ocr)
        where = f"{escape_markdown(view.name)}, page {view.page} of {view.pages}"
        if view.ocr:
            where += " · text read by OCR"
        if view.png is not None:
            found = (
                "the passage is highlighted"
                if view.highlighted
                else ("passage not located on the rendered page" if passage else "")
            )
            st.caption(
                f"{where}{' · ' + found if found else ''}"
            )  # a Markdown caption: the file name is escaped for it
            st.image(view.png, output_format="PNG", width="stretch")
        else:
            st.caption(where)
            with st.container(border=True):
                if view.passage:
                    # One paragraph inside the highlight: a blank line would end the coloured span.
                    marked = escape_markdown(" ".join(view.passage.split()))
                    st.markdown(
                        f"{escape_markdown(view.before)}:orange-background[{marked}]{escape_markdown(view.after)}"
                    )
                else:
                    st.markdown(escape_markdown(view.before))
        original = svc.pageview.original(collection, view.doc_id)
        st.download_button(
            "Download the original",
            original.data,
            file_name=original.name,
            mime=original.mime,
            icon=":material/download:",
            key=f"download::{key}::{view.doc_id}",
        )
