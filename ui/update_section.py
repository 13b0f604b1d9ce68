"""The document-update test as a page section: run it on the sample pair or uploaded versions; the latest result."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from core.chat.safety import escape_markdown
from core.chat.service import MODES
from core.errors import AppError
from core.evaluation.document_update import MISSED_REASONS, UpdateTestResult
from core.evaluation.scoring import share_text
from core.library.service import UploadedFile, is_test_collection
from core.services import Services
from ui.common import current_engine, show_error

SAMPLE = "The sample manual: revision 3 → revision 4 (six changed figures)"
UPLOAD = "My own document: two versions and the questions about what changed"


def render_update_test(svc: Services) -> None:
    """Draw the update test: what it does, the inputs, the Run button, and the latest result."""
    st.caption(
        "Index a document, replace it by its new version and measure, on this machine, how long indexing the change "
        "takes against re-training the variant, and whether each mode gives the old or the new figure before and "
        "after the change. It runs in a test collection of its own: your collections are not touched."
    )
    source = st.radio("Versions", [SAMPLE, UPLOAD], key="ut_source")
    uploads: dict[str, Any] = {}
    if source == UPLOAD:
        c1, c2, c3 = st.columns(3)
        uploads["old"] = c1.file_uploader("Old version", key="ut_old")
        uploads["new"] = c2.file_uploader("New version (same file name)", key="ut_new")
        uploads["questions"] = c3.file_uploader(
            "Changed-fact questions (JSONL)",
            type=["jsonl"],
            key="ut_questions",
            help='One line per changed fact: {"question": …, "answer": new answer, "old_answer": old answer}.',
        )
    arms = st.pills(
        "Modes",
        list(MODES),
        selection_mode="multi",
        default=list(MODES),
        key="ut_arms",
        help=(
            "The fine-tuned modes need a variant (Fine-tune page); without one they are skipped and the re-training "
            "cost is estimated."
        ),
    )
    probe = st.checkbox(
        "With no variant and no training run yet, measure this machine's training speed "
        "(a few real steps, about a minute)",
        value=True,
        key="ut_probe",
        help="The re-training cost is then estimated from it; unchecked, it stays unknown.",
    )
    keep = st.checkbox(
        "Keep the test collection afterwards (to look at its documents)",
        value=False,
        key="ut_keep",
        help="Unchecked, the test collection is deleted when the run ends. A kept one is listed apart on the "
        "Documents page (Test collections), where it can be deleted; it never appears in the collection pickers.",
    )
    ready = bool(arms) and (source == SAMPLE or all(uploads.values()))
    if st.button("Run the update test", icon=":material/update:", disabled=not ready, key="ut_run"):
        engine = current_engine()
        with st.status("Running the document-update test…", expanded=True) as box:
            bar = box.progress(0.0)
            line = box.empty()

            def on_progress(what: str, done: int, total: int) -> None:
                bar.progress(min(done / total, 1.0) if total else 0.0)
                line.write(what)

            try:
                if source == SAMPLE:
                    svc.update_test.run(svc.update_test.sample_config(arms, engine, probe, keep), on_progress)
                else:
                    files = {k: UploadedFile(f.name, f.getvalue()) for k, f in uploads.items()}
                    svc.update_test.run_uploads(
                        files["old"], files["new"], files["questions"], arms, engine, on_progress, probe, keep
                    )
                box.update(label="Update test finished", state="complete", expanded=False)
            except AppError as exc:
                box.update(label="Update test failed", state="error")
                show_error(exc)
            else:
                st.rerun()  # so everything above (e.g. the advice) uses the new result
    latest = svc.update_test.latest()
    if latest is None:
        st.caption("No update test has run yet in this data directory.")
    else:
        show_update_result(latest)


def show_update_result(result: UpdateTestResult) -> None:
    """The figures and the before/after table of a saved update test."""
    when = datetime.fromtimestamp(result.created).strftime("%Y-%m-%d %H:%M")
    retrain = result.retrain
    variant = escape_markdown(result.variant or "none")
    st.markdown(
        f"**Latest update test** ({when}, {result.engine} engine, "
        f"document **{escape_markdown(result.document)}**, variant {variant})"
    )
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Index the change",
        f"{result.reindex_s:.1f} s",
        help=f"{result.reindex_chunks} chunks embedded and stored, the old ones removed",
    )
    c2.metric(
        "Re-train the variant" + (" (estimate)" if retrain.estimated else ""),
        "unknown" if retrain.seconds is None else f"{retrain.seconds:.0f} s",
        help=retrain.basis or None,
    )
    ratio = result.ratio
    c3.metric("Re-training costs", "?" if ratio is None else f"{ratio:g}× more")
    st.caption(f"Re-training: {retrain.basis}")
    where = escape_markdown(result.collection)
    if not is_test_collection(result.collection):  # a result saved before the test had collections of its own
        st.caption(f"Ran in the collection {where}, among your collections: delete it on the Documents page if unused.")
    elif result.collection_kept:
        st.caption(f"Ran in the test collection {where}, kept: it is listed apart on the Documents page.")
    else:
        st.caption(f"Ran in the test collection {where}, deleted when the run ended.")
    st.table(
        [
            {
                "mode": f.mode,
                "before: old figure": f"{f.before_old}/{f.n}",
                "after: new figure": f"{f.after_new}/{f.n}",
                "after: new figure, share (95% interval)": (
                    share_text(f.after_new / f.n, None, f.after_new_interval) if f.n else "no question"
                ),
                "after: still the old figure": f"{f.after_old}/{f.n}",
            }
            for f in result.figures()
        ],
        hide_index=True,
    )
    st.markdown("**What this run showed** (95% intervals in brackets)")
    for finding in result.findings():
        st.caption(escape_markdown(finding))
    for note in result.skipped:
        st.caption(f"Skipped {note}.")
    with st.expander("Every answer, before and after"):
        rows = [
            {
                "question": a.question,
                "old": a.old_answer,
                "new": a.answer,
                "mode": a.mode,
                "before": a.before,
                "after": a.after,
                "why not the new figure": MISSED_REASONS[a.why_missed] if a.why_missed else "",
            }
            for a in result.answers()
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
