"""Fit the answer confidence on evaluation runs and measure how well it separates right answers from wrong ones.

Run: `.venv/bin/python -m benchmarks.calibration --runs RUN_ID[,RUN_ID…] [--variant-runs RUN_ID…] [--data-dir DIR]
[--threshold T] [--out core/chat/calibration.json] [--no-write] [--sweep 0.3,0.5,0.7]`.

The runs are any saved evaluation runs whose rows carry `signals` (every run since the confidence exists; e.g. the
runs `python -m benchmarks.quality --sets samples,public,public2 --modes rag,base --data-dir DIR` prints). The
calibration is fitted on all their rows and written to `--out` (the chat reads it at start). Printed, one JSON line
each, per arm: the confidence figures (core/evaluation/confidence_metrics.py) of the rows judged by the fitted
calibration (`in-sample`), and — the honest figure — judged by a calibration fitted on the *other* runs only
(`held-out`: each run's rows scored by a fit that never saw them), with n and 95% Wilson intervals.
Re-fit whenever the prompt, the engine's model or a signal changes: the signals' meaning moves with them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import machine
from core.chat.confidence import CALIBRATION_FILE, MEASURED_THRESHOLDS
from core.config import Settings
from core.evaluation.calibration import calibration_to_dict, fit_calibration, rescored
from core.evaluation.confidence_metrics import figures_by_arm
from core.evaluation.runs import read_json, read_rows, run_dir, split_arm


def load_runs(data_dir: Path, run_ids: list[str]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Each run's question set name and rows."""
    out = {}
    for run_id in run_ids:
        folder = run_dir(data_dir, run_id)
        config = read_json(folder / "config.json") or {}
        rows = read_rows(folder)
        if not rows:
            raise SystemExit(f"Run {run_id} has no rows in {folder}: give the id of a finished run (--data-dir?).")
        out[run_id] = (str(config.get("question_set") or config.get("collection") or run_id), rows)
    return out


def main() -> None:
    """Fit, write and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="comma-separated evaluation run ids")
    parser.add_argument(
        "--data-dir", default=None, help="the data directory holding the runs (default DOMAINCHAT_DATA_DIR)"
    )
    parser.add_argument(
        "--variant-runs",
        default="",
        help="comma-separated runs whose fine-tuned variant's answers (finetuned arms) the model alone is also fitted "
        "on; their other arms are left out (their questions may repeat the --runs' sets)",
    )
    parser.add_argument("--threshold", type=float, default=None, help="default DOMAINCHAT_CONFIDENCE_THRESHOLD")
    parser.add_argument("--out", default=str(CALIBRATION_FILE))
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    parser.add_argument(
        "--sweep", default="", help="comma-separated thresholds: also print the held-out figures at each (all sets)"
    )
    ns = parser.parse_args()
    settings = Settings.from_env(data_dir=Path(ns.data_dir)) if ns.data_dir else Settings.from_env()
    threshold = settings.confidence_threshold if ns.threshold is None else ns.threshold
    runs = load_runs(settings.data_dir, [r for r in ns.runs.split(",") if r.strip()])
    variant_runs = load_runs(settings.data_dir, [r for r in ns.variant_runs.split(",") if r.strip()])
    # a variant's answers: no base model alone answers like it, so without them the model alone knows only base's
    variant_rows = [
        r for _, rows in variant_runs.values() for r in rows if split_arm(str(r.get("arm", "")))[0] == "finetuned"
    ]
    every = [row for _, rows in runs.values() for row in rows] + variant_rows
    fitted_on = {
        "runs": [{"run_id": rid, "question_set": name, "rows": len(rows)} for rid, (name, rows) in runs.items()]
        + [
            {"run_id": rid, "question_set": name, "rows": sum(r in variant_rows for r in rows), "arms": "finetuned"}
            for rid, (name, rows) in variant_runs.items()
        ],
        "engine": sorted({str(r.get("engine")) for r in every}),
        "model": sorted({str(r.get("model")) for r in every if r.get("model")}),
    }
    # each run's rows judged by the fit on the other runs: what a threshold does on documents not fitted on
    held_models = {
        rid: fit_calibration([r for o, (_, rs) in runs.items() if o != rid for r in rs] + variant_rows) for rid in runs
    }

    def held_out(t: float) -> dict[str, Any]:
        held = [row for rid, (_, rows) in runs.items() for row in rescored(rows, held_models[rid], t)]
        return {a: f.to_dict() for a, f in figures_by_arm(held).items()}

    if len(runs) > 1:
        # kept with the calibration, so the chat can say what its threshold means (MEASURED_THRESHOLDS)
        fitted_on["measured"] = [
            {"threshold": t, **{arm: _brief(f) for arm, f in held_out(t).items()}} for t in MEASURED_THRESHOLDS
        ]
    calibration = fit_calibration(every, fitted_on)
    print(machine(), flush=True)
    if not ns.no_write:
        Path(ns.out).write_text(json.dumps(calibration_to_dict(calibration), indent=2) + "\n", encoding="utf-8")
        print(json.dumps({"written": ns.out, **calibration_to_dict(calibration)}), flush=True)
    sets = sorted({name for name, _ in runs.values()})
    for name in [*sets, "all"]:
        chosen = [rows for n, rows in runs.values() if name in ("all", n)]
        rows = [r for group in chosen for r in group]
        out: dict[str, Any] = {"set": name, "threshold": threshold}
        out["in-sample"] = {a: f.to_dict() for a, f in figures_by_arm(rescored(rows, calibration, threshold)).items()}
        if name == "all" and variant_rows:
            # the variant's own answers, judged by the fit that saw them: no held-out figure exists for them
            judged = figures_by_arm(rescored(variant_rows, calibration, threshold))
            out["variant answers, in-sample"] = {a: f.to_dict() for a, f in judged.items()}
        if len(runs) > 1:
            held: list[dict[str, Any]] = []
            for rid, (n, own) in runs.items():
                if name not in ("all", n):
                    continue
                held += rescored(own, held_models[rid], threshold)
            out["held-out"] = {a: f.to_dict() for a, f in figures_by_arm(held).items()}
        print(json.dumps(out), flush=True)
    if ns.sweep and len(runs) > 1:
        for t in (float(v) for v in ns.sweep.split(",")):
            print(json.dumps({"set": "all", "threshold": t, "held-out": held_out(t)}), flush=True)


def _brief(figures: dict[str, Any]) -> dict[str, Any]:
    """The counts the chat's threshold note reads: answers marked sure and right among them, right answers unsure."""
    keys = ("selective_accuracy", "right_marked_unsure", "confidently_wrong")
    return {k: [figures[k]["k"], figures[k]["n"]] for k in keys} | {"auroc": figures["auroc"]}


if __name__ == "__main__":
    main()
