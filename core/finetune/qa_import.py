"""Importing question/answer pairs from a file (CSV or JSONL) as a training set, split by source."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from core.chunks import Chunk
from core.errors import FineTuneError
from core.finetune.dataset import DatasetOptions, DatasetStats, QAPair, TrainingSet, pair_from_messages, text_field
from core.finetune.generation import Generator, OnProgress, dedupe, seen_half, split_chunks
from core.prompts import clean_answer, clean_question


def read_qa_file(data: bytes | str | Path, file_name: str = "") -> list[QAPair]:
    """Q&A pairs from a CSV or JSONL file (columns/keys question, answer, optional source, page)."""
    if isinstance(data, Path):
        file_name = file_name or data.name
        data = data.read_bytes()
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    lower = file_name.lower()
    is_jsonl = lower.endswith((".jsonl", ".json", ".ndjson")) or (not lower.endswith(".csv") and text.lstrip().startswith("{"))
    rows: list[Mapping[str, Any]] = []
    if is_jsonl:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise FineTuneError(f"Line {n} of {file_name or 'the Q&A file'} is not valid JSON: fix it or remove it.") from None
            if isinstance(row, dict) and isinstance(row.get("messages"), list):
                row = pair_from_messages(row["messages"])
            if not isinstance(row, dict):
                raise FineTuneError(f"Line {n} of {file_name or 'the Q&A file'} is not a JSON object with question and answer.")
            rows.append(row)
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not {"question", "answer"} <= {f.strip().lower() for f in reader.fieldnames}:
            raise FineTuneError(f"{file_name or 'The CSV file'} needs a header row with the columns question and answer (source and page optional).")
        rows = [{k.strip().lower(): v for k, v in row.items() if k} for row in reader]
    pairs = []
    for n, row in enumerate(rows, 1):
        q, a = clean_question(text_field(row, "question")), clean_answer(text_field(row, "answer"))
        if not q or not a:
            raise FineTuneError(f"Entry {n} of {file_name or 'the Q&A file'} has an empty question or answer: fill it in or remove it.")
        page = row.get("page")
        try:
            page_no = int(page) if page not in (None, "") else None
        except (TypeError, ValueError):
            page_no = None
        source = text_field(row, "source")
        pairs.append(QAPair(q, a, source=source, page=page_no, chunk_id=text_field(row, "chunk_id"), doc_id=source))
    if not pairs:
        raise FineTuneError(f"{file_name or 'The Q&A file'} holds no question/answer pair.")
    return pairs


def split_imported(
    pairs: Sequence[QAPair],
    options: DatasetOptions = DatasetOptions(),
    generate: Generator | None = None,
    progress: OnProgress | None = None,
) -> TrainingSet:
    """Split imported pairs by source (by pair when they have none) and build both evaluation halves."""
    started = time.perf_counter()
    stats = DatasetStats()
    # Each distinct source acts as a document, each pair as a chunk of it; pairs without a source
    # form one document, so a contiguous run of rows (often one topic) is held out.
    as_chunks = [Chunk(chunk_id=f"row-{i}", doc_id=p.source, source=p.source, page=p.page, text="") for i, p in enumerate(pairs)]
    train_c, new_c, stats.split_by = split_chunks(as_chunks, options.new_fraction, options.seed)
    new_ids = {c.chunk_id for c in new_c}
    keyed = [(c.chunk_id, p) for c, p in zip(as_chunks, pairs)]
    seen: set[str] = set()
    train = dedupe([p for cid, p in keyed if cid not in new_ids], seen, stats)
    eval_new = dedupe([p for cid, p in keyed if cid in new_ids], seen, stats)
    stats.chunks_total, stats.chunks_train, stats.chunks_new = len(as_chunks), len(train_c), len(new_c)
    stats.docs_new = sorted({c.source for c in new_c if c.source}) if stats.split_by == "document" else []
    if not train:
        raise FineTuneError("No pair is left for training after the split: import more pairs or lower the held-out share.")
    eval_seen = seen_half(train, generate, options, stats, progress)
    stats.train_pairs, stats.eval_seen, stats.eval_new = len(train), len(eval_seen), len(eval_new)
    stats.seconds = round(time.perf_counter() - started, 3)
    return TrainingSet(train, eval_seen, eval_new, stats)


