"""Every benchmark runs (tiny versions: they prove the commands work; their figures are not checked for speed)."""

from __future__ import annotations

import math

import pytest

from benchmarks.__main__ import SUITE, run
from benchmarks.common import Row, percentile, table


def test_percentile_and_table() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([10, 20], 95) == pytest.approx(19.5)
    text = table([Row("g", "figure", 12.345, "ms", "ref")])
    assert "| g " in text and "12.3" in text and "ref" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", SUITE)
def test_each_benchmark_runs_in_its_tiny_form(name: str) -> None:
    rows = run(tiny=True, only=(name,))
    assert rows, name
    for row in rows:
        assert row.goal and row.figure and row.unit
        assert not math.isnan(row.value) and row.value >= 0, row
