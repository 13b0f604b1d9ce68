"""Fine-tune page: build a training set from a collection, train a LoRA variant, manage variants (all through
svc.finetune)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.base.jobs import TERMINAL_STATES, JobStatus
from core.chat.safety import escape_markdown
from core.errors import AppError
from core.finetune.service import (
    RECIPE_TESTS,
    REWORDINGS_PER_PAIR,
    TRAINING_DEFAULTS,
    DatasetOptions,
    TrainingStatus,
)
from core.library.samples import sample_qa_files
from ui.common import current_collection, current_engine, guarded, page_setup, show_error
from ui.confirm import ask_to_confirm, confirm_dialog, pending
from ui.jobs_panel import job_panel, status_words

svc = page_setup()
settings = svc.settings
ft = svc.finetune
collection = current_collection()

st.title("Fine-tune")
st.caption(
    "Make the fine-tuned variant from the same documents the RAG side uses, so the comparison is fair: "
    "same base model, same documents, one trained into the weights, one retrieved at question time."
)

DEFAULTS = TRAINING_DEFAULTS
tab_data, tab_train, tab_variants = st.tabs(["1 · Training set", "2 · Train", "3 · Variants"])


def job_running(job_id: str) -> bool:
    """Whether a job has not ended yet (its panel polls only then)."""
    try:
        return not ft.job_status(job_id).terminal
    except AppError:
        return False  # job_progress shows the error


def live_state(job_id: str, drawn: str) -> str:
    """The job's state now (what it was drawn with when it cannot be read: job_progress shows the error)."""
    try:
        return ft.job_status(job_id).state
    except AppError:
        return drawn


def job_progress(job_id: str) -> JobStatus | None:
    """Read a background job's status and draw its progress bar (and a failed job's log); None if it cannot be read."""
    try:
        status = ft.job_status(job_id)
    except AppError as exc:
        show_error(exc)
        return None
    st.progress(status.fraction, text=escape_markdown(status.message))
    st.caption(f"Job {escape_markdown(job_id)}: {status_words(status)}")
    if status.state == "failed" and status.log_tail:
        st.code(status.log_tail, language=None)
    return status


# --- 1. training set ------------------------------------------------------------------------------
with tab_data:
    source = st.radio(
        "Where do the question/answer pairs come from?",
        ["Generate from the collection", "Import a Q&A file"],
        horizontal=True,
    )
    st.caption(
        "The split into training and evaluation is made by source before anything is generated. Evaluation has three "
        "halves: **trained questions, word for word** (they measure memorisation), the same **trained facts, "
        "reworded** (by the model, or by a Q&A file's `split: reworded` rows with `rewords`; they measure knowledge) "
        "and **new documents** (held out from training entirely). Without rewordings the trained facts are asked only "
        "word for word, and the set says so."
    )
    options_cols = st.columns(3)
    new_fraction = options_cols[0].slider("Held out as new documents", 0.1, 0.5, DatasetOptions.new_fraction, 0.05)
    seen_questions = options_cols[1].number_input(
        "Trained-fact questions (at most)", 5, 200, DatasetOptions.seen_questions
    )

    if source == "Generate from the collection":
        if not collection:
            st.info("Create a collection and upload documents on the **Documents** page first.")
        else:
            pairs_per_chunk = options_cols[2].number_input(
                "Pairs per chunk",
                1,
                6,
                DatasetOptions.pairs_per_chunk,
                help="Question/answer pairs written for each chunk (a passage of about 500 characters) of your "
                "documents.",
            )
            chosen_engine = current_engine()
            max_chunks = st.number_input(
                "Use at most this many chunks (0: all)", 0, 10_000, 0, help="A spread over the whole collection."
            )
            name = st.text_input("Training set name", value=collection.lower(), key="gen_name")
            st.caption(
                f"Questions are written by the chat's engine ({chosen_engine}) in a background job: you can leave this "
                "page "
                "meanwhile. Malformed replies are retried, then skipped and counted."
            )
            warning = ft.generator_warning(chosen_engine)
            if warning:
                st.warning(warning)
            if st.button("Generate training set", type="primary", disabled=ft.running_job() is not None):
                with guarded():
                    options = DatasetOptions(
                        pairs_per_chunk=int(pairs_per_chunk),
                        new_fraction=new_fraction,
                        seen_questions=int(seen_questions),
                        max_chunks=int(max_chunks) or None,
                    )
                    st.session_state["generation_job"] = ft.start_generation(
                        collection, name, options, engine=chosen_engine
                    )
                    st.session_state["dataset"] = name

        generation_id = st.session_state.get("generation_job")
        if generation_id:

            @job_panel(running=job_running(generation_id))
            def generation_panel(job_id: str) -> bool:
                """Live progress of the generation job, polled from its status file; True once it has ended."""
                status = job_progress(job_id)
                if status is None:
                    return True
                if status.state == "done":
                    st.success(escape_markdown(status.message))
                elif status.state in ("failed", "cancelled"):
                    st.warning(escape_markdown(status.message))
                elif st.button("Cancel generation", key=f"cancel-{job_id}"):
                    ft.cancel(job_id, wait_s=5)
                    st.rerun()
                return status.terminal

            generation_panel(generation_id)
    else:
        upload = st.file_uploader(
            "Q&A file: CSV with columns question, answer (source, page optional), or JSONL",
            type=["csv", "jsonl", "json"],
        )
        name = st.text_input("Training set name", value="imported", key="import_name")
        use_samples = bool(sample_qa_files()) and st.button(
            "Use the sample Q&A instead",
            help="The 45 question/answer pairs written for the three sample documents (sample_docs/*.questions.jsonl).",
        )
        if use_samples or (upload is not None and st.button("Import", type="primary")):
            with guarded():
                options = DatasetOptions(new_fraction=new_fraction, seen_questions=int(seen_questions))
                if use_samples:
                    info = ft.import_samples("samples" if name == "imported" else name, options)
                else:
                    assert upload is not None  # the Import button is shown only with a file
                    info = ft.import_training_set(name, upload.getvalue(), upload.name, options)
                st.session_state["dataset"] = info.name
                st.success(
                    f"Imported **{escape_markdown(info.name)}**: {info.stats.train_pairs} training pairs, "
                    f"{info.stats.halves_summary()}."
                )

    saved = ft.training_sets()  # after the buttons above, which may have saved one; tab 2 reuses it
    st.subheader("Review and edit")
    if not saved:
        st.caption("No training set yet.")
    else:
        names = [d.name for d in saved]
        current = st.session_state.get("dataset")
        chosen = st.selectbox(
            "Training set", names, index=names.index(current) if current in names else 0, key="review_dataset"
        )
        pairs = ft.training_pairs(chosen)
        table = [{"question": p.question, "answer": p.answer, "source": p.source, "page": p.page} for p in pairs]
        edited = st.data_editor(table, num_rows="dynamic", width="stretch", key=f"editor-{chosen}")
        c1, c2, c3 = st.columns([1, 1, 3])
        if c1.button("Save edits"):
            with guarded():
                kept = ft.save_edits(chosen, edited)
                st.success(f"Saved {kept} training pairs.")
        fmt = c2.selectbox(
            "Export format",
            ["messages", "alpaca", "sharegpt"],
            format_func=lambda f: {"messages": "chat messages (JSONL)", "alpaca": "Alpaca", "sharegpt": "ShareGPT"}[f],
            help="What Axolotl, LLaMA-Factory, Unsloth and TRL read; `python -m core finetune export --format` "
            "also writes a README naming the base model and chat template.",
        )
        c2.download_button(
            f"Download {'JSONL (chat messages)' if fmt == 'messages' else fmt + ' JSON'}",
            ft.export_text(chosen, fmt),
            file_name=f"{chosen}.{'jsonl' if fmt == 'messages' else fmt + '.json'}",
            mime="application/jsonl" if fmt == "messages" else "application/json",
        )
        stats = next(d for d in saved if d.name == chosen).stats
        c3.caption(
            f"{stats.train_pairs or len(pairs)} training pairs · {stats.halves_summary()} · split by {stats.split_by}"
        )

# --- 2. training ------------------------------------------------------------------------------------
with tab_train:
    running = ft.running_job()
    if not saved:
        st.info("Build or import a training set first (tab 1).")
    else:
        names = [d.name for d in saved]
        with st.form("train"):
            dataset_name = st.selectbox("Training set", names)
            engine_name = st.radio(
                "Base model",
                ["embedded", "ollama"],
                horizontal=True,
                format_func=lambda e: (
                    "Embedded: the bundled Gemma 3 270M"
                    if e == "embedded"
                    else f"Ollama: {settings.ollama_model} (its local GGUF)"
                ),
            )
            variant_name = st.text_input(
                "Variant name",
                value=f"{names[0]}-ft",
                help="The fine-tuned model's name, as Chat and Evaluate list it (a variant: the base model plus "
                "what it learned here).",
            )
            cols = st.columns(4)
            epochs = cols[0].number_input(
                "Epochs",
                1,
                50,
                DEFAULTS.epochs,
                help="Measured here: 10 epochs learn 99 of 100 pairs; 5 only about half.",
            )
            learning_rate = cols[1].number_input(
                "Learning rate",
                1e-5,
                1e-2,
                DEFAULTS.learning_rate,
                format="%.0e",
                help="How far each training step moves the model; the default suits these small training sets.",
            )
            lora_r = cols[2].number_input(
                "LoRA rank",
                2,
                64,
                DEFAULTS.lora_r,
                help="Training changes a small add-on to the model (a LoRA adapter), not the model itself; a higher "
                "rank lets it learn more and makes each step slower.",
            )
            max_steps = cols[3].number_input(
                "Stop after steps (0: all)",
                0,
                100_000,
                0,
                help="A step trains on one small batch of pairs; 0 runs every epoch to the end.",
            )
            recipes = {key.replace("-", " "): key for key in RECIPE_TESTS}  # "read passages" → "read-passages"
            recipe = st.radio(
                "Recipe",
                list(recipes),
                captions=[RECIPE_TESTS[key] for key in recipes.values()],
                help=f"read passages uses the sidebar's collection ('{collection or '—'}'); for a share of pairs it "
                "also shows another question's passages with the answer 'not in the documents'. Its examples are ~10× "
                f"longer, so each step costs more. paraphrase trains {REWORDINGS_PER_PAIR} rewordings per pair "
                f"({REWORDINGS_PER_PAIR + 1} examples per pair): "
                "written by the engine's instruction model, or by fixed rules on the bundled base model, and never "
                "a question of the reworded half. The variant records its recipe; the Evaluate page scores recipes "
                "side by side.",
            )
            submitted = st.form_submit_button("Start training", type="primary", disabled=running is not None)
        if running is not None:
            st.caption(f"A job is running ({running.job_id}): one heavy job at a time on this machine.")
        if submitted:
            with guarded():
                st.session_state["job_id"] = ft.start_training(
                    dataset_name,
                    engine=engine_name,
                    variant_name=variant_name,
                    epochs=int(epochs),
                    learning_rate=float(learning_rate),
                    lora_r=int(lora_r),
                    max_steps=int(max_steps),
                    recipe=recipes[recipe],
                    collection=collection or "",
                )
                st.rerun()

    all_jobs = ft.training_jobs()
    if all_jobs:
        listed = {j.job_id: j for j in all_jobs}
        states = {i: j.state for i, j in listed.items()}
        ids = list(states)
        current = st.session_state.get("job_id")
        job_id = st.selectbox(
            "Job",
            ids,
            index=ids.index(current) if current in ids else 0,
            format_func=lambda i: f"{i} · {status_words(listed[i])}",
        )

        # a change of state (queued → running) redraws the page, so the list above never says "queued" for a running job
        @job_panel(
            running=states[job_id] not in TERMINAL_STATES,
            state=lambda: live_state(job_id, states[job_id]),
            drawn=states[job_id],
        )
        def training_panel(job_id: str) -> bool:
            """Live progress of one training job, polled from its status file; True once it has ended."""
            status = job_progress(job_id)
            if not isinstance(status, TrainingStatus):  # unreadable (None); the jobs listed here are all training jobs
                return True
            m = st.columns(4)
            m[0].metric("State", status.state)
            m[1].metric("Step", f"{status.step}/{status.total_steps or '?'}")
            m[2].metric("Loss", f"{status.loss:.3f}" if status.loss is not None else "–")
            m[3].metric("Time left", f"{status.eta_s / 60:.1f} min" if status.eta_s else "–")
            if status.loss_history:
                st.line_chart({"loss": status.loss_history}, x_label="step", y_label="loss", height=220)
            if status.terminal:
                cost = status.cost
                if cost:
                    st.caption(
                        f"Cost: {cost.get('wall_s')} s in all, {cost.get('examples')} examples × {cost.get('epochs')} "
                        "epochs, "
                        f"{cost.get('s_per_step')} s per step on {cost.get('device')}, "
                        f"at most {cost.get('peak_rss_mb')} MB of memory"
                    )
                serve = status.serve_commands
                if serve:
                    with st.expander("Serve this adapter on an OpenAI-compatible server (vLLM, SGLang, llama.cpp)"):
                        for server, command in serve.items():
                            st.caption("then register the served name:" if server == "register" else f"{server}:")
                            st.code(command, language="bash")
                if status.state == "done" and status.variant:
                    # Chat opens with Compare on and this variant picked (it reads the link's query parameters once).
                    st.page_link(
                        "pages/chat.py",
                        label="Compare in Chat",
                        icon=":material/compare_arrows:",
                        help=f"Opens Chat with Compare on and the variant {status.variant} picked.",
                        query_params={"compare": "1", "variant": status.variant},
                    )
            elif st.button("Cancel job", key=f"cancel-{job_id}"):
                ft.cancel(job_id, wait_s=5)
                st.rerun()
            return status.terminal

        training_panel(job_id)

# --- 3. variants ------------------------------------------------------------------------------------
with tab_variants:
    variants = ft.variants()
    if not variants:
        st.caption("No variant yet. Train one (tab 2), or register a model you trained elsewhere below.")
    else:
        st.dataframe(
            [
                {
                    "name": v.name,
                    "engine": v.variant.engine,
                    "base": v.variant.base_model,
                    "dataset": v.variant.dataset,
                    "recipe": v.recipe,
                    "train time (s)": v.variant.cost.get("wall_s"),
                    "examples": v.variant.cost.get("examples"),
                    "created": datetime.fromtimestamp(v.variant.created).strftime("%Y-%m-%d %H:%M"),
                }
                for v in variants
            ],
            hide_index=True,
            width="stretch",
        )
        doomed = st.selectbox(
            "Variant to delete", [v.name for v in variants], index=None, placeholder="choose a variant"
        )
        if doomed and st.button(f"Delete {doomed}", icon=":material/delete:"):
            ask_to_confirm("delete_variant", doomed)

        def _delete_variant(name: str) -> str:
            ft.delete_variant(name)
            return f"Deleted the variant {name}."

        doomed_variant = escape_markdown(str(pending("delete_variant")))
        confirm_dialog(
            "delete_variant",
            "Delete this variant?",
            f"Deletes the fine-tuned variant **{doomed_variant}** (its adapter, or the Ollama model this app created "
            "for it). "
            "Its training set stays. This cannot be undone.",
            _delete_variant,
        )
    with st.expander("Use an existing Ollama model as the fine-tuned variant"):
        with st.form("register_existing"):
            ollama_model = st.text_input(
                "Ollama model (as `ollama list` shows it)", placeholder="e.g. my-manuals-ft:latest"
            )
            reg_name = st.text_input("Variant name", placeholder="e.g. manuals-ft")
            if st.form_submit_button("Register") and ollama_model and reg_name:
                with guarded():
                    ft.register_existing_ollama(reg_name.strip(), ollama_model.strip())
                    st.success(f"Registered {escape_markdown(reg_name)}: pick it in the Chat sidebar.")
