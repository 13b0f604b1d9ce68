"""The advice as one self-contained HTML file: inline CSS, charts drawn as inline SVG, no script, font or image
fetched from anywhere, so it can be forwarded by mail and opened offline.

It says what the Markdown report says (advice.report_markdown), with two charts: the grid's correctness per mode and
split with its 95% interval as whiskers, and each approach's monthly hours stacked by kind.
"""

from __future__ import annotations

import re
from html import escape
from typing import Sequence

from core.advisor.advice import (
    APPROACHES,
    BUDGET_LABELS,
    CHANGE_LABELS,
    HARDWARE_LABELS,
    LABELS,
    PAIRED_EXPLAINED,
    SKILL_LABELS,
    WOULD_CHANGE_NONE,
    Advice,
    ArmScore,
    Criteria,
    Evidence,
)
from core.advisor.costs import HOURS_BY_KIND, ROW_TITLES, CostTable, named_rates, shown, volume_text
from core.base.questions import SPLIT_LABELS
from core.chat.service import MODES

# one colour per mode and per kind of hours, readable on white and in print
MODE_COLOURS = {"base": "#8c8c8c", "rag": "#1f77b4", "finetuned": "#ff7f0e", "hybrid": "#2ca02c"}
KIND_COLOURS = ("#1f77b4", "#9467bd", "#ff7f0e")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
h3{font-size:1rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
td.num{text-align:right;white-space:nowrap}.est{color:#a15c00}.muted{color:#666;font-size:.85rem}
.summary{background:#eef7ee;border-left:4px solid #2ca02c;padding:.6rem .8rem}
code{background:#f4f4f4;padding:0 .2rem}svg{max-width:100%;height:auto}svg text{font-size:12px;fill:#1a1a1a}
"""


def _inline(text: str) -> str:
    """Escaped text with the advisor's own Markdown marks (`code`, **bold**, *italic*) as HTML."""
    out = escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"\*([^*\s][^*]*)\*", r"<em>\1</em>", out)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """An HTML table; cells are already HTML."""
    out = ["<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</tbody></table>"


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>"


def _short(approach: str) -> str:
    return LABELS[approach].split(" (")[0]


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def grid_svg(scores: Sequence[ArmScore]) -> str:
    """Correctness per mode and split as horizontal bars, the 95% interval as a whisker on each."""
    order = tuple(MODES)
    cells = sorted(
        scores, key=lambda s: (order.index(s.arm) if s.arm in order else len(order), s.split != "seen", s.split)
    )
    label_w, plot_w, row_h, top = 190, 360, 24, 22
    height = top + row_h * len(cells) + 10
    parts = [
        f'<svg width="{label_w + plot_w + 200}" height="{height}" role="img" '
        'aria-label="Correct answers per mode and split, with 95% intervals">'
    ]
    for tick in (0, 25, 50, 75, 100):
        x = label_w + plot_w * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 8}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle">{tick}%</text>')
    for i, s in enumerate(cells):
        y = top + i * row_h
        split = SPLIT_LABELS.get(s.split, s.split) if s.split else "all"
        width = plot_w * s.correct
        colour = MODE_COLOURS.get(s.arm, "#555")
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(f"{s.arm} · {split}")}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row_h - 8}" fill="{colour}" opacity="0.8">'
            f"<title>{escape(s.shown)}</title></rect>"
        )
        interval = s.interval
        if interval is not None:
            lo, hi = (label_w + plot_w * v for v in interval)
            mid = y + row_h / 2
            parts.append(f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" stroke="#222" stroke-width="1.5"/>')
            for x in (lo, hi):
                parts.append(f'<line x1="{x:.1f}" y1="{mid - 5}" x2="{x:.1f}" y2="{mid + 5}" stroke="#222"/>')
        parts.append(f'<text x="{label_w + plot_w + 8}" y="{y + 15}">{escape(s.shown)}</text>')
    return "".join(parts) + "</svg>"


def costs_svg(table: CostTable) -> str:
    """Each approach's monthly hours as one horizontal bar, stacked by kind (answering, index, variant)."""
    label_w, plot_w, row_h, top = 110, 380, 30, 10
    totals = {a: table.approaches[a]["total_hours_per_month"].value for a in APPROACHES}
    most = max(totals.values()) or 1.0
    legend_y = top + row_h * len(APPROACHES) + 12
    parts = [
        f'<svg width="{label_w + plot_w + 110}" height="{legend_y + 20}" '
        'role="img" aria-label="Hours a month per approach, by kind">'
    ]
    for i, approach in enumerate(APPROACHES):
        y = top + i * row_h
        x = float(label_w)
        parts.append(f'<text x="{label_w - 6}" y="{y + 19}" text-anchor="end">{escape(_short(approach))}</text>')
        for (name, kind), colour in zip(HOURS_BY_KIND, KIND_COLOURS):
            figure = table.approaches[approach].get(name)
            if figure is None or figure.value <= 0:
                continue
            width = plot_w * figure.value / most
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 5}" width="{width:.1f}" height="{row_h - 10}" fill="{colour}">'
                f"<title>{escape(f'{kind}: {shown(figure)}')}</title></rect>"
            )
            x += width
        total = table.approaches[approach]["total_hours_per_month"]
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 19}">{escape(shown(total))}</text>')
    x = float(label_w)
    for (_, kind), colour in zip(HOURS_BY_KIND, KIND_COLOURS):
        parts.append(f'<rect x="{x:.1f}" y="{legend_y}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{legend_y + 9}">{escape(kind)}</text>')
        x += 14 + 7.5 * len(kind) + 14
    return "".join(parts) + "</svg>"


def _costs_section(table: CostTable) -> list[str]:
    head = ["", *(_short(a) for a in APPROACHES)]
    rows = []
    for name, title in ROW_TITLES.items():
        figures = [table.approaches[a].get(name) for a in APPROACHES]
        if not any(figures):
            continue
        cells = [f"<strong>{escape(title.strip('*'))}</strong>" if "**" in title else escape(title)]
        for f in figures:
            if f is None:
                cells.append("—")
                continue
            how = f" ({f.how})" if f.how else ""
            mark = "" if f.measured else ' class="est"'
            cells.append(f'<span{mark} title="{escape(f.source + how)}">{escape(shown(f))}</span>')
        rows.append(cells)
    rates = [
        [
            escape(name),
            escape(" · ".join(f"{r.value:.3g}" for r in used) + f" {used[0].unit}"),
            escape("; ".join(dict.fromkeys(r.source for r in used))),
        ]
        for name, used in named_rates(table.rates)
    ]
    return [
        "<h2>What each approach costs your team</h2>",
        f"<p>For your volume: {escape(volume_text(table.volume))}</p>",
        costs_svg(table),
        _table(head, rows, numeric=(1, 2, 3)),
        '<p class="muted">(est.): estimated, not measured here. Hover a figure for where it came from.</p>',
        "<h3>The rates behind it</h3>",
        _table(["rate", "value", "from"], rates),
        _list(table.notes),
    ]


def report_html(
    criteria: Criteria,
    evidence: Evidence,
    advice: Advice,
    would_change: Sequence[str],
    table: CostTable | None = None,
    when: str = "",
) -> str:
    """The advice as one HTML file with inline CSS and inline SVG charts: nothing is fetched when it opens."""
    title = f"domainchat advice: {LABELS[advice.recommendation]}"
    body = [f"<h1>{escape(title)}</h1>"]
    if when:
        body.append(f'<p class="muted">Generated {escape(when)}.</p>')
    body.append(f'<p class="summary">{_inline(advice.summary)}</p>')
    body += [
        "<h2>What would change the recommendation</h2>",
        _list(would_change) if would_change else f"<p>{escape(WOULD_CHANGE_NONE)}</p>",
    ]
    answers = [
        ("team skills", SKILL_LABELS[criteria.team_skills]),
        ("how often the data changes", CHANGE_LABELS[criteria.data_changes]),
        ("budget", BUDGET_LABELS[criteria.budget]),
        ("training hardware", HARDWARE_LABELS[criteria.hardware]),
        ("labelled question/answer pairs", str(criteria.labelled_pairs)),
        ("answers must come within", f"{criteria.max_answer_s:g} s" if criteria.max_answer_s else "no requirement"),
    ]
    body += ["<h2>Your answers</h2>", _table(["criterion", "answer"], [[escape(k), escape(v)] for k, v in answers])]
    moves = [
        [escape(m.kind), escape(m.name)]
        + [f"{m.points[a]:+g}" if m.points.get(a) else "" for a in APPROACHES]
        + [_inline(m.reason)]
        for m in advice.moves
    ]
    moves.append(["<strong>total</strong>", ""] + [f"<strong>{advice.totals[a]:g}</strong>" for a in APPROACHES] + [""])
    body += [
        "<h2>How each input moved the recommendation</h2>",
        _table(["kind", "input", "RAG", "fine-tuning", "hybrid", "why"], moves, numeric=(2, 3, 4)),
        "<h2>Where the measurements disagree with your answers</h2>",
        _list(advice.conflicts) if advice.conflicts else "<p>Nowhere: no measurement contradicts your answers.</p>",
    ]
    if advice.missing:
        body += ["<h2>Missing evidence</h2>", _list(advice.missing)]
    if table is not None:
        body += _costs_section(table)
    if evidence.scores:
        body += [
            f"<h2>The scored grid{escape(f' ({evidence.run})' if evidence.run else '')}</h2>",
            grid_svg(evidence.scores),
            '<p class="muted">Correct: answers that hold the reference, of the answerable questions; the whisker is '
            "the 95% Wilson interval, the range the true share is likely in.</p>",
        ]
    if evidence.settings is not None:
        body += [
            "<h3>How the run was made</h3>",
            _table(["setting", "value"], [[escape(k), escape(v)] for k, v in evidence.settings.rows()]),
        ]
    if evidence.comparisons:
        body += [
            "<h2>Which differences are real?</h2>",
            f"<p>{_inline(PAIRED_EXPLAINED)}</p>",
            _list(evidence.comparison_lines),
        ]
    if evidence.update is not None:
        u = evidence.update
        kind = "estimated" if u.retrain_estimated else "recorded"
        rows = [
            ["seconds to index the changed document", f"{u.reindex_s:.1f}"],
            [f"seconds to re-train the variant ({kind})", "unknown" if u.retrain_s is None else f"{u.retrain_s:.0f}"],
        ] + [
            [escape(f"{arm}: answers giving the new figures after the update"), f"{_pct(share)} of {u.n}"]
            for arm, share in u.current_after.items()
        ]
        body += [
            f"<h2>The document-update test{escape(f' ({u.when})' if u.when else '')}</h2>",
            _table(["figure", "value"], rows, numeric=(1,)),
        ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
