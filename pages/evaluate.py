"""Evaluate page: score base / rag / finetuned / hybrid on a question set, as a background run; the grid, charts,
answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import streamlit as st

from core.base.questions import SPLIT_LABELS, VERBATIM_MEANS, splits_explained, verbatim_only
from core.chat.safety import escape_markdown
from core.chat.service import MODES
from core.errors import AppError
from core.evaluation import answer_sources as sources
from core.evaluation.runs import EvalConfig, arm_label, expand_arms
from core.evaluation.scoring import GRID_METRICS, chart_rows, latency_rows, share_text
from core.evaluation.service import PAIRED_EXPLAINED
from core.evaluation.statistics import SHARE_BASES
from ui.common import MODE_GLOSS, current_collection, engine_select, guarded, page_setup, show_error
from ui.jobs_panel import job_panel, status_words
from ui.update_section import render_update_test

svc = page_setup()
settings = svc.settings
evaluation = svc.evaluation
collection = current_collection()
ARMS = list(MODES)
HEADLINE = [
    "correct",
    "f1",
    "similarity",
    "no_answer",
    "hit_k",
    "mrr",
    "refused_unanswerable",
    "declined_unanswerable",
    "refused_answerable",
    "unsupported_citations",
    "first_token_p50_ms",
    "total_p50_ms",
]
SHARE_METRICS = {
    "correct",
    "contains_any_length",
    "judge",
    "hit_1",
    "hit_k",
    "cites_reference",
    "refused_unanswerable",
    "refused_answerable",
    "declined_unanswerable",
    "flagged_answerable",
    "no_answer",
}

# The count a share is taken over: "8/15 · 53%" says how many questions the percentage stands for. The statistics'
# bases leave out "no answer", a share of every question, which therefore has no interval in the summary.
SHARE_BASE = {**SHARE_BASES, "no_answer": "n"}
INTERVAL_HELP = (
    " Read as count/questions · share, with the 95% Wilson interval in brackets: the range the true share is likely "
    "in, wide when the questions are few."
)
LATENCY_METRICS = {"first_token_p50_ms", "first_token_p95_ms", "total_p50_ms", "total_p95_ms"}
NOT_APPLICABLE = "–"
GRID_GROUPS: list[tuple[str, list[str]]] = [
    ("Answers", ["correct", "f1", "similarity", "no_answer"]),
    ("Retrieval and citations", ["hit_k", "mrr", "unsupported_citations"]),
    ("Refusals", ["refused_unanswerable", "declined_unanswerable", "refused_answerable"]),
    ("Speed", ["first_token_p50_ms", "total_p50_ms"]),
]
# Plain names and a one-line help for the grid's columns (the internal metric names stay in the downloads).
COLUMN_NAMES = {
    "correct": "correct answers",
    "f1": "word overlap (F1)",
    "similarity": "meaning similarity",
    "no_answer": "no answer given",
    "hit_k": "right page retrieved",
    "mrr": "rank of the right page (MRR)",
    "refused_unanswerable": "refused when not in the documents",
    "declined_unanswerable": "refused or flagged when not in the documents",
    "refused_answerable": "refused although answerable",
    "unsupported_citations": "citations that do not hold the answer",
    "first_token_p50_ms": "first word after (median)",
    "total_p50_ms": "whole answer after (median)",
}
COLUMN_HELP = {
    "correct": "Answers that contain the reference answer and are a sensible answer, of the answerable questions.",
    "f1": "How many words the answer shares with the reference, 0 to 1 (higher is better).",
    "similarity": "How close the answer's meaning is to the reference (embedding cosine), 0 to 1.",
    "no_answer": "Questions the mode gave no answer to at all (an empty answer, or the engine failed), of all "
    "questions (lower is better). Each one reads 'no answer' with its reason under Answers side by side.",
    "hit_k": "Questions whose reference file and page were among the passages retrieved (RAG modes only).",
    "mrr": "1 when the right page came first, 1/2 when second, …; averaged (RAG modes only).",
    "refused_unanswerable": "Of the questions the documents cannot answer, how many were refused (higher is better).",
    "declined_unanswerable": "Refused, or flagged as not supported by the documents (higher is better).",
    "refused_answerable": "Of the answerable questions, how many were refused (lower is better).",
    "unsupported_citations": "Answers citing a passage that does not contain their facts (lower is better).",
    "first_token_p50_ms": "Median time until the first word of the answer appeared, in seconds.",
    "total_p50_ms": "Median time until the whole answer was there, in seconds.",
}


# What the question splits mean (the grid names them: trained questions word for word, trained facts reworded,
# new documents, all).
SPLIT_HELP = (
    "trained questions, word for word: the fine-tune's own training questions (memorisation) · trained facts, "
    "reworded: the same facts asked in other words (knowledge) · seen facts: trained facts in a set saved before the "
    "two were told apart · new documents: documents left out of training · all: the whole question set"
)


def metric_name(metric: str) -> str:
    """A measure's plain name: the grid's column name where it has one, else the scorer's own."""
    return COLUMN_NAMES.get(metric, GRID_METRICS[metric])


def shown(row: Any, metric: str) -> str:
    """One grid cell as read: shares as whole percentages with their count, scores to two decimals, times in s."""
    value = row.value(metric)
    if value is None:
        return NOT_APPLICABLE
    if metric in SHARE_METRICS:
        return share_text(value, row.metrics.get(SHARE_BASE.get(metric, "")), row.metrics.get(f"{metric}_ci"))
    if metric in LATENCY_METRICS:
        return f"{value / 1000:.1f} s"
    if metric == "unsupported_citations":
        return f"{value:g}"
    return f"{value:.2f}"


def column_help(metric: str) -> str:
    """A grid column's help, with how a share and its interval read."""
    return COLUMN_HELP[metric] + (INTERVAL_HELP if metric in SHARE_METRICS else "")


def metric_chart(rows: list[dict[str, Any]], metric: str) -> alt.LayerChart:
    """Bars of one measure per split and mode, with a line over each share's 95% interval."""
    share = metric in SHARE_METRICS
    base = alt.Chart(alt.Data(values=rows)).encode(
        # a long half's name on two lines ("trained questions," / "word for word"): on one, Vega drops it as overlapping
        x=alt.X(
            "split:N",
            title=None,
            sort=None,
            axis=alt.Axis(
                labelAngle=0, labelFontSize=12, labelExpr="split(datum.label, ', ')", labelLimit=0, labelOverlap=False
            ),
        ),
        xOffset=alt.XOffset("mode:N"),
    )
    y = alt.Y(
        "value:Q",
        title=metric_name(metric),
        axis=alt.Axis(format=".0%") if share else alt.Axis(),
        scale=alt.Scale(domain=[0, 1]) if share else alt.Scale(zero=True),
    )
    tooltip = [alt.Tooltip("mode:N"), alt.Tooltip("split:N", title="questions about")]
    tooltip += (
        [
            alt.Tooltip("value:Q", title=metric_name(metric), format=".0%"),
            alt.Tooltip("low:Q", title="95% interval from", format=".0%"),
            alt.Tooltip("high:Q", title="95% interval to", format=".0%"),
        ]
        if share
        else [alt.Tooltip("value:Q", title=metric_name(metric), format=".2f")]
    )
    bars = base.mark_bar().encode(
        # modes in name order, as the answer-time chart beside it colours them: one colour per mode on both
        y=y,
        color=alt.Color("mode:N", legend=alt.Legend(orient="bottom", title=None)),
        tooltip=tooltip,
    )
    layers: list[Any] = [bars]
    if share and any(r["low"] is not None for r in rows):
        # a rule from the interval's low to its high end over each bar, capped by short ticks so it reads as a range
        interval = base.transform_filter("isValid(datum.low)")
        layers.append(interval.mark_rule(color="#31333f", strokeWidth=2).encode(y="low:Q", y2="high:Q"))
        layers += [
            interval.mark_tick(color="#31333f", thickness=2, size=10).encode(y=f"{end}:Q") for end in ("low", "high")
        ]
    return alt.LayerChart(layer=layers, height=300)


# Right answers in greens, wrong ones in oranges and reds, answers with no verdict in greys: one colour per category.
SOURCE_COLOURS = {
    sources.RIGHT_SUPPORTED: "#1b7837",
    sources.RIGHT_UNSUPPORTED: "#a6dba0",
    sources.RIGHT: "#5aae61",
    sources.MISREAD: "#fdae61",
    sources.RETRIEVAL_MISS: "#d73027",
    sources.WRONG: "#f46d43",
    sources.DECLINED: "#8c8c8c",
    sources.NO_ANSWER: "#d0d0d0",
}


def latency_chart(rows: list[dict[str, Any]]) -> alt.Chart:
    """Seconds per measure, one horizontal bar per mode: the measures' names ("whole answer, 95% within") in full."""
    measures = list(dict.fromkeys(r["measure"] for r in rows))
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("seconds:Q", title="seconds"),
            y=alt.Y("measure:N", title=None, sort=measures, axis=alt.Axis(labelLimit=0)),
            yOffset=alt.YOffset("mode:N"),
            color=alt.Color("mode:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=[alt.Tooltip("mode:N"), alt.Tooltip("measure:N"), alt.Tooltip("seconds:Q", format=".2f")],
        )
        .properties(height=300)
    )


def sources_chart(rows: list[dict[str, Any]]) -> alt.Chart:
    """One horizontal bar per mode, stacked by where its answers came from, categories in a fixed order and colour."""
    kinds = list(dict.fromkeys(r["category"] for r in sorted(rows, key=lambda r: r["order"])))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("answers:Q", title="answerable questions", stack="zero", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("mode:N", title=None, sort=modes, axis=alt.Axis(labelFontSize=13, labelLimit=320)),
            color=alt.Color(
                "label:N",
                title=None,
                scale=alt.Scale(
                    domain=[sources.CATEGORY_LABELS[k] for k in kinds], range=[SOURCE_COLOURS[k] for k in kinds]
                ),
                legend=alt.Legend(orient="bottom", columns=1, labelFontSize=13, labelLimit=0, symbolType="square"),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("mode:N"),
                alt.Tooltip("label:N", title="answers that were"),
                alt.Tooltip("answers:Q", title="answers"),
                alt.Tooltip("share:Q", title="share of answerable questions", format=".0%"),
            ],
        )
        # Streamlit fits the whole chart, legend and axis title included, into this height: room for each mode's
        # bar, the axis, and one legend line per kind (one column, so no label is cut at the chart's edge)
        .properties(height=40 * len(modes) + 60 + 22 * len(kinds))
    )


# How sure the answers were: one column per figure of core/evaluation/confidence_metrics.py, with what it counts.
SURE_HELP = {
    "marked sure": "Answers the app stood behind (given, not marked unsure, not flagged 'not supported'), of the "
    "answerable questions.",
    "right when marked sure": "Of the answers marked sure, how many were right (higher is better), with the 95% "
    "Wilson interval in brackets.",
    "wrong, not marked": "Wrong answers that carried no mark at all, of the answerable questions (lower is better): "
    "the ones a reader would trust.",
    "right, marked unsure": "Of the right answers, how many were marked unsure anyway (lower is better).",
    "tells right from wrong (AUROC)": "How often a right answer got a higher confidence than a wrong one: 0.5 is "
    "chance, 1 is perfect.",
}


def sure_cells(figures: dict[str, Any]) -> dict[str, str]:
    """One mode's row of the confidence table: shares as 'x/n · %', the sure answers' accuracy with its interval."""

    def share(key: str, interval: bool = False) -> str:
        s = figures[key]
        return NOT_APPLICABLE if s["share"] is None else share_text(s["share"], s["n"], s["ci"] if interval else None)

    auroc = figures.get("auroc")
    cells = [share("sure_share"), share("selective_accuracy", interval=True)]
    cells += [share("confidently_wrong"), share("right_marked_unsure")]
    cells.append(NOT_APPLICABLE if auroc is None else f"{auroc:.2f}")
    return dict(zip(SURE_HELP, cells))


def reliability_rows(confidence: dict[str, Any], label: Any) -> list[dict[str, Any]]:
    """The reliability diagram's points: per mode (named by `label`) and band of confidence holding answers."""
    return [
        {
            "mode": label(arm),
            "band": f"{b['low']:g}–{b['high']:g}",
            "answers": b["n"],
            "confidence": b["mean_confidence"],
            "right": b["right"],
        }
        for arm, figures in confidence.items()
        for b in figures["reliability"]
        if b["n"]
    ]


def reliability_chart(rows: list[dict[str, Any]]) -> alt.LayerChart:
    """The reliability diagram: per mode and band of confidence, the share right at the band's mean confidence, over
    the diagonal where the two agree."""
    ticks = [0, 0.2, 0.4, 0.6, 0.8, 1]  # the bands' edges, so each point reads against its band
    x = alt.X(
        "confidence:Q",
        title="confidence (answers in bands of 0.2, at their mean)",
        scale=alt.Scale(domain=[0, 1]),
        axis=alt.Axis(values=ticks, labelFontSize=13, titleFontSize=13),
    )
    y = alt.Y(
        "right:Q",
        title="share right",
        scale=alt.Scale(domain=[0, 1]),
        axis=alt.Axis(format=".0%", values=ticks, labelFontSize=13, titleFontSize=13),
    )
    diagonal = (
        alt.Chart(alt.Data(values=[{"confidence": 0, "right": 0}, {"confidence": 1, "right": 1}]))
        .mark_line(color="#8c8c8c", strokeDash=[6, 4])
        .encode(x=x, y=y)
    )
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=x, y=y, color=alt.Color("mode:N", legend=alt.Legend(orient="bottom", title=None, labelFontSize=13))
    )
    points = base.mark_circle(opacity=0.9).encode(
        size=alt.Size("answers:Q", legend=None, scale=alt.Scale(range=[60, 400])),  # a bigger dot weighs more
        tooltip=[
            alt.Tooltip("mode:N"),
            alt.Tooltip("band:N", title="confidence band"),
            alt.Tooltip("answers:Q"),
            alt.Tooltip("confidence:Q", title="mean confidence", format=".2f"),
            alt.Tooltip("right:Q", title="share right", format=".0%"),
        ],
    )
    return alt.LayerChart(layer=[diagonal, base.mark_line(strokeWidth=2), points], height=340)


st.title("Evaluate")
st.caption(
    "Score the four modes on questions with known answers, split into the fine-tune's **trained questions, word for "
    "word** (memorisation), the same **trained facts, reworded** (knowledge) and **new documents** (what it never "
    "saw). An answer counts as correct only if it contains the reference and is a "
    "sensible answer: no list of candidates, no paragraph of other material."
)

tab_new, tab_results, tab_update = st.tabs(["New run", "Results", "Document update"])

with tab_update:  # drawn first: the Results tab may stop the script
    render_update_test(svc)

# --- a new run ----------------------------------------------------------------------------------------
with tab_new:
    sets = evaluation.question_sets()
    origin = st.radio(
        "Questions",
        ["Fine-tune halves", "Sample questions", "Upload CSV/JSONL"],
        horizontal=True,
        help="Fine-tune halves: the questions a training set kept aside for scoring: its training questions word for "
        "word (memorisation), the same facts reworded (knowledge; missing when nothing reworded them) and new "
        "documents (documents left out of training). "
        "Sample questions: the questions written for the three sample documents.",
    )
    questions = []
    set_label = ""
    with guarded():
        if origin == "Upload CSV/JSONL":
            upload = st.file_uploader(
                "Question file: columns/keys question, answer (source, page, unanswerable, split optional)",
                type=["csv", "jsonl", "json"],
            )
            if upload is not None:
                questions = evaluation.read_upload(upload.name, upload.getvalue())
                set_label = upload.name
        else:
            prefix = "finetune:" if origin == "Fine-tune halves" else "sample:"
            choices = [c for c in sets if c.ref.startswith(prefix)]
            if not choices:
                st.info(
                    "No training set yet: build or import one on the **Fine-tune** page (its held-out halves appear "
                    "here)."
                    if prefix == "finetune:"
                    else "The sample question files are missing (sample_docs/)."
                )
                if prefix == "finetune:":
                    st.page_link("pages/finetune.py", label="Build a training set", icon=":material/model_training:")
            else:
                picked = st.selectbox(
                    "Question set", choices, format_func=lambda c: f"{c.label} · {c.count} questions", key="eval_set"
                )
                questions = evaluation.load_question_set(picked.ref)
                set_label = picked.ref
    if questions:
        # a set without halves says nothing about them ("unsplit" means nothing to a new user)
        splits = sorted({SPLIT_LABELS[q.split] for q in questions if q.split in SPLIT_LABELS and q.split})
        st.caption(
            f"{len(questions)} questions · "
            + (f"about {' and '.join(splits)} · " if splits else "")
            + (f"no reworded half: {VERBATIM_MEANS} · " if verbatim_only(q.split for q in questions) else "")
            + f"{sum(q.unanswerable for q in questions)} not answerable from the documents"
        )
        # what the run can show, before it is started: the Options' limit (set on an earlier rerun) counts too
        limit_now = int(st.session_state.get("eval_limit") or 0)
        st.caption(evaluation.plan(evaluation.first_questions(questions, limit_now)).sentence())

    c1, c2, c3 = st.columns(3)
    engine_name = engine_select(
        c1, key="eval_engine"
    )  # the session's one engine: the Chat page's choice, and this one's for it
    variants: list[str] = []
    with guarded():
        overview = svc.chat.overview(engine_name)  # what the Chat page shows for the same choice
        variants = overview.variants
        if engine_name == "auto":
            c1.caption(f"auto → {overview.engine}")
        if not overview.status.ok:
            c1.caption(f":material/warning: {escape_markdown(overview.status.message)}")
    chosen_variants = c2.multiselect(
        "Fine-tuned variants",
        variants,
        default=variants[:1],  # the newest; add others to score their recipes side by side
        placeholder="none yet",
        key="eval_variants",
        help="Each variant chosen is scored in the finetuned and hybrid modes, as its own row of the grid: pick "
        "several to compare recipes (plain, read passages) or training sets on the same questions.",
    )
    variant = chosen_variants[0] if chosen_variants else ""
    default_arms = ARMS if variant else ["base", "rag"]
    arms = c3.pills(
        "Modes to score", ARMS, selection_mode="multi", default=default_arms, key="eval_arms", help=MODE_GLOSS
    )
    st.caption(
        "The **rag** and **hybrid** modes retrieve passages from the collection chosen in the sidebar: "
        f"**{escape_markdown(collection or 'none yet')}**."
    )
    if not variant:
        st.caption("The **finetuned** and **hybrid** modes need a fine-tuned variant: build one on the Fine-tune page.")
    with st.expander("Options"):
        o1, o2, o3 = st.columns(3)
        top_k = o1.number_input("Passages retrieved per question", 1, 10, settings.top_k, key="eval_top_k")
        max_tokens = o2.number_input(
            "Longest answer (tokens)",
            16,
            1024,
            EvalConfig.max_tokens,
            key="eval_max_tokens",
            help="A token is a word or a piece of one (about ¾ of a word in English).",
        )
        limit = o3.number_input(
            "Only the first N questions (of each half; 0: all)",
            0,
            10_000,
            0,
            key="eval_limit",
        )
        judge_model = st.text_input(
            "Second opinion from a model (an Ollama model name; empty: none)",
            key="eval_judge",
            help="Also grades each answer with this model (an 'LLM judge'); the results say which model judged.",
        )
        label = st.text_input("Run label", key="eval_label", placeholder="e.g. prompt v2")
    busy = evaluation.running()
    if busy:
        st.caption(f"A run is in progress ({busy}): see **Results**.")
    if st.button("Start evaluation", type="primary", disabled=not questions or not arms or bool(busy)):
        with guarded():
            chosen = evaluation.first_questions(questions, int(limit))
            run_arms, run_variant = expand_arms(list(arms), list(chosen_variants))
            config = EvalConfig(
                collection=collection or "",
                arms=run_arms,
                engine=engine_name,
                variant=run_variant,
                top_k=int(top_k),
                retrieval=settings.retrieval,
                max_tokens=int(max_tokens),
                question_set=set_label,
                judge_model=judge_model.strip(),
                label=label.strip(),
            )
            st.session_state["eval_run"] = evaluation.start(config, chosen)
            st.success(
                "Started: the run goes on in the background even if you leave this page. Follow it under **Results**."
            )

# --- results ------------------------------------------------------------------------------------------
with tab_results:
    runs = evaluation.list_runs()
    if not runs:
        st.info("No evaluation run yet: start one in **New run**.")
        st.page_link("pages/finetune.py", label="Build a fine-tuned variant first", icon=":material/model_training:")
        st.stop()
    by_id = {r.run_id: r for r in runs}
    current = st.session_state.get("eval_run")

    def run_label(run_id: str) -> str:
        r = by_id[run_id]
        when = datetime.fromtimestamp(r.config.created or 0).strftime("%m-%d %H:%M")
        name = f"{r.config.label} · " if r.config.label else ""
        return f"{name}{when} · {', '.join(r.config.arms)} · {status_words(r.status)}"

    ids = list(by_id)
    run_id = st.selectbox(
        "Run", ids, index=ids.index(current) if current in ids else 0, format_func=run_label, key="eval_run_pick"
    )

    def run_ended(run_id: str) -> bool:
        try:
            return evaluation.status(run_id).terminal
        except AppError:
            return True  # the panel shows the error

    def run_state(run_id: str) -> str:
        try:
            return evaluation.status(run_id).state
        except AppError:
            return by_id[run_id].status.state  # the panel shows the error

    # a change of state (queued → running) redraws the page, so the run list never says "queued" for a running run
    @job_panel(running=not run_ended(run_id), state=lambda: run_state(run_id), drawn=by_id[run_id].status.state)
    def progress_panel(run_id: str) -> bool:
        """Live progress of a running evaluation, polled from its status file; True once it has ended (the page then
        shows its results)."""
        try:
            status = evaluation.status(run_id)
        except AppError as exc:
            show_error(exc)
            return True
        st.caption(f"Run {escape_markdown(run_id)}: {status_words(status)}")
        if status.terminal:
            return True
        step, total = status.step, status.total_steps or 0
        eta = status.eta_s
        eta_text = f" · about {eta / 60:.1f} min left" if eta else ""
        st.progress(
            step / total if total else 0.0, text=f"{step}/{total} answers{eta_text} · {escape_markdown(status.message)}"
        )
        if st.button("Cancel run", key=f"cancel-{run_id}"):
            evaluation.cancel(run_id)
            st.rerun()
        return False

    progress_panel(run_id)
    try:
        run = evaluation.load_run(run_id)
    except AppError as exc:
        show_error(exc)
        st.stop()
    cfg = run.config
    state = run.status.state
    st.caption(
        f"Engine **{cfg.engine}** · base `{cfg.base_model}`"
        + (f" · variant `{cfg.variant}`" if cfg.variant else "")
        + f" · collection {cfg.collection or '–'} · {cfg.top_k} passages per question"
        + f" · questions: {escape_markdown(cfg.question_set or '?')}"
        + (f" · judged by `{cfg.judge_model}`" if cfg.judge_model else "")
    )
    if state in ("cancelled", "failed"):
        st.warning(escape_markdown(run.status.message))
    if not run.rows:
        st.info("No answer scored yet.")
        st.stop()

    grid = evaluation.grid(run)

    def mode_label(arm: str) -> str:
        return arm_label(arm, cfg.variant_name)  # "finetuned · samples-ft": which variant a fine-tuned row ran

    st.subheader("The grid")
    # The headline at a glance: correct answers, one row per mode, one column per question split (no inner scrolling).
    split_names = list(dict.fromkeys(g.split for g in grid))
    st.table(
        [
            {"mode": mode_label(arm), **{g.split: shown(g, "correct") for g in grid if g.arm == arm}}
            for arm in dict.fromkeys(g.arm for g in grid)
        ],
        hide_index=True,
    )
    st.caption(
        "Correct answers of the answerable questions, by mode ("
        + MODE_GLOSS
        + ")"
        + (f"; {splits_explained(split_names)}." if len(split_names) > 1 else ".")
        + " In brackets: the 95% Wilson interval, the range the true share is likely in."
    )
    for line in evaluation.variant_lines(run):  # how each variant was trained, beside its rows
        st.caption(escape_markdown(line))
    with st.expander("Every measure (the full grid)", expanded=True):
        # Grouped in narrow tables, so each fits the page at 1400 px without scrolling sideways.
        for title, metrics in GRID_GROUPS:
            st.markdown(f"**{title}**")
            st.dataframe(
                [
                    {
                        "mode": mode_label(g.arm),
                        "split": g.split,
                        **({"questions": g.n} if metrics is GRID_GROUPS[0][1] else {}),
                        **{COLUMN_NAMES[k]: shown(g, k) for k in metrics},
                    }
                    for g in grid
                ],
                hide_index=True,
                width="stretch",
                height="content",
                column_config={
                    "mode": st.column_config.TextColumn("mode", help=MODE_GLOSS),
                    "split": st.column_config.TextColumn("questions about", help=SPLIT_HELP),
                    **{COLUMN_NAMES[k]: st.column_config.TextColumn(help=column_help(k)) for k in metrics},
                },
            )
        st.caption("– : not applicable (no question of that kind, or a mode without retrieval).")

    st.subheader("Which differences are real?")
    st.caption(PAIRED_EXPLAINED)
    comparisons = evaluation.comparisons(run)
    if comparisons:
        st.markdown("\n".join(f"- {line}" for line in comparisons))
    else:
        st.caption("No two modes have answered the same answerable question yet.")

    chart_metrics = [
        k
        for k in GRID_METRICS
        if k not in ("first_token_p50_ms", "first_token_p95_ms", "total_p50_ms", "total_p95_ms")
        and chart_rows(run.summary, k)
    ]
    g1, g2 = st.columns(2)
    with g1:
        metric = st.selectbox("Measure", chart_metrics, format_func=metric_name, key="eval_metric")
        if metric is not None:  # None when no metric has a value yet (every answer failed)
            st.altair_chart(metric_chart(chart_rows(run.summary, metric), metric), width="stretch")
            if metric in SHARE_METRICS:
                st.caption("The line over each bar: the 95% Wilson interval of the share.")
    with g2:
        st.markdown("**Answer time**")
        st.altair_chart(latency_chart(latency_rows(run.summary)), width="stretch")

    with st.expander("By source document"):
        st.dataframe(
            [
                {
                    "mode": mode_label(s.arm),
                    "source": s.source,
                    "questions": s.n,
                    **{metric_name(k): s.value(k) for k in ("correct", "f1", "hit_k")},
                }
                for s in evaluation.by_source(run)
            ],
            hide_index=True,
            width="stretch",
        )

    st.subheader("Where the answers came from")
    diagnosis, source_rows = evaluation.answer_sources(run)
    st.caption(
        "Each answer to an answerable question, by what it rests on: in rag and hybrid, whether a retrieved passage "
        "held the reference tells the retriever's faults from the model's; base and finetuned read no passage."
    )
    if diagnosis:
        st.markdown("\n".join(f"- {escape_markdown(line)}" for line in diagnosis))
    if any(r["answers"] for r in source_rows):
        st.altair_chart(sources_chart([{**r, "mode": mode_label(r["arm"])} for r in source_rows]), width="stretch")
    else:
        st.caption("No answerable question has been answered yet.")

    st.subheader("How sure the answers were")
    # arms none of whose answers carries a confidence (all refused, or a run made before answers had one) say nothing
    judged = {arm: f for arm, f in (run.summary.get("confidence") or {}).items() if f.get("auroc_n")}
    if judged:
        # the threshold this run's answers were marked at (saved with it), else the setting as it is now
        marked = run.summary.get("confidence_threshold") or {}
        at = float(marked.get("value", settings.confidence_threshold))
        source = "saved with this run" if marked.get("from") == "run" else "DOMAINCHAT_CONFIDENCE_THRESHOLD as set now"
        st.caption(
            "Each answer gets a confidence from 0 to 1, the chance it is right; below "
            f"{at:g} (the threshold, {source}) it is marked unsure. "
            "A useful mark leaves few wrong answers unmarked and few right ones marked."
        )
        st.dataframe(
            [{"mode": mode_label(arm), **sure_cells(f)} for arm, f in judged.items()],
            hide_index=True,
            width="stretch",
            column_config={
                "mode": st.column_config.TextColumn("mode", help=MODE_GLOSS),
                **{name: st.column_config.TextColumn(help=text) for name, text in SURE_HELP.items()},
            },
        )
        r1, r2 = st.columns([3, 2])
        r1.altair_chart(reliability_chart(reliability_rows(judged, mode_label)), width="stretch")
        r2.caption(
            "Each dot: the answers whose confidence fell in one band (0–0.2 … 0.8–1), at their mean confidence and "
            "the share of them that were right; a bigger dot holds more answers. On the dashed diagonal a confidence "
            "meant what it said; below it, answers were less often right than they claimed. – : not applicable."
        )
    else:
        st.caption(
            "No answer of this run carries a confidence: start a new run in **New run** to see how sure they were."
        )

    st.subheader("Answers side by side")
    f1, f2 = st.columns([1, 2])
    only_diff = f1.toggle(
        "Only questions the modes disagree on", key="eval_disagree", help="One mode got it right, another wrong."
    )
    # the kinds some answer of this run was, in the chart's order
    present = dict.fromkeys(r["category"] for r in sorted(source_rows, key=lambda r: r["order"]) if r["answers"])
    kinds = f2.multiselect(
        "Show answers that were: …",
        list(present),
        format_func=sources.CATEGORY_LABELS.__getitem__,
        placeholder="any kind",
        key="eval_sources",
        help="Only the questions where at least one mode's answer was of a chosen kind (empty: every question).",
    )
    st.dataframe(
        evaluation.side_by_side(run, only_diff, kinds),
        hide_index=True,
        width="stretch",
        column_config={"split": st.column_config.TextColumn("questions about", help=SPLIT_HELP)},
    )
    d1, d2, _ = st.columns([1, 1, 4])
    d1.download_button(
        "Rows (CSV)",
        evaluation.rows_csv(run),
        file_name=f"{run.run_id}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
    d2.download_button(
        "Run (JSON)",
        evaluation.run_json(run),
        file_name=f"{run.run_id}.json",
        mime="application/json",
        icon=":material/download:",
    )

    if len(ids) > 1:
        st.subheader("Run A vs run B")
        a1, a2 = st.columns(2)
        run_a = a1.selectbox("Run A", ids, index=1, format_func=run_label, key="eval_a")
        run_b = a2.selectbox("Run B", ids, index=0, format_func=run_label, key="eval_b")
        with guarded():
            st.dataframe(
                evaluation.compare(evaluation.load_run(run_a), evaluation.load_run(run_b)),
                hide_index=True,
                width="stretch",
                column_config={
                    "arm": st.column_config.TextColumn("mode", help=MODE_GLOSS),
                    "paired": st.column_config.TextColumn(
                        "correct, paired",
                        help="Correct answers of run B against run A on the questions both runs asked (same text), "
                        "mode and split: the difference, its 95% interval and the exact test's p.",
                    ),
                    "paired questions": st.column_config.NumberColumn(help="Questions both runs asked."),
                    "clear": st.column_config.CheckboxColumn(
                        help="The interval leaves out zero and the exact test agrees: not chance."
                    ),
                },
            )
        st.caption(
            "B − A: plain differences of the two runs' figures. Correct answers are also paired on the questions both "
            "runs asked: only those where one run was right and the other wrong count."
        )
