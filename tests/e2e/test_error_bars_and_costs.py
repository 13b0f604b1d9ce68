"""In a real browser, what the Evaluate and Advisor pages draw from a real run: the grid's chart with an error bar over
each share and cells that give the same interval; the team's monthly costs as a table and a chart that agree.

A fresh data directory gets the sample documents and a small scored grid (base and rag, the manual's first questions)
from the command line, the cheapest real run; the app then runs as `streamlit run app.py` on the embedded engine and
Debian's chromium reads what Vega drew: its SVG marks carry their role ("bar", "rule mark", "tick") and their data in
an aria-label, so each error bar is checked where it is drawn, not only in the chart's specification.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.evaluation.scoring import share_text
from core.evaluation.statistics import SHARE_BASES
from core.library.samples import SAMPLES_DIR
from tests.helpers.streamlit_app import ROOT, app_on_loopback

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ENV = {"DOMAINCHAT_ENGINE": "embedded", "DOMAINCHAT_TOP_K": "3"}
QUESTION_SET = "sample:aquaflow-dishwasher-manual.questions.jsonl"
ARMS = ("base", "rag")
CELL = re.compile(r"^(\d+)/(\d+) · (\d+)% \((\d+)–(\d+)%\)$")  # "2/4 · 50% (15–85%)"
PX = 1.5  # how far a drawn end may sit from where its value maps (anti-aliasing, half-pixel offsets)

# Every mark Vega drew in one chart, with its aria-label and its box on the page; and the plot's top and bottom, read
# from the axis grid lines (the y scale's 100% and 0% when the domain is [0, 1]).
DRAWN_MARKS = """el => {
    const box = n => { const b = n.getBoundingClientRect(); return {left: b.left, right: b.right, top: b.top,
                                                                     bottom: b.bottom}; };
    const grid = [...el.querySelectorAll('.role-axis-grid line')].map(box);
    const marks = role => [...el.querySelectorAll(`[aria-roledescription="${role}"]`)]
        .map(n => ({label: n.getAttribute('aria-label') || '', ...box(n)}));
    return {
        plotTop: grid.length ? Math.min(...grid.map(b => b.top)) : null,
        plotBottom: grid.length ? Math.max(...grid.map(b => b.bottom)) : null,
        bars: marks('bar'), rules: marks('rule mark'), ticks: marks('tick'),
    };
}"""


def fields(label: str) -> dict[str, str]:
    """A Vega mark's aria-label ("mode: rag; low: 0.34; high: 1") as a dict."""
    return dict(part.split(": ", 1) for part in label.split("; ") if ": " in part)


def core_cli(data: Path, *args: str) -> str:
    """`python -m core ARGS` on the data directory `data`; its JSON output (it must succeed)."""
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(data), **ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A fresh data directory holding the sample documents and a finished run of base and rag on the manual's first
    four questions; and that run's summary as `python -m core eval` printed it."""
    data = tmp_path_factory.mktemp("e2e-charts") / "data"
    samples = sorted(str(p) for p in SAMPLES_DIR.iterdir() if p.suffix in (".pdf", ".docx"))
    core_cli(data, "ingest", "--collection", "samples", *samples)
    args = ["--collection", "samples", "--questions", QUESTION_SET, "--modes", ",".join(ARMS), "--limit", "4"]
    run = json.loads(core_cli(data, "eval", *args))
    assert run["state"] == "done", run["message"]
    return data, run["summary"]


@pytest.fixture(scope="module")
def app_url(scored: tuple[Path, dict[str, Any]]) -> Iterator[str]:
    with app_on_loopback(scored[0], ENV) as url:
        yield url


def settled(page: Any) -> None:
    """Wait until no script runs and no element is still a placeholder (before reading or a screenshot)."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden")
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0")


def section_shot(page: Any, first: Any, last: Any, path: Path) -> None:
    """A screenshot of one section of the page, from locator `first` down to locator `last`, once it has settled."""
    first.evaluate("e => e.scrollIntoView()")
    settled(page)
    top, end = first.bounding_box(), last.bounding_box()
    assert top is not None and end is not None
    left, right = min(top["x"], end["x"]), max(top["x"] + top["width"], end["x"] + end["width"])
    bottom = end["y"] + end["height"]
    clip = {"x": left - 16, "y": top["y"] - 16, "width": right - left + 32, "height": bottom - top["y"] + 32}
    page.screenshot(path=str(path), clip=clip)


def test_the_grid_chart_draws_an_error_bar_over_each_share_and_the_cells_give_the_same_interval(
    scored: tuple[Path, dict[str, Any]], app_url: str, browser: Any, output_dir: Path
) -> None:
    summary = scored[1]
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(90_000)
    page.goto(f"{app_url}/evaluate")
    page.get_by_role("heading", name="Evaluate", exact=True).wait_for()
    page.get_by_role("tab", name="Results").click()
    page.get_by_role("heading", name="The grid", exact=True).wait_for()

    # the grid: one row per mode, its cell "n/N · p% (lo–hi%)", the run's own count, share and interval
    grid = page.locator("[data-testid='stTable']").filter(has=page.locator("th", has_text=re.compile("^mode$"))).first
    grid.get_by_role("cell", name="rag", exact=True).wait_for()
    header = [t.strip() for t in grid.locator("thead th").all_inner_texts()]
    assert header == ["mode", "all"], header  # the manual's questions are not split: one column, all of them
    cells = {}
    for row in grid.locator("tbody tr").all():
        mode, cell = (t.strip() for t in row.locator("td").all_inner_texts())
        cells[mode] = cell
    assert set(cells) == set(ARMS), cells
    for arm in ARMS:
        figures = summary["arms"][arm]["all"]
        assert CELL.match(cells[arm]), cells[arm]
        assert figures["answerable"] == 4  # the four questions asked, all answerable: the run's limit held
        base = figures[SHARE_BASES["correct"]]
        assert cells[arm] == share_text(figures["correct"], base, figures["correct_ci"])

    # the chart of correct answers: a bar per mode and, over it, a rule from the interval's low to its high end
    chart = page.locator("[data-testid='stVegaLiteChart']").filter(
        has=page.locator("[aria-label^=\"Y-axis titled 'correct answers'\"]")
    )
    chart.locator("[aria-roledescription='bar']").first.wait_for(state="attached")  # a 0% bar is not visible
    settled(page)
    drawn = chart.evaluate(DRAWN_MARKS)
    top, bottom = drawn["plotTop"], drawn["plotBottom"]
    assert top is not None and bottom - top > 100, drawn  # the y axis runs from 0% (bottom) to 100% (top)
    bars = {fields(b["label"])["mode"]: b for b in drawn["bars"]}
    rules = {fields(r["label"])["mode"]: r for r in drawn["rules"]}
    assert set(bars) == set(ARMS), drawn["bars"]
    assert set(rules) == set(ARMS), f"no error bar drawn over some bar: {drawn['rules']}"
    for arm in ARMS:
        bar, rule = bars[arm], rules[arm]
        low, high = summary["arms"][arm]["all"]["correct_ci"]
        # the bar's tooltip and the rule carry the run's interval; the cell shows the same, rounded
        said = fields(bar["label"])
        assert (said["95% interval from"], said["95% interval to"]) == (f"{low * 100:.0f}%", f"{high * 100:.0f}%")
        assert cells[arm].endswith(f"({said['95% interval from'][:-1]}–{said['95% interval to']})")
        assert float(fields(rule["label"])["low"]) == pytest.approx(low, abs=1e-3)
        assert float(fields(rule["label"])["high"]) == pytest.approx(high, abs=1e-3)
        # drawn where it belongs: over its own bar, from the low end to the high end on the chart's scale
        centre = (rule["left"] + rule["right"]) / 2
        assert bar["left"] < centre < bar["right"], (arm, bar, rule)
        assert rule["bottom"] == pytest.approx(bottom - low * (bottom - top), abs=PX), (arm, rule, drawn)
        assert rule["top"] == pytest.approx(bottom - high * (bottom - top), abs=PX), (arm, rule, drawn)
        assert high - low > 0.1 and rule["bottom"] - rule["top"] > 10  # four questions: a wide interval, a long bar
        # capped at both ends by a short tick
        caps = [t for t in drawn["ticks"] if fields(t["label"]).get("mode") == arm]
        assert len(caps) == 2 and all(t["left"] <= centre <= t["right"] for t in caps), caps
    # the screenshot: the paired comparisons, then the chart with its error bars and the caption that explains them
    paired = page.get_by_role("heading", name="Which differences are real?", exact=True)
    caption = page.get_by_text("The line over each bar", exact=False)
    section_shot(page, paired, caption, output_dir / "evaluate-error-bars.png")
    page.close()


def hours(text: str) -> float:
    """A cost table's hours ("13.4 h (est.)", "42 s", "2 min", "1,204.5 h") in hours."""
    found = re.match(r"([\d,.]+) (h|min|s)\b", text)
    assert found, text
    value = float(found.group(1).replace(",", ""))
    return value / {"h": 1, "min": 60, "s": 3600}[found.group(2)]


def test_given_a_volume_the_advisor_draws_the_cost_table_and_a_cost_chart_that_agree_with_it(
    app_url: str, browser: Any, output_dir: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(90_000)
    page.goto(f"{app_url}/advisor")
    page.get_by_role("heading", name="Recommendation", exact=True).wait_for()
    costs = page.get_by_role("heading", name="What each approach costs you per month", exact=True)
    assert costs.count() == 0  # no volume yet, no costs
    # "Your volume": each figure is taken (Enter) and the page redrawn before the next is typed
    for label, value in (("Questions per day", "500"), ("Number of documents", "3"), ("Average MB per document", "1")):
        box = page.get_by_role("spinbutton", name=label, exact=True)
        box.fill(value)
        box.press("Enter")
        settled(page)
    costs.wait_for()
    settled(page)

    # the table: one column per approach, the monthly hours per kind and in total (the data grid draws on a canvas;
    # its cells are also in the page as an accessible table, which is what is read here)
    table = page.locator("[data-testid='stDataFrame']").filter(has=page.locator("th", has_text=re.compile("^figure$")))
    table.locator("td", has_text="total, hours a month").wait_for(state="attached")
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]
    assert headers == ["figure", "RAG", "Fine-tuning", "Hybrid"], headers
    rows: dict[str, list[str]] = {}
    for row in table.locator("tbody tr").all():
        texts = [t.strip() for t in row.locator("td").all_text_contents()]
        rows[texts[0]] = texts[1:]
    totals = dict(zip(headers[1:], rows["total, hours a month"]))
    # the run just scored timed rag's answers: RAG's answering hours are measured here, not estimated
    assert not rows["answering, hours a month"][0].endswith("(est.)"), rows

    # the chart: per approach, stacked bars of hours by kind that add up to the table's total, drawn to one scale
    chart = page.locator("[data-testid='stVegaLiteChart']").filter(
        has=page.locator("[aria-label^=\"X-axis titled 'hours a month'\"]")
    )
    chart.locator("[aria-roledescription='bar']").first.wait_for(state="attached")  # a 0% bar is not visible
    drawn = chart.evaluate(DRAWN_MARKS)["bars"]
    stacked: dict[str, list[tuple[float, float]]] = {}
    for bar in drawn:
        said = fields(bar["label"])
        stacked.setdefault(said["approach"], []).append((float(said["hours a month"]), bar["right"] - bar["left"]))
    assert set(stacked) == set(totals), (stacked, totals)
    px_per_hour = []
    for approach, parts in stacked.items():
        total = sum(h for h, _ in parts)
        shown = hours(totals[approach])
        # the table rounds: to a tenth of an hour, a minute or a second
        assert total == pytest.approx(shown, abs=0.05 + shown * 0.01), (approach, parts, totals[approach])
        assert all(width > 0 for h, width in parts if h > 0), parts
        px_per_hour.append(sum(w for _, w in parts) / total)
    assert max(px_per_hour) == pytest.approx(min(px_per_hour), rel=0.02), px_per_hour  # one scale for all
    # the costs section alone: its heading, the table and the chart (the form beside it is further up)
    section_shot(page, costs, chart, output_dir / "advisor-costs.png")
    page.close()
