"""Confirmation dialogs for destructive actions (delete a document, a collection, a chat, a variant).

A button only asks (`ask_to_confirm`); the dialog stays open across reruns until it is answered or dismissed,
because the request lives in the session state, not in the button's one-run `True`.
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from core.chat.safety import escape_markdown
from core.errors import AppError
from ui.common import show_error

_PENDING = "confirm::"
_FAILED = "confirm-failed::"


def ask_to_confirm(key: str, payload: Any = True) -> None:
    """Open the confirmation dialog `key` for `payload` (what the action will act on)."""
    st.session_state[_PENDING + key] = payload


def pending(key: str) -> Any:
    """The payload the dialog `key` waits to confirm, or None."""
    return st.session_state.get(_PENDING + key)


def _forget(key: str) -> None:
    st.session_state.pop(_PENDING + key, None)
    st.session_state.pop(f"{_PENDING}{key}::typed", None)  # a dialog opened again starts empty


def confirm_dialog(
    key: str,
    title: str,
    message: str,
    action: Callable[[Any], str | None],
    *,
    confirm_label: str = "Delete",
    type_to_confirm: str | None = None,
) -> None:
    """Show the dialog `key` if it was asked for; on confirmation run `action(payload)` and rerun the page.

    `action` may return a message to show after the rerun (a toast). An AppError it raises is shown on the page
    (through the one error display) after the dialog closes; nothing else is lost. With `type_to_confirm`, the
    confirm button waits until that text is typed.
    """
    failed = st.session_state.pop(_FAILED + key, None)
    if failed is not None:
        show_error(failed)
    done = st.session_state.pop(f"{_PENDING}{key}::done", None)
    if done:
        st.toast(done)
    payload = pending(key)
    if payload is None:
        return

    @st.dialog(title, on_dismiss=lambda: _forget(key))
    def dialog() -> None:
        st.markdown(message)
        typed = ""
        if type_to_confirm is not None:
            typed = st.text_input(
                f"Type **{escape_markdown(type_to_confirm)}** to confirm", key=f"{_PENDING}{key}::typed"
            )
        left, right = st.columns(2)
        ready = type_to_confirm is None or typed.strip() == type_to_confirm
        if left.button(confirm_label, type="primary", disabled=not ready, key=f"{_PENDING}{key}::yes", width="stretch"):
            _forget(key)
            try:
                note = action(payload)
                if note:
                    st.session_state[f"{_PENDING}{key}::done"] = note
            except AppError as exc:
                st.session_state[_FAILED + key] = exc
            st.rerun()
        if right.button("Cancel", key=f"{_PENDING}{key}::no", width="stretch"):
            _forget(key)
            st.rerun()

    dialog()
