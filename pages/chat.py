"""Chat page: ask about the collection in one of four modes; answers stream with their sources."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import partial
from typing import Iterable, Iterator, cast

import streamlit as st

from core.chat.answers import AnswerRecord
from core.chat.followup import recent_turns
from core.chat.history import ChatMessage, Conversation, tally_preferences, to_json, to_markdown
from core.chat.safety import escape_markdown
from core.chat.service import MODES, RETRIEVAL_MODES, VARIANT_MODES, Mode, Question
from core.chat.turn import TurnStream
from core.config import RETRIEVAL_METHODS
from core.errors import AppError
from core.index.retrieval import Method
from ui.common import MODE_GLOSS, current_collection, engine_select, guarded, page_setup, show_error
from ui.confirm import ask_to_confirm, confirm_dialog
from ui.page_view import source_page_toggle

RECENT_MESSAGES = 40  # messages drawn at first; "Show earlier messages" adds as many again
# The retrieval methods in plain words (the values stay `dense` / `fused`: DOMAINCHAT_RETRIEVAL and the CLI use them).
RETRIEVAL_WORDS = {"dense": "meaning only", "fused": "keywords + meaning"}

svc = page_setup()
settings = svc.settings
collection = current_collection()

# The Fine-tune page's "Compare in Chat" link: Compare on, the new variant picked (its query parameters, read once).
if st.query_params.get("compare"):
    st.session_state["compare"] = True
    st.session_state["linked_variant"] = st.query_params.get("variant", "")
    st.session_state["linked_new_chat"] = True  # a comparison of a new variant starts its own conversation
    st.query_params.clear()

# --- sidebar: engine, models, mode ----------------------------------------------------------------
with st.sidebar:
    st.divider()
    choice = engine_select(st.sidebar, key="engine_choice")
    try:
        overview = svc.chat.overview(choice)
    except AppError as exc:
        show_error(exc)
        st.stop()
    status = overview.status
    if status.ok:
        st.caption(f":material/check_circle: {escape_markdown(status.message)}")
    else:
        st.warning(escape_markdown(status.message))
    if overview.server_probe is not None and not overview.server_probe.ok:
        st.caption(f"Not using the OpenAI-compatible server: {escape_markdown(overview.server_probe.message)}")
    if overview.bundled_small_model:
        st.caption(
            ":material/info: The bundled 270M base model shows how the modes differ, not how good answers can be: "
            "it reads about half of the retrieved answers right. A stronger model on a server is used the same way."
        )

    base_options = overview.base_models
    base_index = base_options.index(overview.default_model) if overview.default_model in base_options else 0
    base_model = st.selectbox("Base model", base_options, index=base_index, key=f"base_model_{overview.engine}")
    variant_options = [m for m in overview.variant_choices if m != base_model]
    linked = st.session_state.pop("linked_variant", "")
    picked = next((m for m in variant_options if linked and (m == linked or m.startswith(f"{linked}:"))), None)
    if picked:
        st.session_state[f"variant_{overview.engine}"] = picked
    elif linked:
        st.caption(
            f":material/warning: The variant {escape_markdown(linked)} is not available on the {overview.engine} "
            "engine: "
            "pick the engine it was trained for above."
        )
    variant_model = st.selectbox(
        "Fine-tuned variant",
        variant_options,
        key=f"variant_{overview.engine}",
        placeholder="none yet" if not variant_options else "none: pick a model trained elsewhere",
        index=0 if overview.variants else None,
    )
    if not overview.variants:
        st.caption("No fine-tuned variant registered yet: build one on the **Fine-tune** page.")
    mode = st.radio(
        "Mode", list(MODES), index=1, format_func=lambda m: f"{m} — {MODES[m]}", key="mode", help=MODE_GLOSS
    )
    comparing = st.toggle(
        "Compare modes",
        key="compare",
        help="Answer each question in several modes, side by side, on the same engine. " + MODE_GLOSS,
    )
    compare_modes: list[str] = []
    if comparing:
        compare_modes = (
            st.pills(
                "Modes to compare",
                list(MODES),
                selection_mode="multi",
                key="compare_modes",
                default=["base", "rag", "finetuned", "hybrid"] if variant_model else ["base", "rag"],
            )
            or []
        )
        if len(compare_modes) < 2:
            st.caption("Pick at least two modes to compare.")
    follow_up = st.toggle(
        "Understand follow-up questions",
        value=True,
        key="follow_up",
        help="A question such as “and how do I remove them?” is rewritten into a standalone question from the recent "
        "turns "
        "before it is searched: by the model on Ollama, by a simple rule on the small embedded model. Off: searched as "
        "typed.",
    )
    top_k = st.slider(
        "Passages retrieved per question",
        1,
        10,
        settings.top_k,
        key="top_k",
        help="How many passages of your documents the rag and hybrid modes give the model with the question.",
    )
    temperature = st.slider(
        "Temperature",
        0.0,
        1.5,
        float(settings.temperature),
        0.05,
        key="temperature",
        help="0: the same, most likely answer every time; higher: more varied wording, and more mistakes.",
    )
    method = st.radio(
        "Retrieval",
        list(RETRIEVAL_METHODS),
        index=list(RETRIEVAL_METHODS).index(settings.retrieval),
        horizontal=True,
        format_func=lambda m: RETRIEVAL_WORDS.get(m, m),
        help="How passages are found. Meaning only: the passages closest in meaning to the question (embeddings). "
        "Keywords + meaning: also the passages that share the question's words (BM25), the two lists merged into one "
        "ranking.",
        key="retrieval",
    )

# --- conversations ----------------------------------------------------------------------------------
unsaved_key = f"unsaved_chat::{collection}"


def keep_if_unsaved(conversation: Conversation, error: AppError | None) -> None:
    """A conversation whose save failed stays in this session (shown, exportable) and is saved again next run."""
    if error is None:
        st.session_state.pop(unsaved_key, None)
    else:
        st.session_state[unsaved_key] = (conversation, error)


def save_chat(conversation: Conversation) -> None:
    """Save a conversation, or keep it in the session when that fails."""
    try:
        svc.chat.history.save(conversation)
    except AppError as exc:
        keep_if_unsaved(conversation, exc)
        return
    keep_if_unsaved(conversation, None)


# With fast reruns Streamlit starts this run while a stopped run may still be saving its partial answer: wait for it.
stream_lock = st.session_state.setdefault("chat_stream_lock", threading.Lock())
if stream_lock.acquire(timeout=10):
    stream_lock.release()
unsaved = st.session_state.get(unsaved_key)
if unsaved:
    save_chat(unsaved[0])
chats = svc.chat.history.conversations(collection)
unsaved = st.session_state.get(unsaved_key)
if unsaved:
    chats = [unsaved[0], *(c for c in chats if c.id != unsaved[0].id)]
active_key = f"active_chat::{collection}"
if st.session_state.pop("linked_new_chat", False):
    st.session_state[active_key] = "new"
active = st.session_state.get(active_key)
if active != "new" and active not in {c.id for c in chats}:
    active = chats[0].id if chats else "new"
with st.sidebar:
    st.divider()
    st.markdown("**Conversations**")
    if st.button("New chat", icon=":material/add:", width="stretch"):
        st.session_state[active_key] = "new"
        st.rerun()
    if chats:
        labels = {
            c.id: f"{escape_markdown(c.title)} · {datetime.fromtimestamp(c.updated).strftime('%m-%d %H:%M')}"
            for c in chats
        }
        ids = ["new", *labels] if active == "new" else list(labels)
        # No widget key: the radio is rebuilt (at `active`) whenever the list of chats changes.
        active = st.radio(
            "Past chats",
            ids,
            index=ids.index(active),
            format_func=lambda i: "(new chat)" if i == "new" else labels[i],
            label_visibility="collapsed",
        )
st.session_state[active_key] = active

# `chats` was just read from disk: take the active one from it rather than reading its file again.
chat: Conversation = svc.chat.history.new(collection) if active == "new" else next(c for c in chats if c.id == active)
if chat.messages:
    with st.sidebar:
        c1, c2 = st.columns(2)
        # Callables: the export is built when clicked, not on every rerun (it grows with the conversation).
        c1.download_button(
            "Markdown",
            partial(to_markdown, chat),
            file_name=f"chat-{chat.id[:8]}.md",
            mime="text/markdown",
            icon=":material/download:",
            width="stretch",
        )
        c2.download_button(
            "JSON",
            partial(to_json, chat),
            file_name=f"chat-{chat.id[:8]}.json",
            mime="application/json",
            icon=":material/download:",
            width="stretch",
        )
        if st.button("Delete this chat", icon=":material/delete:", width="stretch"):
            ask_to_confirm("delete_chat", chat.id)


def _delete_chat(chat_id: str) -> str:
    svc.chat.history.delete(collection, chat_id)
    st.session_state[active_key] = "new"
    return "Deleted the chat."


confirm_dialog(
    "delete_chat",
    "Delete this chat?",
    f"Deletes the conversation **{escape_markdown(chat.title)}** "
    f"({len(chat.messages)} messages). Export it first if you want to keep it. This cannot be undone.",
    _delete_chat,
)

# --- main ----------------------------------------------------------------------------------------
st.title("Chat")
if unsaved:
    show_error(unsaved[1])
    st.info(
        f"The conversation **{escape_markdown(unsaved[0].title)}** could not be saved: it is kept in this browser tab "
        "and saved as soon as "
        "that works again (any click retries). Export it with the sidebar buttons to keep a copy meanwhile."
    )
target = (
    f"collection **{escape_markdown(collection)}**"
    if collection
    else "no collection (create one on the Documents page)"
)
if comparing:
    st.caption(
        f"Asking {target} · comparing **{', '.join(compare_modes) or 'no mode'}** side by side"
        f" · engine **{overview.engine}**"
    )
else:
    st.caption(f"Asking {target} · mode **{mode}** ({MODES[mode]}) · engine **{overview.engine}**")
tallies = tally_preferences(chats)
if tallies:
    st.caption("Best answers so far in this collection: " + " · ".join(str(t) for t in tallies))


def show_sources(answer: AnswerRecord, key: str) -> None:
    """The passages an answer used, each with the cited page on demand (`key` keeps widget keys unique per answer)."""
    if not answer.sources:
        return
    with st.expander(f"Sources ({len(answer.sources)})"):
        for i, source in enumerate(answer.sources, 1):
            mark = " ← cited" if i in answer.cited else ""
            # a cosine, not a rank-fusion value
            shown = "similarity —" if source.similarity is None else f"similarity {source.similarity:.2f}"
            # listed as retrieval ranked them: with keyword fusion the rank is not the similarity's order
            st.markdown(
                f"**[{i}] {escape_markdown(source.file)}**, page {source.page} · rank {i} of {len(answer.sources)}"
                f" · {shown}{mark}"
            )
            if source.flag:
                st.warning(
                    f"This passage {escape_markdown(source.flag)}: it was quoted to the model as data only. Check the "
                    "document it comes from.",
                    icon=":material/gpp_maybe:",
                )
            st.caption(escape_markdown(source.text))
            source_page_toggle(svc, collection, source.to_dict(), key=f"{key}-{i}")


def show_searched(answer: AnswerRecord) -> None:
    """The standalone question a follow-up was searched and answered as (nothing for a question searched as typed)."""
    if answer.standalone:
        how = "rewritten by the model" if answer.rewritten_by == "model" else "completed from the previous question"
        # the modes without passages search nothing: the model was asked the standalone question
        verb = "Searched for" if answer.mode in RETRIEVAL_MODES else "Asked as"
        st.caption(f":material/search: {verb}: “{escape_markdown(answer.standalone)}” ({how})")


def show_label(answer: AnswerRecord, searched: bool = True) -> None:
    timings = answer.timings
    # The model name and error text come from the engine (an Ollama server can say anything): shown as text.
    parts = [
        f"mode **{escape_markdown(answer.mode)}**",
        f"model {escape_markdown(answer.model)}",
        f"engine {escape_markdown(answer.engine)}",
    ]
    if answer.ran:
        parts.append(f"what ran: {escape_markdown(answer.ran)}")
    if timings.first_token_ms is not None:
        parts.append(f"first word after {timings.first_token_ms / 1000:.1f} s")
    if timings.total_ms is not None:
        parts.append(f"whole answer in {timings.total_ms / 1000:.1f} s")
    if timings.tokens_per_s:
        parts.append(f"{timings.tokens_per_s:.0f} tokens/s")
    if answer.confidence is not None:
        without = " (judged without token probabilities: this engine gave none)"
        parts.append(f"confidence {answer.confidence:.0%}{without if answer.without_token_probabilities else ''}")
    st.caption(" · ".join(parts))
    if searched:
        show_searched(answer)
    if answer.incomplete:
        st.warning(
            f"Incomplete answer: {escape_markdown(answer.error)}"
            if answer.text
            else f"No answer: {escape_markdown(answer.error)}"
        )
    if answer.unsupported:
        st.warning(
            "Not supported by the documents: no retrieved passage contains this answer's facts.",
            icon=":material/report:",
        )
    if answer.unsure:
        cited = f" [{', '.join(str(n) for n in answer.cited)}]" if answer.cited else ""
        st.warning(
            f"Unsure — check the source{cited}: {escape_markdown(answer.confidence_reason)}.",
            icon=":material/help:",
        )
        note = svc.chat.confidence_note()
        if note:
            st.caption(note)
    for warning in answer.warnings:
        st.caption(f":material/warning: {escape_markdown(warning)}")


def show_comparison(message: ChatMessage, index: int) -> None:
    """A comparison from the history: the answers in columns, and the mark of the best one."""
    answers = message.answers
    # every mode answered the same standalone question: shown once, as searched when a mode searched
    show_searched(next((a for a in answers if a.mode in RETRIEVAL_MODES), answers[0]))
    for column, answer in zip(st.columns(len(answers)), answers):
        with column:
            best = " ★" if answer.mode == message.preferred else ""
            st.markdown(f"**{answer.mode}**{best}")
            st.markdown(escape_markdown(answer.text))
            show_label(answer, searched=False)
            show_sources(answer, key=f"{message.time}-{answer.mode}")
    modes = [a.mode for a in answers]
    picked = st.segmented_control(
        "Best answer",
        modes,
        default=message.preferred,
        key=f"best-{chat.id}-{index}",
        help="Mark the answer you prefer: the marks are saved with the chat and counted per mode.",
    )
    if picked != message.preferred:
        with guarded():
            chat.set_preference(index, picked)
            svc.chat.history.save(chat)
            st.rerun()


def ask_again(index: int, key: str) -> None:
    """An "Ask again" button under an incomplete or empty answer: asks its question once more as a new turn."""
    asked = chat.messages[index - 1] if index > 0 else {}
    if asked.get("role") != "user" or not asked.get("content"):
        return
    if st.button("Ask again", icon=":material/refresh:", key=f"again-{chat.id}-{key}"):
        st.session_state["pending_question"] = asked["content"]
        st.rerun()


# Draw only the latest messages (a rerun's cost must not grow with the whole conversation); older ones on demand.
shown_key = f"shown::{chat.id}"
shown = st.session_state.get(shown_key, RECENT_MESSAGES)
hidden = max(0, len(chat.messages) - shown)
if hidden and st.button(
    f"Show earlier messages ({hidden} not shown)", icon=":material/expand_less:", key="show_earlier"
):
    st.session_state[shown_key] = shown + RECENT_MESSAGES
    st.rerun()
for index, message in enumerate(chat.entries(hidden), hidden):
    with st.chat_message(message.role):
        if message.is_comparison:
            show_comparison(message, index)
            if any(a.incomplete for a in message.answers) and not message.pending:
                ask_again(index, str(message.time))
            continue
        st.markdown(escape_markdown(message.content))
        if message.answer is not None:
            show_label(message.answer)
            show_sources(message.answer, key=str(message.time))
            if message.answer.incomplete and not message.pending:
                ask_again(index, str(message.time))

if not comparing and mode in VARIANT_MODES and not variant_model:
    st.info(
        "The fine-tuned modes need a fine-tuned variant: build one on the **Fine-tune** page (or pick an existing "
        "model on Ollama). Until then use **rag** or **base**."
    )
elif not chat.messages:
    try:
        documents = svc.library.collection_info(collection).chunks if collection else 0
    except AppError:
        documents = 0  # gone since the sidebar listed it: the link below is the way forward
    if not documents:
        where = (
            f"The collection **{escape_markdown(collection)}** has no documents yet"
            if collection
            else "There is no collection yet"
        )
        st.info(f"{where}: the RAG modes have nothing to search. Add documents first, or ask the base model alone.")
        st.page_link("pages/documents.py", label="Add documents", icon=":material/upload_file:")
    else:
        st.info(
            "Ask a question about your documents below. Switch the mode in the sidebar to compare the base model, RAG, "
            "and the fine-tuned variant on the same question."
        )

failed = st.session_state.get("failed_question")
if failed:
    show_error(st.session_state.get("failed_error") or AppError("The last question failed."))
    st.info(f"Your last question did not get an answer and was kept: “{escape_markdown(failed)}”")
    r1, r2, _ = st.columns([1, 1, 6])
    if r1.button("Ask again"):
        st.session_state["pending_question"] = st.session_state.pop("failed_question")
        st.session_state.pop("failed_error", None)
        st.rerun()
    if r2.button("Dismiss"):
        st.session_state.pop("failed_question")
        st.session_state.pop("failed_error", None)
        st.rerun()
prompt = st.chat_input("Ask about your documents…") or st.session_state.pop("pending_question", None)


def escaped(pieces: Iterable[str]) -> Iterator[str]:
    for piece in pieces:
        yield escape_markdown(piece)


if prompt and comparing and len(compare_modes) < 2:
    st.session_state.update(
        failed_question=prompt,
        failed_error=AppError("Compare needs at least two modes: pick them in the sidebar, or switch Compare off."),
    )
    st.rerun()
if prompt:
    # the radios offer only MODES and RETRIEVAL_METHODS, so their values are a Mode and a Method
    question = Question(
        prompt,
        cast(Mode, mode),
        collection,
        base_model,
        variant_model,
        top_k,
        temperature,
        cast(Method, method),
        settings.max_answer_tokens,
        history=recent_turns(chat.messages),
        follow_up=follow_up,
    )
    with st.chat_message("user"):
        st.markdown(escape_markdown(prompt))
    # One core call keeps the turn: the question saved before the answer streams (a rerun or a closed tab mid-answer
    # keeps it, and the partial answer), the answer recorded full, partial or not at all, and the chat saved.
    turn: TurnStream = svc.chat.turn(
        chat,
        question,
        choice,
        compare_modes if comparing else None,
        # a wait retrieval has once (the keyword index after a restart) is said in the answer's place, not left silent
        on_wait=lambda message: st.caption(f":material/hourglass_top: {escape_markdown(message)}"),
    )
    try:
        with stream_lock, st.chat_message("assistant"), turn:
            st.session_state[active_key] = chat.id
            if comparing:
                # one column per mode; they stream one after the other (one model instance answers at a time)
                for column, stream in zip(st.columns(len(turn.streams)), turn.streams):
                    with column:
                        st.markdown(f"**{stream.answer.mode}**")
                        st.write_stream(escaped(stream))
                        live = AnswerRecord.from_answer(stream.answer)
                        show_label(live, searched=False)
                        show_sources(live, key=f"new-{live.mode}")
            else:
                st.write_stream(escaped(turn))
    except AppError as exc:
        # The question got no answer: it is offered again below ("Ask again"), not left in the history unanswered.
        if not chat.messages:
            st.session_state[active_key] = "new"
        st.session_state.update(failed_question=prompt, failed_error=exc)
        keep_if_unsaved(chat, turn.save_error if chat.messages else None)
        st.rerun()
    finally:
        # also when Streamlit stops the script mid-answer: the partial answer was saved, or is kept here
        if turn.failed is None:
            keep_if_unsaved(chat, turn.save_error)
    st.session_state[active_key] = chat.id
    st.rerun()
