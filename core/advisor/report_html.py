"""The advice as one self-contained HTML file: inline CSS, charts drawn as inline SVG, no script, font or image
fetched from anywhere, so it can be forwarded by mail and opened offline.

It says what the Markdown report says (advice.report_markdown), with its charts: the grid's correctness per mode and
split with its 95% interval as whiskers, each approach's monthly hours stacked by kind, where each mode's answers came
from stacked by category, and a reliability diagram of the answers' confidence.
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
    MISREAD_EXPLAINED,
    PAIRED_EXPLAINED,
    SKILL_LABELS,
    SOURCE_HEADINGS,
    SURE_EXPLAINED,
    WOULD_CHANGE_NONE,
    WRONG_COST_LABELS,
    Advice,
    ArmScore,
    Criteria,
    Evidence,
    confidence_missing,
    confidence_notes,
    grid_order,
    recipe_lines,
    reliability_series,
    source_legend,
    source_table,
    sources_missing,
    split_lines,
    splits_missing,
    sure_rows,
    variants_missing,
)
from core.advisor.costs import HOURS_BY_KIND, ROW_TITLES, CostTable, named_rates, shown, volume_text
from core.base.questions import SPLIT_LABELS
from core.chat.service import MODES
from core.evaluation import answer_sources as sources
from core.evaluation.confidence_metrics import Band
from core.evaluation.runs import arm_label, split_arm

# one colour per mode and per kind of hours, readable on white and in print
MODE_COLOURS = {"base": "#8c8c8c", "rag": "#1f77b4", "finetuned": "#ff7f0e", "hybrid": "#2ca02c"}
KIND_COLOURS = ("#1f77b4", "#9467bd", "#ff7f0e")
# where answers came from: right in greens, wrong in oranges and reds, no verdict in greys (as the Evaluate page)
SOURCE_COLOURS = {
    sources.RIGHT_SUPPORTED: "#2ca02c",
    sources.RIGHT_UNSUPPORTED: "#98df8a",
    sources.RIGHT: "#2ca02c",
    sources.MISREAD: "#ff7f0e",
    sources.RETRIEVAL_MISS: "#d62728",
    sources.WRONG: "#d62728",
    sources.DECLINED: "#bdbdbd",
    sources.NO_ANSWER: "#e5e5e5",
}
SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#8c8c8c", "#9467bd", "#8c564b", "#e377c2", "#17becf")

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


def grid_svg(scores: Sequence[ArmScore], run_variant: str = "") -> str:
    """Correctness per mode and split as horizontal bars, the 95% interval as a whisker on each (a fine-tuned mode
    named with its variant: "finetuned · v1")."""
    order = tuple(MODES)
    cells = sorted(scores, key=lambda s: grid_order(s, order))
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
        colour = MODE_COLOURS.get(split_arm(s.arm)[0], "#555")
        name = f"{arm_label(s.arm, run_variant)} · {split}"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(name)}</text>')
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


def sources_svg(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """One horizontal bar per mode and split, stacked by where its answers came from (each bar is 100% of its
    answers), with a legend of the categories present."""
    label_w, plot_w, row_h, top = 230, 340, 22, 6
    legend_y = top + row_h * len(rows) + 10
    parts = [
        f'<svg width="{label_w + plot_w + 90}" height="{legend_y + 20 * ((len(head) + 2) // 3) + 6}" role="img" '
        'aria-label="Where each mode\'s answers came from, per split">'
    ]
    for i, row in enumerate(rows):
        y = top + i * row_h
        counts = [int(c) if c.isdigit() else 0 for c in row[2:]]
        total = sum(counts)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(f"{row[0]} · {row[1]}")}</text>')
        x = float(label_w)
        for key, n in zip(head, counts):
            if not n:
                continue
            width = plot_w * n / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" fill="{SOURCE_COLOURS[key]}">'
                f"<title>{escape(f'{SOURCE_HEADINGS[key]}: {n} of {total}')}</title></rect>"
            )
            x += width
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + 15}">{total} answers</text>')
    for j, key in enumerate(head):
        x, y = label_w - 120 + (j % 3) * 175, legend_y + (j // 3) * 20  # three to a line, wide enough to read
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{SOURCE_COLOURS[key]}"/>')
        parts.append(f'<text x="{x + 14}" y="{y + 9}">{escape(SOURCE_HEADINGS[key])}</text>')
    return "".join(parts) + "</svg>"


def reliability_svg(series: dict[str, tuple[Band, ...]]) -> str:
    """The reliability diagram: per mode, each band of confidence as a dot at its mean confidence and its share right
    (bigger: more answers), joined by a line; on the dashed diagonal a confidence meant what it said."""
    left, top, size = 50, 10, 260
    legend_x = left + size + 24
    height = top + size + 40

    def at(confidence: float, right: float) -> tuple[float, float]:
        return left + size * confidence, top + size * (1 - right)

    parts = [
        f'<svg width="{legend_x + 200}" height="{max(height, 20 * len(series) + 20)}" role="img" '
        'aria-label="Reliability diagram: share right against confidence, per mode">',
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#ccc"/>',
        f'<line x1="{left}" y1="{top + size}" x2="{left + size}" y2="{top}" stroke="#999" stroke-dasharray="4 3"/>',
    ]
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        x, y = at(tick, tick)
        parts.append(f'<text x="{x:.1f}" y="{top + size + 14}" text-anchor="middle">{tick:g}</text>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick * 100:.0f}%</text>')
    parts.append(f'<text x="{left + size / 2}" y="{top + size + 32}" text-anchor="middle">confidence</text>')
    parts.append(
        f'<text x="12" y="{top + size / 2}" text-anchor="middle" transform="rotate(-90 12 {top + size / 2})">'
        "share right</text>"
    )
    for i, (mode, bands) in enumerate(series.items()):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        points = [at(b.mean_confidence or 0.0, b.right or 0.0) for b in bands]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5" opacity="0.7"/>')
        for b, (x, y) in zip(bands, points):
            tip = f"{mode}, confidence {b.low:g}–{b.high:g}: {b.n} answers, {(b.right or 0) * 100:.0f}% right"
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3 + 2 * b.n**0.5:.1f}" fill="{colour}" opacity="0.75">'
                f"<title>{escape(tip)}</title></circle>"
            )
        parts.append(f'<rect x="{legend_x}" y="{top + 20 * i}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{top + 20 * i + 9}">{escape(mode)}</text>')
    return "".join(parts) + "</svg>"


def _sources_section(evidence: Evidence) -> list[str]:
    head, rows = source_table(evidence)
    out = ["<h2>Where the answers came from</h2>"]
    if evidence.diagnosis:
        out.append(_list(list(evidence.diagnosis.values())))
    if rows:
        cells = [[escape(c) for c in row] for row in rows]
        out += [
            sources_svg(head, rows),
            _table(["mode", "questions", *(SOURCE_HEADINGS[k] for k in head)], cells, range(2, len(head) + 2)),
            f'<p class="muted">{escape(source_legend(head))}</p>',
            f'<p class="muted">{escape(MISREAD_EXPLAINED)}</p>',
        ]
    else:
        out.append(f"<p>{escape(sources_missing(evidence))}</p>")
    return out


def _sure_section(evidence: Evidence) -> list[str]:
    table = sure_rows(evidence, every_mode=True)
    out = ["<h2>How sure the answers were</h2>"]
    if not table:
        return out + [f"<p>{escape(confidence_missing(evidence))}</p>"]
    head = ["mode", *list(table[0])[1:]]
    out += [
        _table(head, [[escape(v) for v in row.values()] for row in table], numeric=range(1, len(head))),
        f'<p class="muted">{escape(SURE_EXPLAINED)}</p>',
    ]
    out += [f"<p>{escape(line)}</p>" for line in confidence_notes(evidence) if line]
    series = reliability_series(evidence)
    if series:
        out += [
            reliability_svg(series),
            '<p class="muted">Each dot: the answers whose confidence fell in one band (0–0.2 … 0.8–1), at their mean '
            "confidence and the share of them that were right; a bigger dot holds more answers. Below the dashed "
            "diagonal, answers were less often right than their confidence said.</p>",
        ]
    return out


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
        ("a wrong answer costs", WRONG_COST_LABELS[criteria.wrong_answers_costly]),
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
            grid_svg(evidence.scores, evidence.run_variant),
            '<p class="muted">Correct: answers that hold the reference, of the answerable questions; the whisker is '
            "the 95% Wilson interval, the range the true share is likely in.</p>",
            "<h3>What the questions asked</h3>",
            _list(split_lines(evidence)) if split_lines(evidence) else f"<p>{escape(splits_missing())}</p>",
            "<h3>The variants scored</h3>",
            _list(recipe_lines(evidence)) if recipe_lines(evidence) else f"<p>{escape(variants_missing(evidence))}</p>",
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
    if evidence.scores or evidence.diagnosis or evidence.sources:
        body += _sources_section(evidence)
    if evidence.scores or sure_rows(evidence, every_mode=True):
        body += _sure_section(evidence)
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
