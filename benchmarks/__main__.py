"""Run every performance benchmark and print one table: `python -m benchmarks [--tiny] [--only a,b]`.

Each is also a command of its own (`python -m benchmarks.ingestion`, `.retrieval_scale`, `.chat_page`,
`.first_token`, `.confidence_cost`, `.hostile`, `.finetune_steps`); `benchmarks.retrieval`, `.chat` and `.finetune`
measure answer quality and training.
Figures are ratios within one run; the machine line says how busy the machine was.
"""

from __future__ import annotations

import argparse
import importlib

from benchmarks.common import Row, machine, table

SUITE = ("ingestion", "retrieval_scale", "chat_page", "first_token", "confidence_cost", "hostile", "finetune_steps")


def run(tiny: bool = False, only: tuple[str, ...] = SUITE) -> list[Row]:
    """Rows of every benchmark in `only`, in order."""
    rows: list[Row] = []
    for name in only:
        if name not in SUITE:
            raise SystemExit(f"unknown benchmark {name!r}: choose from {', '.join(SUITE)}")
        rows += importlib.import_module(f"benchmarks.{name}").run(tiny=tiny)
    return rows


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="seconds-long versions that prove each benchmark runs (figures mean nothing)",
    )
    parser.add_argument("--only", default=",".join(SUITE))
    ns = parser.parse_args()
    print(machine())
    print(table(run(ns.tiny, tuple(ns.only.split(",")))))


if __name__ == "__main__":
    main()
