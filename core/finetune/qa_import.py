"""Importing question/answer pairs from a file (CSV or JSONL) as a training set, split by source.

A file may also hold rewordings: rows with `split: reworded` and `rewords` (the training question they ask in other
words). They are not trained on; they become the reworded half for the training questions they name.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from core.base.chunks import Chunk
from core.base.questions import EvalQuestion, read_questions
from core.errors import FineTuneError
from core.finetune.dataset import DatasetOptions, DatasetStats, QAPair, TrainingSet, pairs_from_questions
from core.finetune.generation import Generator, OnProgress, count_halves, dedupe, split_chunks, trained_halves


def read_qa_file(data: bytes | str | Path, file_name: str = "") -> list[QAPair]:
    """Q&A pairs from a question file (`core.base.questions`: CSV, JSONL, a JSON list, chat messages); each needs an
    answer. Reworded rows come along with `rewords` set: `split_imported` keeps them out of training."""
    questions = read_questions(data, file_name)
    label = file_name or (str(data) if isinstance(data, Path) else "the Q&A file")
    pairs = pairs_from_questions(questions, label)
    return [p if not q.rewords else _as_rewording(p, q) for p, q in zip(pairs, questions)]


def read_rewordings(path: Path) -> list[QAPair]:
    """The rewordings a question file holds (its rows with `rewords`), as pairs that name the question they reword."""
    return [p for p in read_qa_file(path) if p.rewords]


def _as_rewording(pair: QAPair, row: EvalQuestion) -> QAPair:
    return QAPair(pair.question, pair.answer, pair.source, pair.page, pair.chunk_id, pair.doc_id, rewords=row.rewords)


def split_imported(
    pairs: Sequence[QAPair],
    options: DatasetOptions = DatasetOptions(),
    generate: Generator | None = None,
    progress: OnProgress | None = None,
) -> TrainingSet:
    """Split imported pairs by source (by pair when they have none) and build the three evaluation halves.

    Pairs with `rewords` are rewordings of other pairs' questions, never trained on: they make the reworded half,
    and the model (when given) rewords the training questions they leave without one.
    """
    started = time.perf_counter()
    stats = DatasetStats()
    given = [p for p in pairs if p.rewords]
    pairs = [p for p in pairs if not p.rewords]
    # Each distinct source acts as a document, each pair as a chunk of it; pairs without a source
    # form one document, so a contiguous run of rows (often one topic) is held out.
    as_chunks = [
        Chunk(chunk_id=f"row-{i}", doc_id=p.source, source=p.source, page=p.page, text="") for i, p in enumerate(pairs)
    ]
    train_c, new_c, stats.split_by = split_chunks(as_chunks, options.new_fraction, options.seed)
    new_ids = {c.chunk_id for c in new_c}
    keyed = [(c.chunk_id, p) for c, p in zip(as_chunks, pairs)]
    seen: set[str] = set()
    train = dedupe([p for cid, p in keyed if cid not in new_ids], seen, stats)
    eval_new = dedupe([p for cid, p in keyed if cid in new_ids], seen, stats)
    stats.chunks_total, stats.chunks_train, stats.chunks_new = len(as_chunks), len(train_c), len(new_c)
    stats.docs_new = sorted({c.source for c in new_c if c.source}) if stats.split_by == "document" else []
    if not train:
        raise FineTuneError(
            "No pair is left for training after the split: import more pairs or lower the held-out share."
        )
    verbatim, reworded = trained_halves(train, generate, options, stats, progress, given=given)
    count_halves(stats, train, verbatim, reworded, eval_new)
    stats.seconds = round(time.perf_counter() - started, 3)
    return TrainingSet(train, verbatim, eval_new, stats, reworded)
