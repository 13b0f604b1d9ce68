"""Editing a saved training set from the page's table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import FineTuneError
from core.finetune import dataset as ds
from core.finetune.dataset import messages_jsonl, replace_training_pairs
from core.finetune.qa_import import split_imported


def test_edits_replace_the_training_pairs_and_leave_evaluation_alone(tmp_path: Path) -> None:
    pairs = [ds.QAPair(f"Question {i}?", f"Answer {i}", source=f"d{i % 3}.pdf", page=i) for i in range(9)]
    folder = ds.save_training_set(
        tmp_path, "set", split_imported(pairs, ds.DatasetOptions(new_fraction=0.3, seen_questions=3))
    )
    eval_before = (folder / ds.EVAL_NEW_FILE).read_text(), (folder / ds.EVAL_VERBATIM_FILE).read_text()
    rows = [
        {"question": p.question, "answer": p.answer, "source": p.source, "page": p.page}
        for p in ds.load_training_pairs(folder)
    ]
    rows[0]["answer"] = "A better answer"
    rows[1]["question"] = ""  # a cleared row is a deleted pair
    rows.append({"question": "A new question?", "answer": "New", "source": "", "page": float("nan")})

    kept = replace_training_pairs(tmp_path, "set", rows)

    after = ds.load_training_pairs(folder)
    assert kept == len(rows) - 1 == len(after)
    assert after[0].answer == "A better answer" and after[-1].question == "A new question?" and after[-1].page is None
    chat = [json.loads(line) for line in (folder / ds.TRAIN_FILE).read_text().splitlines()]
    assert chat[0]["messages"][1]["content"] == "A better answer"
    assert ((folder / ds.EVAL_NEW_FILE).read_text(), (folder / ds.EVAL_VERBATIM_FILE).read_text()) == eval_before
    assert messages_jsonl(after).count("\n") == len(after)
    with pytest.raises(FineTuneError, match="at least one"):
        replace_training_pairs(tmp_path, "set", [{"question": "", "answer": ""}])
