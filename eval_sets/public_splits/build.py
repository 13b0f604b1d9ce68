"""Build the three-split public question set from eval_sets/public and eval_sets/public2, and check it.

    .venv/bin/python eval_sets/public_splits/build.py

Writes, next to this file:
- `train.qa.jsonl`: the Q&A file the variant is trained on (`finetune dataset --import`): the answerable questions
  of the TRAINED documents, and the hand-written rewordings of `reworded.jsonl` (rows with `rewords`, which the
  import keeps out of training and uses as the training set's reworded half);
- `public_splits.questions.jsonl`: the evaluation set (`eval --questions`): the same training questions word for
  word (`verbatim`), their rewordings (`reworded`), and every answerable question of the other documents (`new`).

Unanswerable questions are left out: they are about no document, so they belong to no split.
Every row is read back with the app's reader, and every rewording must pass the check the Fine-tune wing applies.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from core.base.questions import read_questions
from core.finetune.generation import rewording_problem

HERE = Path(__file__).resolve().parent
SOURCES = (HERE.parent / "public" / "public.questions.jsonl", HERE.parent / "public2" / "public2.questions.jsonl")
# About half the answerable questions, two documents or more per domain on each side.
TRAINED = (
    "osha-3080-hand-and-power-tools.pdf",  # manuals
    "ca5-st-pierre-v-standard-insurance.pdf",  # legal
    "nc-gift-surplus-v-state.pdf",
    "scotus-opinion-oct-term-2012.pdf",
    "fda-veklury-remdesivir-label.pdf",  # medical
    "bmc-hsr-malawi-quality-improvement.pdf",
    "irs-form-w2-2025.pdf",  # forms
    "irs-form-w4-2025.pdf",
)
KEEP = ("question", "answer", "source", "page", "pages", "domain")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    """Write both files and print the counts per split and domain."""
    answerable = [r for p in SOURCES for r in _rows(p) if not r.get("unanswerable")]
    trained = [{k: r[k] for k in KEEP if k in r} for r in answerable if r["source"] in TRAINED]
    new = [{**{k: r[k] for k in KEEP if k in r}, "split": "new"} for r in answerable if r["source"] not in TRAINED]
    rewordings = _rows(HERE / "reworded.jsonl")
    by_question = {r["question"]: r for r in trained}
    assert len(by_question) == len(trained), "two training questions are the same"
    named = Counter(w["rewords"] for w in rewordings)
    assert set(named) == set(by_question) and max(named.values()) == 1, "one rewording per training question"
    domain = {r["question"]: r.get("domain", "") for r in trained}
    for w in rewordings:
        original = by_question[w["rewords"]]
        assert (w["answer"], w["source"], w["page"]) == (original["answer"], original["source"], original["page"])
        problem = rewording_problem(w["rewords"], w["question"], w["answer"])
        assert not problem, f"rewording {problem}: {w['question']}"
    reworded = [{**w, "domain": domain[w["rewords"]]} for w in rewordings]
    _write(HERE / "train.qa.jsonl", [{k: r[k] for k in ("question", "answer", "source", "page")} for r in trained])
    with (HERE / "train.qa.jsonl").open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(w, ensure_ascii=False) + "\n" for w in rewordings)
    evaluation = [{**r, "split": "verbatim"} for r in trained] + reworded + new
    _write(HERE / "public_splits.questions.jsonl", evaluation)
    read = read_questions(HERE / "public_splits.questions.jsonl")
    read_questions(HERE / "train.qa.jsonl")
    counts = Counter((q.split, row.get("domain", "")) for q, row in zip(read, evaluation))
    print(
        f"{len(read)} questions: "
        + ", ".join(f"{s} {sum(n for (k, _), n in counts.items() if k == s)}" for s in ("verbatim", "reworded", "new"))
    )
    for (split, dom), n in sorted(counts.items()):
        print(f"  {split:9} {dom:8} {n}")


if __name__ == "__main__":
    main()
