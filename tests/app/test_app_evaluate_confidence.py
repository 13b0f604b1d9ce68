"""The Evaluate page says how sure a run's answers were (AppTest): per mode the share marked sure, the accuracy of the
answers marked sure with its interval, the wrong answers left unmarked, the right ones marked unsure and the AUROC,
the threshold they were marked at, and a reliability diagram with its diagonal.

The run is a real background job on the openai engine against tests/fakes/openai_server.py
(tests/helpers/paired_run.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.helpers.paired_run import REPLIES, VARIANT, paired_run

ROOT = Path(__file__).resolve().parents[2]


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A Vega-Lite spec's layers (the spec itself when it has none)."""
    return spec.get("layer") or [spec]


def _mark(layer: dict[str, Any]) -> str:
    mark = layer.get("mark") or {}
    return mark if isinstance(mark, str) else str(mark.get("type"))


def _values(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    """A layer's data rows, inline or in the spec's named datasets (where Streamlit moves them)."""
    data = layer.get("data") or {}
    return data.get("values") or spec.get("datasets", {}).get(data.get("name", ""), [])


def test_results_say_how_sure_each_modes_answers_were_with_a_reliability_diagram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAIServer(models=tuple(REPLIES)) as fake:
        run = paired_run(tmp_path / "data", fake, monkeypatch)
        assert run.status.state == "done", run.status.message
        saved = run.summary["confidence"]
        assert set(saved) == {"base", "finetuned"} and all(f["auroc_n"] for f in saved.values())
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.switch_page("pages/evaluate.py").run()
    assert not at.exception, at.exception

    assert any(s.value == "How sure the answers were" for s in at.subheader)
    assert any("below 0.5 (the threshold" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "marked sure" in d.value.columns).set_index("mode")
    assert list(table.index) == ["base", f"finetuned · {VARIANT}"]
    # the fake's answers all score below the threshold: none marked sure, so the sure answers' accuracy has no base;
    # the one right answer of each mode is marked unsure; how it ranks against the wrong ones is the saved AUROC
    for mode in table.index:
        auroc = saved[mode.split(" · ")[0]]["auroc"]
        assert list(table.loc[mode]) == ["0/3 · 0%", "–", "0/3 · 0%", "1/1 · 100%", f"{auroc:.2f}"]
    assert saved["base"]["sure_share"] == {"k": 0, "n": 3, "share": 0.0, "ci": [0.0, 0.5615]}

    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    diagram = next(s for s in specs if any("strokeDash" in (layer.get("mark") or "") for layer in _layers(s)))
    layers = _layers(diagram)
    assert [_mark(layer) for layer in layers] == ["line", "line", "circle"]
    assert _values(diagram, layers[0]) == [{"confidence": 0, "right": 0}, {"confidence": 1, "right": 1}]
    points = layers[2]
    assert (points["encoding"]["x"]["field"], points["encoding"]["y"]["field"]) == ("confidence", "right")
    assert points["encoding"]["y"]["scale"]["domain"] == [0, 1]
    shown = _values(diagram, points)
    # one dot per mode and band holding answers, at the band's mean confidence and share right, as saved
    expected = [
        (arm, band["mean_confidence"], band["right"], band["n"])
        for arm, figures in saved.items()
        for band in figures["reliability"]
        if band["n"]
    ]
    assert sorted((r["mode"].split(" · ")[0], r["confidence"], r["right"], r["answers"]) for r in shown) == sorted(
        expected
    )
    # every answer of each mode is in one of its dots (which bands depends on the committed calibration)
    for mode in {r["mode"] for r in shown}:
        assert sum(r["answers"] for r in shown if r["mode"] == mode) == 3
