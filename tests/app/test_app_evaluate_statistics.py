"""The Evaluate page shows how sure its figures are (AppTest): each share of the grid with its 95% Wilson interval, the
chosen measure's chart with an interval line over each bar, "Which differences are real?" with the paired
comparisons, and, before a run, the smallest difference the chosen question set can tell apart.

The run is a real background job on the openai engine against tests/fakes/openai_server.py
(tests/helpers/paired_run.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from core.base.questions import SPLIT_LABELS
from core.chat.safety import escape_markdown
from core.config import Settings
from core.finetune.register import register_served
from core.services import build_services
from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.paired_run import QUESTIONS, REPLIES, VARIANT, paired_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=tuple(REPLIES)) as server:
        yield server


def _marks(spec: dict[str, Any]) -> list[str]:
    """Every mark type of a Vega-Lite spec, its layers' included."""
    own = spec.get("mark")
    found = [own if isinstance(own, str) else own["type"]] if own else []
    return found + [m for layer in spec.get("layer", []) for m in _marks(layer)]


def test_results_show_intervals_error_bars_and_which_differences_are_real(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = paired_run(tmp_path / "data", fake, monkeypatch)
    assert run.status.state == "done", run.status.message
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception

    answers = at.dataframe[0].value.set_index(["mode", "split"])  # the grid's first group: Answers
    # base: right on 1 of the 2 seen facts, 1 of the 3 answerable questions in all (Wilson: 6–79%)
    assert answers.loc[("base", "all"), "correct answers"] == "1/3 · 33% (6–79%)"
    assert answers.loc[("base", SPLIT_LABELS["seen"]), "correct answers"] == "1/2 · 50% (9–91%)"
    (headline,) = at.table
    assert list(headline.value["all"]) == ["1/3 · 33% (6–79%)", "1/3 · 33% (6–79%)"]
    # the fine-tuned row names its variant, and a line says how that variant was made
    assert list(headline.value["mode"]) == ["base", f"finetuned · {VARIANT}"]
    assert any(c.value.startswith(escape_markdown(f"{VARIANT}: recipe plain")) for c in at.caption)

    assert any(s.value == "Which differences are real?" for s in at.subheader)
    assert any("only the questions where one was right and the other wrong count" in c.value for c in at.caption)
    listed = next(m.value for m in at.markdown if "base − finetuned on all questions" in m.value)
    assert "- not clear: base − finetuned on all questions: 0 points (95% CI −64 to +64), 2 of 3 questions differ" in (
        listed
    )

    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    measure = next(s for s in specs if "rule" in _marks(s))  # the chosen measure (correct answers): bars and intervals
    assert {"bar", "rule"} <= set(_marks(measure))
    assert any("95% Wilson interval" in c.value for c in at.caption)


def test_the_new_run_tab_says_what_the_chosen_set_can_tell_apart(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    paired_run(tmp_path / "data", fake, monkeypatch)  # the page's settings: the openai engine on the fake server
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/evaluate.py").run()
    at.radio[0].set_value("Sample questions").run()
    assert not at.exception, at.exception
    planning = [c.value for c in at.caption if "you can tell apart only differences above" in c.value]
    assert len(planning) == 1 and planning[0].endswith("points (at 95% confidence, 80% power).")
    at.number_input(key="eval_limit").set_value(5).run()  # only the first 5 questions: a coarser figure
    (limited,) = [c.value for c in at.caption if "you can tell apart only differences above" in c.value]
    assert limited.startswith("With 5 answerable questions you can tell apart only differences above ~94 points")


def test_the_new_run_tab_scores_each_chosen_variant_as_its_own_arms(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    paired_run(tmp_path / "data", fake, monkeypatch)  # the page's settings, and the variant manuals-ft
    fake.state.models["passages-lora"] = "The warranty lasts two years."
    svc = build_services(Settings.from_env(dotenv=None, data_dir=tmp_path / "data"))
    try:
        register_served(svc.settings, "passages-ft", "passages-lora", engine=svc.engines.openai)
    finally:
        svc.close()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/evaluate.py").run()
    at.radio[0].set_value("Sample questions").run()
    picker = at.multiselect(key="eval_variants")
    assert set(picker.options) == {VARIANT, "passages-ft"} and picker.value == ["passages-ft"]  # the newest
    picker.set_value(["passages-ft", VARIANT]).run()
    at.pills(key="eval_arms").set_value(["base", "finetuned"]).run()
    at.number_input(key="eval_limit").set_value(2).run()
    next(b for b in at.button if b.label == "Start evaluation").click().run()
    assert not at.exception, at.exception
    config = json.loads(
        (tmp_path / "data" / "evaluation" / "runs" / at.session_state["eval_run"] / "config.json").read_text()
    )
    assert config["arms"] == ["base", "finetuned:passages-ft", f"finetuned:{VARIANT}"]


def test_results_say_where_the_answers_came_from_and_filter_the_answers_by_it(
    tmp_path: Path, fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = paired_run(tmp_path / "data", fake, monkeypatch)
    assert run.status.state == "done", run.status.message
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception

    assert any(s.value == "Where the answers came from" for s in at.subheader)
    diagnosis = run.summary["answer_sources"]["diagnosis"]
    said = "\n".join(f"- {escape_markdown(diagnosis[arm])}" for arm in ("base", "finetuned"))
    assert said in [m.value for m in at.markdown]
    assert "1 of 2 seen-fact answers came from memory and were wrong" in diagnosis["base"]

    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    chart = next(s for s in specs if s.get("encoding", {}).get("x", {}).get("field") == "answers")
    assert chart["mark"]["type"] == "bar" and chart["encoding"]["y"]["field"] == "mode"  # horizontal, a bar per mode
    # the modes read no passage: right, wrong, declined, no answer, in that order, green for right and red for wrong
    scale = chart["encoding"]["color"]["scale"]
    assert scale["domain"] == ["right", "wrong", "declined (refused or flagged not supported)", "no answer given"]
    assert scale["range"][:2] == ["#5aae61", "#f46d43"]
    assert chart["encoding"]["y"]["sort"] == ["base", f"finetuned · {VARIANT}"]

    # base is right on the filter only, the variant on the door only; neither knows the warranty
    side = at.dataframe[-1].value
    assert len(side) == 4 and list(side["base answer was"]) == ["right", "wrong", "wrong", "–"]  # "–": unanswerable
    picker = at.multiselect(key="eval_sources")
    assert picker.options == ["right", "wrong"]  # only the kinds some answer was
    picker.set_value(["right"]).run()
    assert not at.exception, at.exception
    side = at.dataframe[-1].value
    assert list(side["question"]) == [q.question for q in QUESTIONS[:2]]
    assert list(side["finetuned answer was"]) == ["wrong", "right"]
