"""What every page shares: the cached services bundle, the chosen collection and engine, and the one error display."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.chat.safety import escape_markdown
from core.config import ENGINE_CHOICES, Settings
from core.errors import AppError
from core.services import Services, build_services

_run = threading.local()  # Streamlit runs each script run in one thread
# The session's engine choice. Not a widget key: Streamlit drops a widget's state on a page that does not draw it,
# so a choice made on the Chat page would be gone on the Fine-tune page.
ENGINE_KEY = "engine"
ENGINE_HELP = (
    "The program that runs the language model. auto: the first that answers of the OpenAI-compatible server set in "
    "DOMAINCHAT_OPENAI_BASE_URL, Ollama, then the embedded engine. ollama: an Ollama server (OLLAMA_HOST). "
    "embedded: a model run inside this app by llama.cpp, no server needed. openai: an OpenAI-compatible server "
    "(vLLM, SGLang, TGI, llama.cpp server, LM Studio). The sidebar says which one answers and why."
)
# The four modes in plain words, for the pages that let a user pick or read them (the mode names stay as they are:
# they are the CLI's flags and the downloads' values).
MODE_GLOSS = (
    "base: the model alone, answering from what it learned in training · rag: the model + passages retrieved from "
    "your documents · finetuned: the model after training on your documents (the fine-tuned variant) · hybrid: the "
    "fine-tuned variant + passages retrieved from your documents"
)
# A local file: a ":material/…:" page icon makes the browser fetch the favicon from fonts.gstatic.com.
PAGE_ICON = str(Path(__file__).resolve().parents[1] / "assets" / "icon.png")


def app_pages() -> dict[str, list]:
    """The app's pages, in navigation order: the start page, then the five steps in the order a user takes them."""
    return {
        "": [st.Page("pages/start.py", title="Start", icon=":material/flag:", default=True)],
        "Five steps to a decision": [
            st.Page("pages/documents.py", title="Documents", icon=":material/library_books:"),
            st.Page("pages/chat.py", title="Chat", icon=":material/chat:"),
            st.Page("pages/finetune.py", title="Fine-tune", icon=":material/model_training:"),
            st.Page("pages/evaluate.py", title="Evaluate", icon=":material/leaderboard:"),
            st.Page("pages/advisor.py", title="Advisor", icon=":material/recommend:"),
        ],
    }


def run_navigation() -> None:
    """Show the navigation and run the chosen page (called by app.py)."""
    _run.navigating = True
    try:
        st.navigation(app_pages()).run()
    finally:
        _run.navigating = False


def _route_through_navigation() -> None:
    # When the first request after a start is a deep link (e.g. /chat), Streamlit runs the page file
    # directly in its legacy pages/ mode, without app.py: run the real navigation instead, once.
    if not getattr(_run, "navigating", False):
        st.set_page_config(page_title="domainchat", page_icon=PAGE_ICON, layout="wide")
        run_navigation()
        st.stop()


def _release_services(svc: Services) -> None:
    # A bundle dropped from the cache (cleared, or the tests' clean-up between apps) gives back its index lock and
    # parser process at once instead of whenever the garbage collector gets to it.
    svc.close()


@st.cache_resource(show_spinner="Opening the document index…", on_release=_release_services)
def _cached_services(_settings: Settings, key: str) -> Services:
    # `key` (the settings' repr) is what the cache hashes; one bundle per configuration per process.
    svc = build_services(_settings, check_store=True)
    svc.library.parsers.warm()  # the first upload need not wait for a parser process to start
    warm = getattr(
        svc.embedder, "warm_in_background", None
    )  # the bundled model; an Ollama embedder has nothing to load
    if warm is not None:
        warm()  # nor the first question for the embedding model and its question encoder
    return svc


def services() -> Services:
    """The services for the current configuration, built once per process."""
    settings = Settings.from_env()
    return _cached_services(settings, repr(settings))


def page_setup() -> Services:
    """Open the services and draw the sidebar every page shares; stops the page on a fatal error."""
    _route_through_navigation()
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
        if st.session_state.get("collection") not in names:
            st.session_state["collection"] = names[0] if names else None
        if names:
            st.selectbox(
                "Collection", names, key="collection", help="One collection per domain, e.g. manuals, legal, medical."
            )
        else:
            st.caption("No collection yet: create one on the Documents page.")
        show_engine_line(svc)
        st.caption(f"Embeddings (how passages are matched by meaning): {escape_markdown(svc.embedder.name)}")
    return svc


def show_engine_line(svc: Services) -> None:
    """One line under the sidebar's title: the engine that answers, where it runs and why (from the chat service)."""
    try:
        overview = svc.chat.overview(current_engine())
    except AppError as exc:
        show_error(exc)
        return
    # where and why come from the settings and the server's address (credentials removed in core): shown as text
    st.caption(
        f":material/memory: Engine: **{overview.engine}** ({escape_markdown(overview.where)}) — "
        f"{escape_markdown(overview.why)}"
    )


def show_error(exc: AppError) -> None:
    """The single place where an error reaches the user."""
    # Messages carry file names, parser output and remote error texts: shown as text, never as Markdown.
    st.error(escape_markdown(str(exc)), icon=":material/error:")


@contextmanager
def guarded() -> Iterator[None]:
    """Show an AppError raised inside the block as a message instead of a crash."""
    try:
        yield
    except AppError as exc:
        show_error(exc)


def current_collection() -> str | None:
    """The collection chosen in the sidebar (None until one exists)."""
    return st.session_state.get("collection")


def current_engine() -> str:
    """The engine chosen in this session (auto|ollama|embedded|openai): DOMAINCHAT_ENGINE until an Engine box
    changes it."""
    chosen = st.session_state.get(ENGINE_KEY)
    return chosen if chosen in ENGINE_CHOICES else services().settings.engine


def engine_select(where: DeltaGenerator, key: str) -> str:
    """The Engine box of a page that runs a model: it shows `current_engine()` and a pick changes it for every page."""
    if key not in st.session_state:  # the box's own state went when its page was left: start from the session's choice
        st.session_state[key] = current_engine()
    choice: str = where.selectbox(
        "Engine", ENGINE_CHOICES, key=key, help=ENGINE_HELP, on_change=_keep_engine_choice, args=(key,)
    )
    st.session_state[ENGINE_KEY] = choice
    return choice


def _keep_engine_choice(key: str) -> None:
    # Runs before the rerun a pick starts, so the sidebar's engine line, drawn above the box, already shows the pick.
    st.session_state[ENGINE_KEY] = st.session_state[key]


BUNDLED_MODEL_LIMITS = (
    "**You are on the bundled model**, Gemma 3 270M base, running on this machine. It shows the whole workflow and "
    "the shape of each comparison (RAG follows a changed document; a variant repeats what it was trained on), but it "
    "reads only about half of the retrieved answers right, so its scores say little about how good your chatbot "
    "can be. For that, point the app at a stronger model: an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp "
    "server, LM Studio) with `DOMAINCHAT_OPENAI_BASE_URL`, or Ollama; the app uses it the same way."
)


def show_model_limits(svc: Services, where: DeltaGenerator | None = None) -> None:
    """Say what the bundled small model can and cannot show, when it is the engine in use."""
    try:
        small = svc.chat.overview(current_engine()).bundled_small_model
    except AppError:
        return  # the engine's own error is shown where it is used
    if small:
        (where or st).info(BUNDLED_MODEL_LIMITS, icon=":material/info:")
