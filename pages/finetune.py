"""Fine-tune page: build a training set from a collection, train a LoRA variant, manage variants."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.errors import AppError
from core.finetune import dataset as ds
from core.finetune import jobs
from core.finetune.review import messages_jsonl, replace_training_pairs
from core.finetune.register import delete_variant, list_variants, register_existing_ollama
from core.safety import escape_markdown
from core.samples import sample_qa_files
from pages.common import current_collection, guarded, page_setup, show_error

svc = page_setup()
settings = svc.settings
data_dir = settings.data_dir
collection = current_collection()

st.title("Fine-tune")
st.caption(
    "Make the fine-tuned variant from the same documents the RAG side uses, so the comparison is fair: "
    "same base model, same documents, one trained into the weights, one retrieved at question time."
)

DEFAULTS = jobs.TrainConfig(job_id="defaults", data_dir="", dataset="")
tab_data, tab_train, tab_variants = st.tabs(["1 · Training set", "2 · Train", "3 · Variants"])

# --- 1. training set ------------------------------------------------------------------------------
with tab_data:
    source = st.radio("Where do the question/answer pairs come from?", ["Generate from the collection", "Import a Q&A file"], horizontal=True)
    st.caption(
        "The split into training and evaluation is made by source before anything is generated. Evaluation has two halves: "
        "**seen facts** (trained chunks, questions worded differently) and **new documents** (held out from training entirely)."
    )
    options_cols = st.columns(3)
    new_fraction = options_cols[0].slider("Held out as new documents", 0.1, 0.5, ds.DatasetOptions.new_fraction, 0.05)
    seen_questions = options_cols[1].number_input("Seen-facts questions (at most)", 5, 200, ds.DatasetOptions.seen_questions)

    if source == "Generate from the collection":
        if not collection:
            st.info("Create a collection and upload documents on the **Documents** page first.")
        else:
            pairs_per_chunk = options_cols[2].number_input("Pairs per chunk", 1, 6, ds.DatasetOptions.pairs_per_chunk)
            chosen_engine = st.session_state.get("engine_choice", settings.engine)
            max_chunks = st.number_input("Use at most this many chunks (0: all)", 0, 10_000, 0, help="A spread over the whole collection.")
            name = st.text_input("Training set name", value=collection.lower(), key="gen_name")
            st.caption(f"Questions are written by the chat's engine ({chosen_engine}). Malformed replies are retried, then skipped and counted.")
            if svc.engines.resolve(chosen_engine).name == "embedded":
                st.warning("The bundled Gemma 3 270M is a base model and rarely writes usable Q&A (measured: 0 usable pairs from 3 chunks, "
                           "9 malformed replies). Use an instruction model on Ollama, or import Q&A (the sample Q&A is one click away).")
            if st.button("Generate training set", type="primary"):
                with guarded():
                    ds.validate_dataset_name(name)
                    engine = svc.engines.resolve(chosen_engine)
                    model = svc.engines.default_model(engine)
                    chunks = svc.store.all_chunks(collection)
                    bar = st.progress(0.0, text="Starting…")

                    def on_progress(done: int, total: int, message: str) -> None:
                        bar.progress(done / max(total, 1), text=f"{message} ({done}/{total})")

                    options = ds.DatasetOptions(pairs_per_chunk=int(pairs_per_chunk), new_fraction=new_fraction,
                                                seen_questions=int(seen_questions), max_chunks=int(max_chunks) or None)
                    built = ds.build_training_set(chunks, ds.engine_generator(engine, model), options, progress=on_progress)
                    ds.save_training_set(data_dir, name, built, {"collection": collection, "engine": engine.name, "model": model})
                    st.session_state["dataset"] = name
                    st.success(f"Saved **{name}**: {built.stats.train_pairs} training pairs, {built.stats.eval_seen} seen-facts and "
                               f"{built.stats.eval_new} new-document questions ({built.stats.malformed_outputs} malformed replies).")
    else:
        upload = st.file_uploader("Q&A file: CSV with columns question, answer (source, page optional), or JSONL", type=["csv", "jsonl", "json"])
        name = st.text_input("Training set name", value="imported", key="import_name")
        use_samples = bool(sample_qa_files()) and st.button(
            "Use the sample Q&A instead", help="The 45 question/answer pairs written for the three sample documents (sample_docs/*.questions.jsonl).")
        if use_samples or (upload is not None and st.button("Import", type="primary")):
            with guarded():
                if use_samples:
                    pairs = [p for f in sample_qa_files() for p in ds.read_qa_file(f)]
                    name = "samples" if name == "imported" else name
                else:
                    pairs = ds.read_qa_file(upload.getvalue(), upload.name)
                built = ds.split_imported(pairs, ds.DatasetOptions(new_fraction=new_fraction, seen_questions=int(seen_questions)))
                origin = "sample_docs/*.questions.jsonl" if use_samples else upload.name
                ds.save_training_set(data_dir, ds.validate_dataset_name(name), built, {"imported_from": origin})
                st.session_state["dataset"] = name
                st.success(f"Imported **{escape_markdown(name)}**: {built.stats.train_pairs} training pairs, "
                           f"{built.stats.eval_seen} seen-facts and {built.stats.eval_new} new-document questions.")

    saved = ds.list_datasets(data_dir)  # after the buttons above, which may have saved one; tab 2 reuses it
    st.subheader("Review and edit")
    if not saved:
        st.caption("No training set yet.")
    else:
        names = [d["name"] for d in saved]
        current = st.session_state.get("dataset")
        chosen = st.selectbox("Training set", names, index=names.index(current) if current in names else 0, key="review_dataset")
        folder = ds.dataset_dir(data_dir, chosen)
        pairs = ds.load_training_pairs(folder)
        table = [{"question": p.question, "answer": p.answer, "source": p.source, "page": p.page} for p in pairs]
        edited = st.data_editor(table, num_rows="dynamic", width="stretch", key=f"editor-{chosen}")
        c1, c2, c3 = st.columns([1, 1, 3])
        if c1.button("Save edits"):
            with guarded():
                kept = replace_training_pairs(data_dir, chosen, edited)
                st.success(f"Saved {kept} training pairs.")
        c2.download_button("Download JSONL (chat messages)", messages_jsonl(pairs), file_name=f"{chosen}.jsonl", mime="application/jsonl")
        manifest = next(d for d in saved if d["name"] == chosen)
        stats = manifest.get("stats", {})
        c3.caption(f"{stats.get('train_pairs', len(pairs))} training pairs · {stats.get('eval_seen', '?')} seen-facts · "
                   f"{stats.get('eval_new', '?')} new-document questions · split by {stats.get('split_by', '?')}")

# --- 2. training ------------------------------------------------------------------------------------
with tab_train:
    running = jobs.heavy_job_holder(data_dir)
    if not saved:
        st.info("Build or import a training set first (tab 1).")
    else:
        names = [d["name"] for d in saved]
        with st.form("train"):
            dataset_name = st.selectbox("Training set", names)
            engine_name = st.radio("Base model", ["embedded", "ollama"], horizontal=True,
                                   format_func=lambda e: "Embedded: the bundled Gemma 3 270M" if e == "embedded" else f"Ollama: {settings.ollama_model} (its local GGUF)")
            variant_name = st.text_input("Variant name", value=f"{names[0]}-ft")
            cols = st.columns(4)
            epochs = cols[0].number_input("Epochs", 1, 50, DEFAULTS.epochs, help="Measured here: 10 epochs learn 99 of 100 pairs; 5 only about half.")
            learning_rate = cols[1].number_input("Learning rate", 1e-5, 1e-2, DEFAULTS.learning_rate, format="%.0e")
            lora_r = cols[2].number_input("LoRA rank", 2, 64, DEFAULTS.lora_r)
            max_steps = cols[3].number_input("Stop after steps (0: all)", 0, 100_000, 0)
            submitted = st.form_submit_button("Start training", type="primary", disabled=running is not None)
        if running is not None:
            st.caption(f"A job is running ({running.get('job_id')}): one heavy job at a time on this machine.")
        if submitted:
            with guarded():
                config = jobs.make_train_config(settings, dataset_name, engine=engine_name, variant_name=variant_name,
                                                epochs=int(epochs), learning_rate=float(learning_rate), lora_r=int(lora_r),
                                                lora_alpha=int(lora_r) * DEFAULTS.lora_alpha // DEFAULTS.lora_r, max_steps=int(max_steps))
                st.session_state["job_id"] = jobs.start_job(config)
                st.rerun()

    all_jobs = jobs.list_jobs(data_dir)
    if all_jobs:
        ids = [j["job_id"] for j in all_jobs]
        current = st.session_state.get("job_id")
        job_id = st.selectbox("Job", ids, index=ids.index(current) if current in ids else 0,
                              format_func=lambda i: f"{i} · {next(j for j in all_jobs if j['job_id'] == i).get('state')}")

        @st.fragment(run_every=2)
        def job_panel(job_id: str) -> None:
            """Live progress of one job, polled from its status file."""
            try:
                status = jobs.job_status(data_dir, job_id)
            except AppError as exc:
                show_error(exc)
                return
            state = status.get("state", "?")
            step, total = status.get("step") or 0, status.get("total_steps") or 0
            st.progress(step / total if total else 0.0, text=escape_markdown(str(status.get("message", ""))))
            m = st.columns(4)
            m[0].metric("State", state)
            m[1].metric("Step", f"{step}/{total or '?'}")
            m[2].metric("Loss", f"{status['loss']:.3f}" if status.get("loss") is not None else "–")
            eta = status.get("eta_s")
            m[3].metric("ETA", f"{eta / 60:.1f} min" if eta else "–")
            if status.get("loss_history"):
                st.line_chart({"loss": status["loss_history"]}, x_label="step", y_label="loss", height=220)
            if state in jobs.TERMINAL_STATES:
                cost = status.get("cost") or {}
                if cost:
                    st.caption(f"Cost: {cost.get('wall_s')} s wall, {cost.get('examples')} examples × {cost.get('epochs')} epochs, "
                               f"{cost.get('s_per_step')} s/step on {cost.get('device')}, peak {cost.get('peak_rss_mb')} MB")
                if state == "failed" and status.get("log_tail"):
                    st.code(status["log_tail"], language=None)
            elif st.button("Cancel job", key=f"cancel-{job_id}"):
                jobs.cancel_job(data_dir, job_id, wait_s=5)
                st.rerun()

        job_panel(job_id)

# --- 3. variants ------------------------------------------------------------------------------------
with tab_variants:
    variants = list_variants(data_dir)
    if not variants:
        st.caption("No variant yet. Train one (tab 2), or register a model you trained elsewhere below.")
    else:
        st.dataframe(
            [
                {
                    "name": v["name"], "engine": v["engine"], "base": v["base_model"], "dataset": v.get("dataset", ""),
                    "train time (s)": (v.get("cost") or {}).get("wall_s"), "examples": (v.get("cost") or {}).get("examples"),
                    "created": datetime.fromtimestamp(v.get("created", 0)).strftime("%Y-%m-%d %H:%M"),
                }
                for v in variants
            ],
            hide_index=True, width="stretch",
        )
        doomed = st.selectbox("Variant to delete", [v["name"] for v in variants], index=None, placeholder="choose a variant")
        if doomed and st.button(f"Delete {doomed}"):
            with guarded():
                delete_variant(settings, doomed)
                st.rerun()
    with st.expander("Use an existing Ollama model as the fine-tuned variant"):
        with st.form("register_existing"):
            ollama_model = st.text_input("Ollama model (as `ollama list` shows it)", placeholder="e.g. my-manuals-ft:latest")
            reg_name = st.text_input("Variant name", placeholder="e.g. manuals-ft")
            if st.form_submit_button("Register") and ollama_model and reg_name:
                with guarded():
                    register_existing_ollama(settings, reg_name.strip(), ollama_model.strip())
                    st.success(f"Registered {escape_markdown(reg_name)}: pick it in the Chat sidebar.")
