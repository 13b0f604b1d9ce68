"""The advisor service on a data directory written by hand: the costs and the evidence read the same run, and the
report a team forwards (Markdown and one HTML file) carries the run's settings, the cost table and what would change
the recommendation."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest

from core.advisor.advice import Criteria
from core.advisor.costs import Volume
from core.advisor.service import AdvisorService
from core.base.jobs import StatusWriter
from core.config import Settings
from core.evaluation.runs import read_json, run_dir
from core.evaluation.service import EvaluationService
from tests.advisor.test_costs import write_run

OLDER, NEWER, RUNNING = "ev-20261201-090000-aaaa", "ev-20261201-100000-bbbb", "ev-20261201-110000-cccc"
# application engineers with static data and 1000 labelled pairs: the rules pick fine-tuning by one point
APP_TEAM_STATIC = Criteria(
    team_skills="app_engineering", data_changes="static", budget="medium", hardware="cpu", labelled_pairs=1000
)


@pytest.fixture
def advisor(tmp_path: Path) -> AdvisorService:
    """Three runs: an older finished one, the newest finished one, and a newer one still running."""
    data = tmp_path / "data"
    now = time.time()
    write_run(data, OLDER, now - 7200, {"rag": [9000.0] * 5, "finetuned": [8000.0] * 5, "hybrid": [9000.0] * 5})
    write_run(data, NEWER, now - 3600, {"rag": [1000.0] * 5, "finetuned": [400.0] * 5, "hybrid": [1200.0] * 5})
    write_run(data, RUNNING, now, {"rag": [50.0] * 5})
    StatusWriter(
        run_dir(data, RUNNING) / "status.json",
        {"job_id": RUNNING, "kind": "evaluation", "state": "running", "created": now, "step": 1, "total_steps": 5},
    ).update()
    settings = Settings.from_env(env={}, dotenv=None, data_dir=data, engine="embedded")
    # the advisor reads saved runs only: no chat, embedder, engines or training sets are needed
    return AdvisorService(data, EvaluationService(settings, None, None, None, None))  # type: ignore[arg-type]


def test_costs_read_the_newest_finished_run_the_evidence_reads(advisor: AdvisorService) -> None:
    table = advisor.costs(Volume(100, documents=10, document_pages=5, data_changes="monthly"))
    rag = table.approaches["rag"]["answer_hours_per_month"]
    # 100 a day × 30 days × 1.0 s, from the newest finished run: not the running one, not the older one
    assert rag.measured and rag.value == pytest.approx(100 * 30 * 1.0 / 3600)
    assert f"evaluation run {NEWER}" in rag.source
    assert advisor.latest_evidence().run.startswith(f"run {NEWER},")
    # a run named is read instead, by both
    older = advisor.costs(Volume(100, documents=10, document_pages=5), run_id=OLDER)
    assert older.approaches["rag"]["answer_hours_per_month"].value == pytest.approx(100 * 30 * 9.0 / 3600)
    assert advisor.latest_evidence(OLDER).run.startswith(f"run {OLDER},")


def test_the_report_carries_the_settings_the_costs_and_what_would_change_it(advisor: AdvisorService) -> None:
    # a volume saying "weekly" is costed as the answers say: static data, the team's 1000 labelled pairs to train on
    advised = advisor.advise(APP_TEAM_STATIC, volume=Volume(50, documents=40, document_mb=2, data_changes="weekly"))
    assert advised.costs is not None and advised.costs.volume.data_changes == "static"
    assert advised.costs.volume.training_pairs == 1000
    assert advised.advice.recommendation == "finetuning"
    text = advised.markdown
    # the run's exact settings, with a hash of its questions as the run saved them
    saved = read_json(run_dir(advisor.data_dir, NEWER) / "config.json")
    digest = hashlib.sha256(json.dumps(saved["questions"], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    section = text.split("### How the run was made")[1]
    for row in (
        f"| run | {NEWER} |",
        "| engine | embedded |",
        "| retrieval | fused, k = 3 |",
        "| collection | manuals |",
        f"| questions · sha256 | 5 · {digest[:12]} |",
    ):
        assert row in section
    # the cost table, for the volume it was worked out for, its data changing as criterion 2 says
    costs = text.split("## What each approach costs your team")[1]
    assert "For your volume: 50 questions a day; 40 documents of 2 MB on average" in costs
    assert "static (never changes)" in costs and "| answering, hours a month | 25 min |" in costs
    # one step of an answer that flips it (fine-tuning 3 points, RAG 2): data changing yearly takes a point from
    # fine-tuning's static +2, and 100 labelled pairs instead of 1000 its +1; RAG then wins the tie (cheapest first)
    would = text.split("## What would change the recommendation")[1].split("## ")[0]
    assert "- How often the data changes static (never changes) → about once a year: RAG (2 points" in would
    assert "- Labelled pairs 1000 pairs → 100 pairs: RAG" in would
    assert list(advised.would_change) == [line[2:] for line in would.splitlines() if line.startswith("- ")]
    assert {"costs", "cost_basis", "would_change"} <= set(advised.to_dict())


def test_the_html_report_is_one_file_with_its_charts_inline(advisor: AdvisorService) -> None:
    advised = advisor.advise(APP_TEAM_STATIC, volume=Volume(50, documents=40, document_mb=2, cpu_hour_price=0.4))
    page = advised.html
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # nothing is fetched when it opens: no script, no stylesheet link, no src or href to another address
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    # the grid's correctness with interval whiskers, the monthly hours and where the answers came from; no reliability
    # diagram: no answer of this run carried a confidence
    assert page.count("<svg") == 3 and "Reliability diagram" not in page
    start = page.index('aria-label="Correct answers per mode and split')
    grid = page[start : page.index("</svg>", start)]
    assert "rag · all" in grid and "5/5 · 100% (57–100%)" in grid  # the whisker's interval, as the grid reads it
    assert "What each approach costs your team" in page and "money a month" in page
    assert f"<td>{NEWER}</td>" in page and "What would change the recommendation" in page
    assert "Labelled pairs 1000 pairs → 100 pairs" in page


def test_with_the_measurements_switched_off_the_advice_says_they_exist_instead_of_asking_for_them(
    advisor: AdvisorService, tmp_path: Path
) -> None:
    off = advisor.advise(APP_TEAM_STATIC, use_evidence=False).advice
    (note,) = off.missing
    assert note.startswith("The measurements are switched off: the grid (run " + NEWER) and "not weighed" in note
    assert not any("No scored grid run yet" in m for m in off.missing)
    assert "switched off" in off.summary and "no measurement moved it yet" not in off.summary
    assert not any(m.kind == "measurement" for m in off.moves)  # hidden means not weighed
    # with nothing measured there is nothing hidden: the advice asks for the runs as before
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "empty", engine="embedded")
    nothing = EvaluationService(settings, None, None, None, None)  # type: ignore[arg-type]
    empty = AdvisorService(tmp_path / "empty", nothing).advise(APP_TEAM_STATIC, use_evidence=False).advice
    assert any("No scored grid run yet" in m for m in empty.missing)
