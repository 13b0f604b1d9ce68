"""The statistics a run is saved and compared with.

A real background run on the openai engine (tests/helpers/paired_run.py, against tests/fakes/openai_server.py)
writes every share's Wilson interval and the paired comparisons of its modes into summary.json; a run saved before
they were kept gets them from its rows when it loads; `python -m core eval` prints them; Run A vs run B pairs the two
runs' answers on the same questions; the New run tab's planning figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.base.jobs import JobStatus
from core.base.questions import EvalQuestion
from core.cli.main import main
from core.config import Settings
from core.evaluation.runs import EvalConfig, SavedRun, run_dir
from core.evaluation.scoring import score_answer, summarise
from core.evaluation.service import EvaluationService
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.paired_run import QUESTIONS, REPLIES, paired_run


@pytest.fixture
def finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SavedRun]:
    """A finished run of base and finetuned on four questions, made as the page makes it (a background job)."""
    with FakeOpenAIServer(models=tuple(REPLIES)) as fake:
        yield paired_run(tmp_path / "data", fake, monkeypatch)


def test_a_run_saves_every_shares_interval_and_the_paired_comparisons(finished: SavedRun) -> None:
    assert finished.status.state == "done", finished.status.message
    right = {(r["arm"], r["question"]): r["correct"] for r in finished.rows}
    assert right[("base", QUESTIONS[0].question)] and not right[("finetuned", QUESTIONS[0].question)]
    assert right[("finetuned", QUESTIONS[1].question)] and not right[("base", QUESTIONS[1].question)]
    saved = json.loads((run_dir(Path(finished.config.data_dir), finished.run_id) / "summary.json").read_text())
    assert saved == finished.summary  # what was written is what loads
    seen = saved["arms"]["base"]["seen"]
    assert (seen["correct_n"], seen["answerable"], seen["correct_ci"]) == (1, 2, [0.0945, 0.9055])  # 1 of 2
    assert saved["arms"]["base"]["new"]["refused_unanswerable_ci"] is not None  # every counted share has one
    assert saved["intervals"] == {"method": "Wilson score interval", "confidence": 0.95}
    # base and finetuned, paired on the three answerable questions: one each way, on all and on each half
    by_split = {c["split"]: c for c in saved["comparisons"]}
    assert set(by_split) == {"all", "seen", "new"}
    everything = by_split["all"]
    assert (everything["arm_a"], everything["arm_b"], everything["n"]) == ("base", "finetuned", 3)
    assert (everything["only_a"], everything["only_b"], everything["p_value"], everything["clear"]) == (
        1,
        1,
        1.0,
        False,
    )
    assert everything["sentence"] == (
        "base − finetuned on all questions: 0 points (95% CI −64 to +64), 2 of 3 questions differ, p = 1"
    )
    assert EvaluationService.comparisons(finished)[0] == f"not clear: {everything['sentence']}"


def test_a_run_saved_without_statistics_gets_them_from_its_rows_when_it_loads(
    finished: SavedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_dir(Path(finished.config.data_dir), finished.run_id) / "summary.json"
    old = json.loads(path.read_text())
    for blocks in (*old["arms"].values(), *old["by_source"].values()):
        for block in blocks.values():
            for key in [k for k in block if k.endswith("_ci")]:
                del block[key]
    del old["comparisons"], old["intervals"]
    path.write_text(json.dumps(old))
    svc = build_services(Settings.from_env(dotenv=None, data_dir=Path(finished.config.data_dir)))
    try:
        loaded = svc.evaluation.load_run(finished.run_id)
    finally:
        svc.close()
    assert loaded.summary == finished.summary
    # the command line prints the summary as it loads: with its intervals and its comparisons
    capsys.readouterr()
    assert main(["eval", "--show", finished.run_id]) == 0
    printed = json.loads(capsys.readouterr().out)["summary"]
    assert (
        printed["arms"]["finetuned"]["all"]["correct_ci"] == finished.summary["arms"]["finetuned"]["all"]["correct_ci"]
    )
    assert printed["comparisons"] == finished.summary["comparisons"]


def _answer(mode: str, text: str) -> dict[str, Any]:
    return {"mode": mode, "text": text, "sources": [], "timings": {"total_ms": 300.0}}


def _saved(run_id: str, answers: dict[str, list[tuple[str, str, bool]]]) -> SavedRun:
    """A run of hand-scored rows: per mode, (question, split, right?) in order."""
    rows = []
    for mode, asked in answers.items():
        for i, (question, split, right) in enumerate(asked):
            q = EvalQuestion(question, "15 kg", "manual.pdf", 1, split=split)
            rows.append({"i": i, **score_answer(q, _answer(mode, "15 kg" if right else "40 kg"), k=3)})
    status = JobStatus(job_id=run_id, kind="eval", state="done")
    return SavedRun(run_id, EvalConfig(collection="", arms=list(answers)), status, summarise(rows, list(answers)), rows)


def test_run_a_vs_run_b_pairs_the_answers_to_the_same_questions() -> None:
    # run B asks 10 of run A's 12 questions again (and 2 new ones): only the 10 in common are paired
    shared = [f"What does rack {c} hold?" for c in "ABCDEFGHIJ"]
    run_a = _saved(
        "ev-20261125-140000-aaaa",
        {"rag": [(q, "seen", i < 4) for i, q in enumerate(shared)] + [("Only in A?", "seen", True)] * 2},
    )
    run_b = _saved(
        "ev-20261125-150000-bbbb",
        {"rag": [(q, "seen", True) for q in shared] + [("Only in B?", "seen", False)] * 2},
    )
    rows = EvaluationService.compare(run_a, run_b)
    correct = {r["split"]: r for r in rows if r["metric"].startswith("correct")}
    assert set(correct) == {"all", "seen"}
    everything = correct["all"]
    # the plain difference of the two grids counts every question; the paired one only those asked in both
    assert (everything["run A"], everything["run B"], everything["B − A"]) == (0.5, 0.8333, 0.3333)
    assert everything["paired questions"] == 10 and everything["clear"] is True
    assert everything["paired"] == (
        "run B − run A on all questions: +60 points (95% CI +20 to +83), 6 of 10 questions differ, p = 0.031"
    )
    assert correct["seen"]["paired questions"] == 10  # a lone split is paired too: the grid shows it
    others = [r for r in rows if not r["metric"].startswith("correct")]
    assert others and all(r["paired"] == "" and r["paired questions"] is None for r in others)


@pytest.mark.parametrize(
    ("seen", "new", "expected"),
    [
        (
            15,
            40,
            "With 15 answerable questions per half you can tell apart only differences above ~54 points "
            "(at 95% confidence, 80% power).",
        ),
        (
            400,
            0,
            "With 400 answerable questions you can tell apart only differences above ~10 points "
            "(at 95% confidence, 80% power).",
        ),
        (
            3,
            3,
            "With 3 answerable questions per half no difference between two modes can be told apart "
            "(at 95% confidence, 80% power): use a set with more questions.",
        ),
    ],
)
def test_the_new_run_tab_says_what_the_smallest_half_can_tell_apart(seen: int, new: int, expected: str) -> None:
    questions = [EvalQuestion(f"Seen {i}?", "a", split="seen") for i in range(seen)]
    questions += [EvalQuestion(f"New {i}?", "b", split="new") for i in range(new)]
    questions += [EvalQuestion("Not in the documents?", unanswerable=True, split="new")] * 5  # not counted
    if not new:
        questions = [EvalQuestion(q.question, q.answer) for q in questions if not q.unanswerable]
    assert EvaluationService.plan(questions).sentence() == expected


def test_a_quick_trial_takes_the_first_questions_of_each_half_so_every_half_is_still_scored() -> None:
    halves = [
        *(EvalQuestion(f"Trained {i}?", "a", split="verbatim") for i in range(5)),
        *(EvalQuestion(f"Reworded {i}?", "a", split="reworded") for i in range(5)),
        *(EvalQuestion(f"New {i}?", "a", split="new") for i in range(5)),
    ]
    chosen = EvaluationService.first_questions(halves, 2)
    expected = ["Trained 0?", "Trained 1?", "Reworded 0?", "Reworded 1?", "New 0?", "New 1?"]
    assert [q.question for q in chosen] == expected
    # a set without halves: the first N, as the option says; 0 keeps them all
    plain = [EvalQuestion(f"Q{i}?", "a") for i in range(5)]
    assert [q.question for q in EvaluationService.first_questions(plain, 2)] == ["Q0?", "Q1?"]
    assert EvaluationService.first_questions(halves, 0) == halves
