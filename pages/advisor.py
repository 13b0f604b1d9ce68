"""Advisor page: five questions about the team and its data, weighed with the latest measurements."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core.advisor.advice import (
    APPROACHES,
    BUDGET_LABELS,
    CHANGE_LABELS,
    HARDWARE_LABELS,
    LABELS,
    PAIRED_EXPLAINED,
    SKILL_LABELS,
    SURE_EXPLAINED,
    WOULD_CHANGE_NONE,
    WRONG_COST_HELP,
    WRONG_COST_LABELS,
    Criteria,
    sure_rows,
)
from core.advisor.costs import HOURS_BY_KIND, ROW_TITLES, Volume, named_rates, shown
from core.advisor.service import Advised
from core.base.questions import SPLIT_LABELS
from core.chat.safety import escape_markdown
from core.errors import AppError
from ui.common import MODE_GLOSS, guarded, page_setup, show_error

svc = page_setup()

st.title("Advisor")
st.caption(
    "RAG, fine-tuning or both? Answer five questions about your team and your data; the latest measurements "
    "made on this machine (the scored grid, the document-update test) are weighed in, and you see how each one moved "
    "the advice."
)


def _points(value: float | None) -> str:
    return f"{value:+g}" if value else ""


form, result = st.columns([2, 3], gap="large")

with form:
    st.subheader("Your situation")
    skills = st.radio(
        "1 · The team's skills",
        list(SKILL_LABELS),
        format_func=lambda k: SKILL_LABELS[k][:1].upper() + SKILL_LABELS[k][1:],
        horizontal=True,
        key="adv_skills",
        help="Application engineers build RAG easily; fine-tuning needs people who build training sets and "
        "evaluate models.",
    )
    changes = st.select_slider(
        "2 · How often the documents change",
        list(CHANGE_LABELS),
        value="monthly",
        format_func=lambda k: CHANGE_LABELS[k],
        key="adv_changes",
    )
    budget = st.radio(
        "3 · Budget",
        list(BUDGET_LABELS),
        index=1,
        format_func=lambda k: BUDGET_LABELS[k].capitalize(),
        horizontal=True,
        key="adv_budget",
    )
    st.markdown("**4 · Training resources**")
    hardware = st.radio(
        "Hardware", list(HARDWARE_LABELS), format_func=lambda k: HARDWARE_LABELS[k], horizontal=True, key="adv_hardware"
    )
    pairs = st.number_input(
        "Labelled question/answer pairs you have (or can write)", 0, 10_000_000, 0, step=50, key="adv_pairs"
    )
    st.markdown("**5 · Response time**")
    strict = st.checkbox("Answers must come within a time limit", key="adv_strict")
    limit = st.number_input(
        "Seconds for a whole answer", 0.1, 120.0, 2.0, step=0.5, disabled=not strict, key="adv_limit"
    )
    costly = st.radio(
        "A wrong answer costs us",
        list(WRONG_COST_LABELS),
        format_func=lambda k: WRONG_COST_LABELS[k][:1].upper() + WRONG_COST_LABELS[k][1:],
        horizontal=True,
        key="adv_wrong_costly",
        help=WRONG_COST_HELP,
    )
    st.markdown("**Your volume**")
    st.caption(
        "Give the first three to see what each approach costs you a month in hours (and money, with prices); the "
        "budget and training-hardware answers are then weighed in these hours instead of as rules of thumb. How often "
        "the documents change is question 2."
    )
    v1, v2 = st.columns(2)
    per_day = v1.number_input("Questions per day", 0.0, 1e9, None, step=10.0, format="%g", key="adv_per_day")
    documents = v2.number_input("Number of documents", 0, 10_000_000, None, step=10, key="adv_documents")
    by_pages = st.radio("Average document size in", ["MB", "pages"], horizontal=True, key="adv_size_unit") == "pages"
    v3, v4 = st.columns(2)
    size = v3.number_input(
        "Average pages per document" if by_pages else "Average MB per document",
        0.0,
        1e6,
        None,
        step=1.0 if by_pages else 0.5,
        format="%g",
        key="adv_size",
    )
    changed = v4.number_input(
        "Documents changed per update",
        0,
        10_000_000,
        1,
        step=1,
        key="adv_changed",
        help="How many documents change at each change (how often is question 2).",
    )
    v5, v6 = st.columns(2)
    cpu_price = v5.number_input(
        "CPU hour price (optional)",
        0.0,
        1e6,
        None,
        step=0.1,
        format="%g",
        key="adv_cpu_price",
        help="In your currency; leave empty for hours only.",
    )
    gpu_price = v6.number_input(
        "GPU hour price (optional)",
        0.0,
        1e6,
        None,
        step=0.5,
        format="%g",
        key="adv_gpu_price",
        help="Given: training is priced on a GPU (at the hours measured on this CPU, an upper bound).",
    )
    use_evidence = st.toggle(
        "Weigh in the latest measurements",
        value=True,
        key="adv_evidence",
        help="The newest finished grid run and the newest document-update test in this data directory.",
    )

advised: Advised | None = None
volume_given = [per_day is not None, documents is not None, size is not None]
with result:
    try:
        criteria = Criteria(
            skills, changes, budget, hardware, int(pairs), float(limit) if strict else None, wrong_answers_costly=costly
        )
        volume = (
            Volume(
                float(per_day or 0),
                int(documents or 0),
                None if by_pages else size,
                size if by_pages else None,
                changes,
                int(changed),
                cpu_hour_price=cpu_price,
                gpu_hour_price=gpu_price,
            )
            if all(volume_given)
            else None
        )
        if any(volume_given) and volume is None:
            st.info(
                "To see the costs, give the questions per day, the number of documents and their average size.",
                icon=":material/calculate:",
            )
        advised = svc.advisor.advise(criteria, use_evidence=use_evidence, volume=volume)
    except AppError as exc:
        show_error(exc)

if advised is not None:
    advice = advised.advice
    if not st.session_state.get("advice_noted"):
        # the start page's last step: advice was given (once per session is enough to know)
        with guarded():
            svc.journey.note_advice()
            st.session_state["advice_noted"] = True
    with result:
        st.subheader("Recommendation")
        st.success(f"### {LABELS[advice.recommendation]}\n{advice.summary}", icon=":material/recommend:")
        cols = st.columns(len(APPROACHES))
        for col, approach in zip(cols, APPROACHES):
            col.metric(
                LABELS[approach].split(" (")[0],
                f"{advice.totals[approach]:g}",
                help="Points from your answers and the measurements (table below).",
            )
        # The advice's texts are the advisor's own sentences (with `commands`), not document or model text.
        for conflict in advice.conflicts:
            st.warning(conflict, icon=":material/compare_arrows:")
        if advice.missing:
            st.info(
                "**Missing evidence**\n\n" + "\n".join(f"- {m}" for m in advice.missing),
                icon=":material/pending_actions:",
            )
        if not advised.evidence.scores:
            st.page_link(
                "pages/evaluate.py", label="Score the modes on the Evaluate page", icon=":material/leaderboard:"
            )

        st.subheader("How each input moved it")
        # st.table wraps the reasons (a dataframe would cut them off), and blanks read better than "None".
        st.table(
            [
                {
                    "input": f"{m.name} ({m.kind})",
                    "RAG": _points(m.points.get("rag")),
                    "fine-tuning": _points(m.points.get("finetuning")),
                    "hybrid": _points(m.points.get("hybrid")),
                    "why": m.reason,
                }
                for m in advice.moves
            ],
            hide_index=True,
        )

        evidence = advised.evidence
        sure = sure_rows(evidence, every_mode=True)  # every mode, as the report lists them
        if sure:
            # beside each approach's accuracy, that of the answers it stood behind: what counts when wrong is costly
            st.markdown("**How sure the answers were**")
            st.table(sure, hide_index=True)
            st.caption(SURE_EXPLAINED)
        if evidence.scores:
            with st.expander(
                f"The scored grid ({escape_markdown(evidence.run)})" if evidence.run else "The scored grid"
            ):
                st.dataframe(
                    [
                        {
                            "mode": s.arm,
                            "questions about": SPLIT_LABELS.get(s.split, "all") if s.split else "all",
                            "correct": s.shown,
                            "questions": s.n,
                            # a dash where no time was measured, never "None"
                            "median answer time": "–" if s.p50_ms is None else f"{s.p50_ms / 1000:.1f} s",
                            "slowest 5% from": "–" if s.p95_ms is None else f"{s.p95_ms / 1000:.1f} s",
                        }
                        for s in evidence.scores
                    ],
                    hide_index=True,
                    width="stretch",
                    column_config={
                        "mode": st.column_config.TextColumn(help=MODE_GLOSS),
                        "correct": st.column_config.TextColumn(
                            help="Correct answers of the answerable questions, with the 95% Wilson interval in "
                            "brackets: the range the true share is likely in."
                        ),
                    },
                )
                if evidence.comparisons:
                    st.markdown("**Which differences are real?**")
                    st.caption(PAIRED_EXPLAINED + " Only a clear difference moves the advice.")
                    st.markdown("\n".join(f"- {line}" for line in evidence.comparison_lines))
        if evidence.update is not None:
            u = evidence.update
            with st.expander(f"The document-update test ({u.when})"):
                c1, c2 = st.columns(2)
                c1.metric("Index the changed document", f"{u.reindex_s:.1f} s")
                c2.metric(
                    "Re-train the variant" + (" (estimate)" if u.retrain_estimated else ""),
                    "unknown" if u.retrain_s is None else f"{u.retrain_s:.0f} s",
                )
                if u.current_after:
                    st.caption(
                        "Answers giving the new figures after the update: "
                        + ", ".join(f"{arm} {share * 100:.0f}%" for arm, share in u.current_after.items())
                        + f" of {u.n} questions."
                    )

        table = advised.costs
        if table is not None:
            st.subheader("What each approach costs you per month")
            # one row per figure and one column per approach, as in the report: three columns fit beside the form
            st.dataframe(
                [
                    {"figure": title.strip("*")}
                    | {
                        LABELS[a].split(" (")[0]: shown(f) if (f := table.approaches[a].get(name)) else "—"
                        for a in APPROACHES
                    }
                    for name, title in ROW_TITLES.items()
                    if any(name in table.approaches[a] for a in APPROACHES)
                ],
                hide_index=True,
                width="stretch",
            )
            st.caption(
                "(est.): estimated, not measured here; every other figure comes from what this data directory "
                "measured. Where each rate comes from is listed below the chart."
            )
            st.bar_chart(
                [
                    {"approach": LABELS[a].split(" (")[0], "kind": kind, "hours a month": figure.value}
                    for a in APPROACHES
                    for name, kind in HOURS_BY_KIND
                    if (figure := table.approaches[a].get(name)) is not None
                ],
                x="approach",
                y="hours a month",
                color="kind",
                stack=True,
                horizontal=True,  # the approaches' names read across
                height=220,
                x_label="",
            )
            with st.expander("Where each figure comes from"):
                # a table, not Markdown: sources name documents and runs, which must render literally
                st.table(
                    [
                        {
                            "rate": name,
                            "value": " · ".join(f"{r.value:.3g}" for r in used) + f" {used[0].unit}",
                            "measured": "yes" if all(r.measured for r in used) else "estimated",
                            "from": "; ".join(dict.fromkeys(r.source for r in used)),
                        }
                        for name, used in named_rates(table.rates)
                    ],
                    hide_index=True,
                )
                for note in table.notes:
                    st.caption(note)

        st.subheader("What would change the recommendation")
        if advised.would_change:
            st.markdown("\n".join(f"- {w}" for w in advised.would_change))
        else:
            st.caption(WOULD_CHANGE_NONE)

        stamp = f"{datetime.now():%Y%m%d-%H%M}"
        d1, d2 = st.columns(2)
        d1.download_button(
            "Download the report (Markdown)",
            advised.markdown.encode("utf-8"),
            icon=":material/download:",
            file_name=f"domainchat-advice-{stamp}.md",
            mime="text/markdown",
        )
        d2.download_button(
            "Download the report (HTML)",
            advised.html.encode("utf-8"),
            icon=":material/download:",
            file_name=f"domainchat-advice-{stamp}.html",
            mime="text/html",
        )
