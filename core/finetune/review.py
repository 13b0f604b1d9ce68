"""Reviewing a saved training set: replace its pairs with an edited table, export it for other tools."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

from core.errors import FineTuneError
from core.finetune import dataset as ds
from core.finetune.formats import clean_answer, clean_question


def replace_training_pairs(data_dir: Path, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Overwrite a training set's pairs with edited rows (question, answer, source, page); returns how many are kept.

    Rows left with an empty question or answer are dropped (that is how a table deletes a pair); the
    evaluation halves are not touched, so edits never leak evaluation questions into training.
    """
    folder = ds.dataset_dir(data_dir, name)
    old = {p.question: p for p in ds.load_training_pairs(folder)}
    pairs: list[ds.QAPair] = []
    for row in rows:
        question = clean_question(str(row.get("question") or ""))
        answer = clean_answer(str(row.get("answer") or ""))
        if not question or not answer:
            continue
        page = row.get("page")
        try:
            page_no = int(page) if page not in (None, "") and page == page else None  # NaN != NaN
        except (TypeError, ValueError):
            page_no = None
        before = old.get(question)
        pairs.append(ds.QAPair(question, answer, source=str(row.get("source") or ""), page=page_no,
                               chunk_id=before.chunk_id if before else "", doc_id=before.doc_id if before else "",
                               context=before.context if before else ""))
    if not pairs:
        raise FineTuneError("Every pair was removed: keep at least one question with its answer, or delete the training set.")
    ds.write_jsonl(folder / ds.TRAIN_FILE, (p.messages_record() for p in pairs))
    ds.write_jsonl(folder / ds.PAIRS_FILE, (asdict(p) for p in pairs))
    return len(pairs)


def messages_jsonl(pairs: Iterable[ds.QAPair]) -> str:
    """The pairs as chat-messages JSONL text, the format other fine-tuning tools read."""
    return "".join(json.dumps(p.messages_record(), ensure_ascii=False) + "\n" for p in pairs)
