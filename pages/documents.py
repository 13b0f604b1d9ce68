"""Documents page: collections, uploads with per-file progress, the documents table, re-index, delete."""

from __future__ import annotations

import math
from datetime import datetime

import streamlit as st

from core.chat.safety import escape_markdown
from core.errors import AppError
from core.library.samples import sample_uploads
from core.library.service import IngestResult, Progress, ReplaceResult, UploadedFile
from ui.common import current_collection, guarded, page_setup, show_error
from ui.confirm import ask_to_confirm, confirm_dialog, pending
from ui.page_view import show_page
from ui.samples import load_samples

svc = page_setup()
settings = svc.settings

st.title("Documents")
st.caption(
    "Upload manuals, contracts or clinical guides. They are parsed, chunked, embedded and indexed into Chroma, on this "
    "machine."
)

STAGE_LABELS = {
    "checking": "Checking",
    "parsing": "Parsing",
    "ocr": "OCR",
    "chunking": "Chunking",
    "embedding": "Embedding",
    "storing": "Storing",
    "keywords": "Building the keyword index",
    "done": "Done",
}
STATUS_ICONS = {
    "indexed": ":material/check_circle:",
    "duplicate": ":material/content_copy:",
    "rejected": ":material/block:",
    "replaced": ":material/published_with_changes:",
    "unchanged": ":material/content_copy:",
}
REPLACE_CHOICE = "Replace it with this new version"
KEEP_BOTH_CHOICE = "Keep both as separate documents"


def _create_collection() -> None:
    # A callback runs before the script, so the sidebar already shows the new collection.
    name = st.session_state.get("new_collection_name", "").strip()
    if not name:
        return
    try:
        st.session_state["collection"] = svc.library.create_collection(name).name
    except AppError as exc:
        st.session_state["flash_error"] = exc


def _delete_collection(name: str) -> None:
    count = svc.library.delete_collection(name)  # an AppError is shown by the confirmation dialog's caller
    st.session_state["flash_info"] = f"Deleted collection {name} ({count} documents)."
    st.session_state.pop("collection", None)
    st.session_state.pop("last_results", None)


def new_collection_form() -> None:
    with st.form("new_collection", clear_on_submit=True, border=False):
        st.text_input("New collection", placeholder="e.g. manuals, legal, medical", key="new_collection_name")
        st.form_submit_button("Create collection", on_click=_create_collection)


if svc.recovery and not st.session_state.get("recovery_shown"):
    st.session_state["recovery_shown"] = True  # once per browser session; the report lasts as long as the process
    st.warning(escape_markdown(svc.recovery.summary()), icon=":material/healing:")

if svc.library.store_health:
    st.warning(escape_markdown(svc.library.store_health.summary()), icon=":material/report:")
    if st.button("Rebuild from the kept originals", type="primary", icon=":material/build:"):
        with guarded(), st.spinner("Indexing every document of the damaged collections again from the kept originals…"):
            rebuilt = svc.library.rebuild_from_originals()
            lost = [r.name for r in rebuilt if r.status != "indexed"]
            st.session_state["flash_info"] = (
                f"Rebuilt from the kept originals: {len(rebuilt) - len(lost)} documents indexed again."
                + (f" Could not be indexed again (see the table): {', '.join(lost)}." if lost else "")
            )
            st.rerun()

if "flash_error" in st.session_state:
    show_error(st.session_state.pop("flash_error"))
if "flash_info" in st.session_state:
    st.success(escape_markdown(st.session_state.pop("flash_info")))


def _delete_test_collection(name: str) -> str:
    count = svc.library.delete_collection(name)  # an AppError is shown by the confirmation dialog's caller
    return f"Deleted test collection {name} ({count} documents)."


def test_collections_section() -> None:
    """The collections the document-update test kept, apart from the user's, each with a Delete button."""
    try:
        kept = svc.library.list_test_collections()
    except AppError:
        return  # the sidebar's listing of the same store has already shown the error
    if kept:
        with st.expander("Test collections (made by the document-update test)"):
            st.caption(
                "Kept on request (or left by a run that was killed). They are not offered in the collection pickers."
            )
            for test in kept:
                left, right = st.columns([4, 1])
                left.markdown(f"**{escape_markdown(test.name)}** · {test.chunks} chunks")
                if right.button("Delete", key=f"delete_test::{test.name}", icon=":material/delete:", width="stretch"):
                    ask_to_confirm("delete_test_collection", test.name)
    doomed = str(pending("delete_test_collection") or "")
    confirm_dialog(
        "delete_test_collection",
        "Delete this test collection?",
        f"Deletes the test collection **{escape_markdown(doomed)}**: its documents, chunks and kept originals. "
        "Your own collections are not touched.",
        _delete_test_collection,
        confirm_label="Delete test collection",
    )


picked = current_collection()
if picked is None:
    st.info("Start with a collection: one per domain, for example **manuals**, **legal** or **medical**.")
    st.page_link("pages/start.py", label="What the app decides, and the five steps", icon=":material/flag:")
    new_collection_form()
    if sample_uploads():
        st.divider()
        st.markdown(
            "Or try the app first with three sample documents: a dishwasher manual, a software licence agreement and a "
            "diabetes patient guide."
        )
        if st.button(
            "Load the sample documents",
            icon=":material/auto_stories:",
            help="Creates the collection 'samples' and indexes the files in sample_docs/ (about 10 s).",
        ) and load_samples(svc):
            st.rerun()  # the sidebar and the page now show the 'samples' collection
    test_collections_section()
    st.stop()
collection: str = picked  # named once it is known, so the functions below see a str too

with st.expander("New collection"):
    new_collection_form()

try:
    info = svc.library.collection_info(collection)
except AppError as exc:
    show_error(exc)
    st.stop()

st.subheader(f"Collection: {escape_markdown(collection)}")
st.caption(
    f"{info.chunks} chunks · embedded with {escape_markdown(info.embedding_model)} · chunk size {info.chunk_size}, "
    f"overlap {info.chunk_overlap}"
)

# --- upload -------------------------------------------------------------------------------------
uploads = st.file_uploader(
    f"Add documents: PDF, DOCX, TXT, MD, HTML or scans (PNG, JPEG, TIFF), up to {settings.max_upload_mb:g} MB each",
    accept_multiple_files=True,
    max_upload_size=math.ceil(settings.max_upload_mb),  # the browser refuses larger files before sending them
    key=f"uploader-{st.session_state.get('upload_round', 0)}",
    help=f"Up to {settings.max_upload_mb:g} MB per file. The type is read from the file's content, not its name.",
)
use_ocr = st.toggle(
    "Read scanned pages with OCR",
    value=settings.ocr,
    key="use_ocr",
    help="Pages without a usable text layer (a scan, perhaps under a stamped header) and PNG/JPEG/TIFF files are read "
    "by OCR, on this machine: a few seconds per scanned page. Off: such files are rejected as 'needs OCR'.",
)
files = [UploadedFile(f.name, f.getvalue()) for f in uploads or []]
# A file named like a document already here is most likely its new version: offer to replace it.
targets = svc.library.replacement_targets(collection, files) if files else {}
replacing: set[str] = set()
for name, record in targets.items():
    choice = st.radio(
        f"**{escape_markdown(name)}** is already in this collection (version {record.version}, indexed "
        f"{datetime.fromtimestamp(record.indexed_at).strftime('%Y-%m-%d %H:%M')}), with other content.",
        [REPLACE_CHOICE, KEEP_BOTH_CHOICE],
        key=f"clash-{st.session_state.get('upload_round', 0)}-{name}",
        horizontal=True,
    )
    if choice == REPLACE_CHOICE:
        replacing.add(name)
if files and st.button(f"Index {len(files)} file{'s' if len(files) != 1 else ''}", type="primary"):
    boxes: dict[str, tuple] = {}

    def on_progress(event: Progress) -> None:
        if event.name not in boxes:
            status = st.status(escape_markdown(event.name), expanded=False)
            boxes[event.name] = (status, status.progress(0.0), status.empty())
        status, bar, line = boxes[event.name]
        counts = f" {event.done}/{event.total}" if event.total else ""
        line.write(f"{STAGE_LABELS[event.stage]}{counts} {event.detail}".strip())
        if event.total:
            bar.progress(min(event.done / event.total, 1.0))
        status.update(
            label=f"{escape_markdown(event.name)} — {STAGE_LABELS[event.stage].lower()}{counts}", state="running"
        )

    results: list[IngestResult | ReplaceResult] = []
    try:
        results.extend(
            svc.library.ingest(
                collection, [f for f in files if f.name not in replacing], progress=on_progress, ocr=use_ocr
            )
        )
        for upload in files:
            if upload.name in replacing:
                results.append(
                    svc.library.replace_document(collection, upload, targets[upload.name].doc_id, progress=on_progress)
                )
    except AppError as exc:
        show_error(exc)
    for result in results:
        status = boxes.get(result.name, (None,))[0]
        if status is not None:
            state = "error" if result.status == "rejected" else "complete"
            status.update(
                label=f"{STATUS_ICONS[result.status]} {escape_markdown(result.name)} — {result.status}", state=state
            )
    st.session_state["last_results"] = results
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
    st.rerun()

# An upload cut off half-way (a click elsewhere, a closed tab, a restart): each file is indexed whole or not at all;
# say which.
for i, cut in enumerate(svc.library.interrupted_uploads(collection)):
    indexed = ", ".join(escape_markdown(n) for n in cut.indexed) or "none"
    missing = ", ".join(escape_markdown(n) for n in cut.missing) or "none"
    st.warning(
        f"An upload of {len(cut.indexed) + len(cut.missing)} file(s) started "
        f"{datetime.fromtimestamp(cut.started).strftime('%Y-%m-%d %H:%M')} "
        f"was cut off before it ended. Indexed: {indexed}. Not indexed — upload these again: {missing}.",
        icon=":material/running_with_errors:",
    )
    if st.button("Dismiss", key=f"dismiss-upload-{i}"):
        svc.library.dismiss_interrupted_upload(cut.id)
        st.rerun()

for result in st.session_state.get("last_results", []):
    if result.status == "indexed":
        scanned = f", {result.ocr_pages} read by OCR" if result.ocr_pages else ""
        st.success(
            f"**{escape_markdown(result.name)}** — indexed: {result.pages} page{'' if result.pages == 1 else 's'}"
            f"{scanned}, {result.chunks} chunk{'' if result.chunks == 1 else 's'}.",
            icon=":material/check_circle:",
        )
    elif result.status == "replaced":
        st.success(
            f"**{escape_markdown(result.name)}** — replaced by version {result.version}: {result.pages} pages, "
            f"{result.chunks} chunks "
            f"(were {result.previous_chunks}), indexed in {result.seconds:.1f} s.",
            icon=":material/published_with_changes:",
        )
    elif result.status in ("duplicate", "unchanged"):
        st.info(
            f"**{escape_markdown(result.name)}** — already indexed, nothing embedded twice. "
            f"{escape_markdown(result.reason)}",
            icon=":material/content_copy:",
        )
    else:
        st.error(
            f"**{escape_markdown(result.name)}** — rejected: {escape_markdown(result.reason)}", icon=":material/block:"
        )

# --- the table ----------------------------------------------------------------------------------
records = svc.library.list_documents(collection)
st.subheader("Documents")
if not records:
    st.caption("No documents yet: upload some above.")
else:
    # A new key whenever rows come or go: the browser keeps a table's selection by row position, so an old
    # selection would point at other documents (and a deleted row's box would stay ticked).
    table_key = (
        f"documents_table::{collection}::{st.session_state.get('upload_round', 0)}"
        f"::{st.session_state.get('table_round', 0)}"
    )
    event = st.dataframe(
        [
            {
                "name": r.name,
                "type": r.kind.upper(),
                "version": r.version,
                "pages": r.pages,
                "OCR pages": r.ocr_pages,
                "chunks": r.chunks,
                "size": r.size,
                # a rejected file was never indexed: no date, its status and reason say why
                "indexed": datetime.fromtimestamp(r.indexed_at) if r.status == "indexed" else None,
                "status": r.status,
                "reason": r.reason,
                "id": r.doc_id[:12],
            }
            for r in records
        ],
        hide_index=True,
        width="stretch",
        key=table_key,
        on_select="rerun",
        selection_mode="multi-row",
        # Real numbers and dates, so the columns sort as numbers and dates (not as text like "9.5 KB" > "10 KB").
        column_config={
            "size": st.column_config.NumberColumn("size", format="bytes", help="Size of the original file"),
            "indexed": st.column_config.DatetimeColumn("indexed", format="YYYY-MM-DD HH:mm"),
            "version": st.column_config.NumberColumn("version", format="%d"),
            "pages": st.column_config.NumberColumn("pages", format="%d"),
            "OCR pages": st.column_config.NumberColumn("OCR pages", format="%d", help="Pages read by OCR (scans)"),
            "chunks": st.column_config.NumberColumn("chunks", format="%d"),
        },
    )
    selected = [records[i] for i in event.selection.rows if i < len(records)]
    many = f"{len(selected)} document{'s' if len(selected) != 1 else ''}"
    if not selected:
        st.caption("Select rows (the boxes on the left) to delete or re-index those documents.")
    left, right, _ = st.columns([1, 1, 3])
    if left.button(
        f"Delete {many}" if selected else "Delete selected",
        icon=":material/delete:",
        disabled=not selected,
        width="stretch",
    ):
        ask_to_confirm("delete_documents", [r.doc_id for r in selected])
    if right.button(
        f"Re-index {many}" if selected else "Re-index selected",
        icon=":material/refresh:",
        disabled=not selected,
        width="stretch",
        help="Parse, chunk and embed again from the kept originals, with the collection's chunking "
        "(e.g. after turning OCR on).",
    ):
        with guarded(), st.spinner(f"Re-indexing {many}…"):
            st.session_state["last_results"] = svc.library.reindex_documents(collection, [r.doc_id for r in selected])
            st.session_state["table_round"] = (
                st.session_state.get("table_round", 0) + 1
            )  # rows may move: a fresh selection
            st.rerun()

    def _delete_documents(doc_ids: list[str]) -> str:
        for doc_id in doc_ids:
            svc.library.delete_document(collection, doc_id)
        st.session_state.pop("last_results", None)
        st.session_state["table_round"] = st.session_state.get("table_round", 0) + 1  # a fresh selection
        return f"Deleted {len(doc_ids)} document{'s' if len(doc_ids) != 1 else ''} and their chunks."

    doomed = pending("delete_documents") or []
    by_doc = {r.doc_id: r for r in records}
    listed = "\n".join(
        f"- {escape_markdown(by_doc[d].name)} ({by_doc[d].chunks} chunks)" for d in doomed if d in by_doc
    )
    confirm_dialog(
        "delete_documents",
        "Delete documents?",
        f"This deletes {len(doomed)} document{'s' if len(doomed) != 1 else ''} from **{escape_markdown(collection)}**, "
        "with their chunks and kept originals:\n\n"
        f"{listed}\n\nThis cannot be undone.",
        _delete_documents,
    )

    replaceable = [r for r in records if r.status == "indexed"]
    if replaceable:
        with st.expander("Replace a document with a new version"):
            st.caption(
                "The new file takes the document's place under the same name: its chunks are embedded before the old "
                "ones "
                "are removed, so the collection stays searchable, and the version number goes up."
            )
            by_id = {r.doc_id: r for r in replaceable}
            chosen = st.selectbox(
                "Document",
                list(by_id),
                format_func=lambda i: f"{by_id[i].name} (version {by_id[i].version}, {by_id[i].doc_id[:12]})",
                key="replace_doc",
            )
            new_file = st.file_uploader(
                "New version",
                key=f"replace-file-{st.session_state.get('upload_round', 0)}",
                max_upload_size=math.ceil(settings.max_upload_mb),
            )
            replace = st.button(
                "Replace", type="primary", disabled=new_file is None, icon=":material/published_with_changes:"
            )
            if replace and new_file is not None:
                with guarded(), st.spinner(f"Indexing the new version of {by_id[chosen].name}…"):
                    result = svc.library.replace_document(
                        collection, UploadedFile(new_file.name, new_file.getvalue()), chosen
                    )
                    st.session_state["last_results"] = [result]
                    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
                    st.rerun()

# --- see a page -----------------------------------------------------------------------------------
viewable = [r for r in records if r.status == "indexed"]
if viewable:
    # A toggle, not an expander: an expander's body runs (and would render a page) even when closed.
    if st.toggle(
        "See a page of a document",
        key="view_toggle",
        help="The page as it looks in the original, and the original for download.",
    ):
        names = {
            r.doc_id: f"{r.name} ({r.pages} pages{', ' + str(r.ocr_pages) + ' by OCR' if r.ocr_pages else ''})"
            for r in viewable
        }
        left, right = st.columns([3, 1])
        doc_id = left.selectbox("Document", list(names), format_func=names.__getitem__, key="view_doc")
        viewed = next(r for r in viewable if r.doc_id == doc_id)
        number = right.number_input("Page", 1, max(viewed.pages, 1), 1, key=f"view_page::{doc_id}")
        show_page(svc, collection, doc_id, int(number), key="documents")

# --- collection maintenance ---------------------------------------------------------------------
with st.expander("Re-index with other chunking"):
    st.caption(
        "Re-chunks and re-embeds every document from the originals kept in the data directory; nothing to upload again."
    )
    size = st.number_input("Chunk size (characters)", 200, 8000, info.chunk_size or settings.chunk_size, step=100)
    overlap = st.number_input("Overlap (characters)", 0, 2000, info.chunk_overlap, step=50)
    if st.button("Re-index collection"):
        with guarded(), st.spinner("Re-indexing…"):
            st.session_state["last_results"] = svc.library.reindex(collection, int(size), int(overlap))
            st.rerun()

with st.expander("Delete collection"):
    st.caption(
        f"Deletes **{escape_markdown(collection)}**: its {len(records)} documents, {info.chunks} chunks and kept "
        "originals."
    )
    if st.button("Delete collection", icon=":material/delete_forever:"):
        ask_to_confirm("delete_collection", collection)
doomed_collection = str(pending("delete_collection") or collection)
confirm_dialog(
    "delete_collection",
    "Delete this collection?",
    f"Deletes **{escape_markdown(doomed_collection)}**: its {len(records)} documents, {info.chunks} chunks and kept "
    "originals. This cannot be undone.",
    _delete_collection,
    confirm_label="Delete collection",
    type_to_confirm=doomed_collection,
)

test_collections_section()
