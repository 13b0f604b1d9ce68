"""Training set for a fine-tune: Q&A pairs generated from chunks (or imported), split by source.

The split into training and evaluation is made by source chunk *before* any generation, so no
evaluation question of the "new documents" half can come from text the model was trained on.
Evaluation has two halves:
- `eval_seen`: questions about trained chunks, reworded so they differ from the training questions
  (does the variant know the facts, or only the exact strings it saw?);
- `eval_new`: questions about chunks (whole documents when there are several) held out entirely
  (what happens when the documents change: the case for RAG).

The LLM is an injected callable `(prompt) -> text`, so tests pass a deterministic fake.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from core.errors import FineTuneError
from core.names import validate_name
from core.finetune.formats import clean_answer, clean_question
from core.fsutil import write_json_atomic, write_jsonl_atomic

Generator = Callable[[str], str]
Progress = Callable[[int, int, str], None]

_FENCE = re.compile(r"```(?:json|JSON)?")
_NORMALISE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Chunk:
    """One chunk of a collection, as the document store hands it over."""

    chunk_id: str
    doc_id: str
    file_name: str
    page: int | None
    text: str

    @classmethod
    def from_record(cls, record: "Chunk | Mapping[str, Any] | Any") -> "Chunk":
        """A Chunk from a Chunk, a dict or an object (e.g. the store's ChunkRecord) with chunk_id, doc_id,
        file_name or source, page, text."""
        if isinstance(record, Chunk):
            return record
        if not isinstance(record, Mapping):
            record = {k: getattr(record, k) for k in ("chunk_id", "doc_id", "file_name", "source", "page", "text") if hasattr(record, k)}
        try:
            page = record.get("page")
            return cls(
                chunk_id=str(record["chunk_id"]),
                doc_id=str(record.get("doc_id") or record.get("file_name") or record.get("source") or ""),
                file_name=str(record.get("file_name") or record.get("source") or ""),
                page=int(page) if page not in (None, "") else None,
                text=str(record["text"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FineTuneError(f"A chunk record lacks a usable {exc} field: each chunk needs chunk_id and text (doc_id, file_name, page optional).") from None


@dataclass(frozen=True)
class QAPair:
    """One question with its answer and where the fact comes from."""

    question: str
    answer: str
    source: str = ""
    page: int | None = None
    chunk_id: str = ""
    doc_id: str = ""
    # the chunk's text, kept so training can also show the pair in the RAG prompt form
    context: str = ""

    def question_record(self) -> dict[str, Any]:
        """The record of an evaluation question set (JSONL line)."""
        return {"question": self.question, "answer": self.answer, "source": self.source, "page": self.page, "chunk_id": self.chunk_id}

    def messages_record(self) -> dict[str, Any]:
        """The chat-messages record other fine-tuning tools read (JSONL line)."""
        return {"messages": [{"role": "user", "content": self.question}, {"role": "assistant", "content": self.answer}]}


@dataclass(frozen=True)
class DatasetOptions:
    """How a training set is built."""

    pairs_per_chunk: int = 3
    # share of documents (or, with a single document, of chunks) held out as "new documents"
    new_fraction: float = 0.2
    # most "seen facts" evaluation questions (reworded training questions)
    seen_questions: int = 50
    max_retries: int = 2
    seed: int = 0
    max_chunks: int | None = None
    min_chunk_chars: int = 40


@dataclass
class DatasetStats:
    """Counts of what happened while building a training set."""

    split_by: str = "document"
    chunks_total: int = 0
    chunks_train: int = 0
    chunks_new: int = 0
    chunks_too_short: int = 0
    docs_new: list[str] = field(default_factory=list)
    llm_calls: int = 0
    malformed_outputs: int = 0
    retries: int = 0
    skipped_chunks: int = 0
    duplicates_dropped: int = 0
    ungrounded_dropped: int = 0
    reword_failed: int = 0
    seen_reworded: bool = True
    train_pairs: int = 0
    eval_seen: int = 0
    eval_new: int = 0
    seconds: float = 0.0


@dataclass
class TrainingSet:
    """Training pairs and the two evaluation halves, with the counts of how they were made."""

    train: list[QAPair]
    eval_seen: list[QAPair]
    eval_new: list[QAPair]
    stats: DatasetStats


class MalformedOutput(ValueError):
    """The generator's reply is not the JSON asked for."""


# ---------------------------------------------------------------- prompts and parsing


# One worked example: small base models (the bundled Gemma 3 270M) only produce the JSON when they
# can continue a pattern; instruction models follow the instruction and ignore the priming.
_EXAMPLE = (
    'Text (from kettle-guide.pdf, page 4):\n"""\nThe Model K2 kettle holds 1.7 litres and switches off automatically '
    'when the water boils. Descale it once a month with white vinegar.\n"""\n'
    'JSON: [{"question": "How much water does the Model K2 kettle hold?", "answer": "1.7 litres"}, '
    '{"question": "How often should the Model K2 kettle be descaled?", "answer": "Once a month, with white vinegar"}]\n\n'
)
# The reply is primed with the start of the list; `parse_qa_output` puts it back in front.
QA_PRIMER = '[{"question": "'


def qa_prompt(chunk: Chunk, n: int, strict: bool = False) -> str:
    """The prompt asking the model for `n` Q&A pairs about one chunk, as JSON (one worked example first)."""
    where = chunk.file_name + (f", page {chunk.page}" if chunk.page is not None else "")
    reminder = "Your previous reply was not valid JSON. Reply with the JSON list only, nothing before or after it.\n" if strict else ""
    return (
        f"Write {n} question-and-answer pairs about the facts in each text. Each question must be "
        "answerable from the text alone and make sense without it (name the product, law or condition "
        "it is about). Each answer must be short (a few words or one sentence) and taken from the text.\n"
        'Reply with JSON only: a list of objects with the keys "question" and "answer".\n'
        f"{reminder}\n{_EXAMPLE}"
        f'Text (from {where}):\n"""\n{chunk.text.strip()}\n"""\nJSON: {QA_PRIMER}'
    )


REWORD_PRIMER = '{"question": "'
_REWORD_EXAMPLE = 'Question: How much water does the Model K2 kettle hold?\nJSON: {"question": "What is the capacity of the Model K2 kettle?"}\n\n'


def reword_prompt(question: str, strict: bool = False) -> str:
    """The prompt asking the model to reword a question without changing its answer (one example first)."""
    reminder = "Your previous reply was not usable: the new question must use different words, as JSON.\n" if strict else ""
    return (
        "Rewrite each question with different words and word order but the same meaning, so that it "
        'has exactly the same answer. Reply with JSON only: {"question": "..."}\n'
        f"{reminder}\n{_REWORD_EXAMPLE}Question: {question}\nJSON: {REWORD_PRIMER}"
    )


def _json_values(text: str) -> Iterator[Any]:
    """Every JSON value that starts at a '[' or '{' in `text`, outermost first."""
    text = _FENCE.sub("", text)
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        starts = [i for i in (text.find("[", pos), text.find("{", pos)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        yield value
        pos = end


def _pair_items(value: Any) -> list[Any]:
    if isinstance(value, dict):
        for key in ("pairs", "qa", "questions", "items", "data"):
            if isinstance(value.get(key), list):
                return value[key]
        return [value]
    return value if isinstance(value, list) else []


def _text_field(item: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = item.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def parse_qa_output(text: str) -> list[tuple[str, str]]:
    """The (question, answer) pairs in a generator reply; raises MalformedOutput if there are none.

    The reply may continue the primed list (`QA_PRIMER`) or be a whole JSON value; complete objects
    are kept even when the list itself is cut off (a reply that hit its token limit).
    """
    stripped = _FENCE.sub("", text).lstrip()
    candidates = [text] if stripped[:1] in ("[", "{") else [QA_PRIMER + text, text]
    for candidate in candidates:
        pairs: list[tuple[str, str]] = []
        for value in _json_values(candidate):
            for item in _pair_items(value):
                if not isinstance(item, dict):
                    continue
                q = clean_question(_text_field(item, "question", "q", "Question"))
                a = clean_answer(_text_field(item, "answer", "a", "Answer"))
                if q and a and (q, a) not in pairs:
                    pairs.append((q, a))
        if pairs:
            return pairs
    raise MalformedOutput(f"no JSON list of question/answer objects in: {text[:120]!r}")


_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset("the and for with from that this are was were has have had not but its into per than then them they you your our".split())


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w.isdigit() or (len(w) > 2 and w not in _STOPWORDS)]


def is_grounded(answer: str, text: str, min_share: float = 0.6) -> bool:
    """Whether most of the answer's content words occur in the source text (drops invented or copied answers)."""
    words = _content_words(answer) or _WORD.findall(answer.lower())
    if not words:
        return False
    source = set(_WORD.findall(text.lower()))
    return sum(w in source for w in words) / len(words) >= min_share


def parse_reworded(text: str) -> str:
    """The reworded question in a generator reply (whole JSON or the primed object's continuation)."""
    stripped = _FENCE.sub("", text).lstrip()
    candidates = [text] if stripped[:1] in ("[", "{") else [REWORD_PRIMER + text, text]
    for candidate in candidates:
        for value in _json_values(candidate):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    q = clean_question(_text_field(item, "question", "q", "Question"))
                    if q:
                        return q
    raise MalformedOutput(f"no JSON object with a question in: {text[:120]!r}")


def _norm(text: str) -> str:
    return _NORMALISE.sub(" ", text.lower()).strip()


# ---------------------------------------------------------------- the split


def split_chunks(chunks: Sequence[Chunk], new_fraction: float, seed: int = 0) -> tuple[list[Chunk], list[Chunk], str]:
    """(training chunks, held-out chunks, "document"|"chunk"): whole documents when there are several."""
    if new_fraction <= 0 or len(chunks) < 2:
        return list(chunks), [], "none"
    rng = random.Random(seed)
    docs = sorted({c.doc_id for c in chunks})
    if len(docs) >= 2:
        n_new = min(len(docs) - 1, max(1, round(len(docs) * new_fraction)))
        held = set(rng.sample(docs, n_new))
        return [c for c in chunks if c.doc_id not in held], [c for c in chunks if c.doc_id in held], "document"
    # One document: hold out a contiguous run, because neighbouring chunks share their overlap and
    # scattered held-out chunks would leak most of their text into training.
    n_new = min(len(chunks) - 1, max(1, round(len(chunks) * new_fraction)))
    start = rng.randrange(0, len(chunks) - n_new + 1)
    return list(chunks[:start]) + list(chunks[start + n_new:]), list(chunks[start:start + n_new]), "chunk"


# ---------------------------------------------------------------- generation


def _ask_pairs(chunk: Chunk, generate: Generator, n: int, max_retries: int, stats: DatasetStats) -> list[QAPair]:
    for attempt in range(max_retries + 1):
        if attempt:
            stats.retries += 1
        stats.llm_calls += 1
        try:
            parsed = parse_qa_output(generate(qa_prompt(chunk, n, strict=attempt > 0)))
        except MalformedOutput:
            stats.malformed_outputs += 1
            continue
        grounded = [(q, a) for q, a in parsed if is_grounded(a, chunk.text)]
        stats.ungrounded_dropped += len(parsed) - len(grounded)
        if not grounded:
            stats.malformed_outputs += 1  # pairs, but none about this text: as useless as no JSON
            continue
        return [
            QAPair(q, a, source=chunk.file_name, page=chunk.page, chunk_id=chunk.chunk_id, doc_id=chunk.doc_id, context=chunk.text)
            for q, a in grounded[:n]
        ]
    stats.skipped_chunks += 1
    return []


def reword_question(pair: QAPair, generate: Generator, max_retries: int, stats: DatasetStats) -> QAPair | None:
    """The pair with its question reworded by the model, or None if it never gave a different wording."""
    for attempt in range(max_retries + 1):
        if attempt:
            stats.retries += 1
        stats.llm_calls += 1
        try:
            question = parse_reworded(generate(reword_prompt(pair.question, strict=attempt > 0)))
        except MalformedOutput:
            stats.malformed_outputs += 1
            continue
        if _norm(question) != _norm(pair.question):
            return QAPair(question, pair.answer, pair.source, pair.page, pair.chunk_id, pair.doc_id, pair.context)
    stats.reword_failed += 1
    return None


def _dedupe(pairs: Iterable[QAPair], seen: set[str], stats: DatasetStats) -> list[QAPair]:
    out = []
    for p in pairs:
        key = _norm(p.question)
        if key in seen:
            stats.duplicates_dropped += 1
            continue
        seen.add(key)
        out.append(p)
    return out


def _spread_sample(pairs: Sequence[QAPair], k: int, seed: int) -> list[QAPair]:
    """Up to k pairs taken round-robin over their chunks, so the seen half covers many chunks."""
    by_chunk: dict[str, list[QAPair]] = {}
    for p in pairs:
        by_chunk.setdefault(p.chunk_id or p.source or p.question, []).append(p)
    groups = list(by_chunk.values())
    random.Random(seed).shuffle(groups)
    out: list[QAPair] = []
    depth = 0
    while len(out) < k and any(depth < len(g) for g in groups):
        out.extend(g[depth] for g in groups if depth < len(g) and len(out) < k)
        depth += 1
    return out[:k]


def _seen_half(train: Sequence[QAPair], generate: Generator | None, options: DatasetOptions, stats: DatasetStats, progress: Progress | None) -> list[QAPair]:
    picked = _spread_sample(train, options.seen_questions, options.seed)
    if generate is None:
        # Without a model to reword them, the seen half asks the training questions verbatim.
        stats.seen_reworded = False
        return list(picked)
    out = []
    for i, pair in enumerate(picked):
        if progress:
            progress(i, len(picked), "Rewording questions for the seen-facts evaluation")
        reworded = reword_question(pair, generate, options.max_retries, stats)
        if reworded is not None:
            out.append(reworded)
    return out


def build_training_set(
    chunks: Iterable[Chunk | Mapping[str, Any]],
    generate: Generator,
    options: DatasetOptions = DatasetOptions(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingSet:
    """Split chunks by source, then generate training pairs, reworded seen-facts and new-document questions."""
    started = time.perf_counter()
    stats = DatasetStats()
    all_chunks = [Chunk.from_record(c) for c in chunks]
    stats.chunks_total = len(all_chunks)
    usable = [c for c in all_chunks if len(c.text.strip()) >= options.min_chunk_chars]
    stats.chunks_too_short = len(all_chunks) - len(usable)
    if options.max_chunks is not None and len(usable) > options.max_chunks:
        # A deterministic spread over the collection, not its first pages only.
        step = len(usable) / options.max_chunks
        usable = [usable[int(i * step)] for i in range(options.max_chunks)]
    if not usable:
        raise FineTuneError("The collection has no chunk with enough text to ask questions about: index documents first.")

    train_chunks, new_chunks, stats.split_by = split_chunks(usable, options.new_fraction, options.seed)
    stats.chunks_train, stats.chunks_new = len(train_chunks), len(new_chunks)
    stats.docs_new = sorted({c.file_name or c.doc_id for c in new_chunks}) if stats.split_by == "document" else []

    seen_questions: set[str] = set()
    todo = [(c, "train") for c in train_chunks] + [(c, "new") for c in new_chunks]
    train: list[QAPair] = []
    eval_new: list[QAPair] = []
    for i, (chunk, half) in enumerate(todo):
        if should_stop and should_stop():
            raise FineTuneError("Building the training set was cancelled: start it again when ready.")
        if progress:
            progress(i, len(todo), f"Generating questions for {chunk.file_name or chunk.chunk_id}")
        pairs = _dedupe(_ask_pairs(chunk, generate, options.pairs_per_chunk, options.max_retries, stats), seen_questions, stats)
        (train if half == "train" else eval_new).extend(pairs)
    if not train:
        raise FineTuneError(
            f"The model produced no usable question/answer pair ({stats.malformed_outputs} malformed replies): "
            "pick a larger or instruction-tuned model, or import your own Q&A file."
        )
    eval_seen = _seen_half(train, generate, options, stats, progress)
    stats.train_pairs, stats.eval_seen, stats.eval_new = len(train), len(eval_seen), len(eval_new)
    stats.seconds = round(time.perf_counter() - started, 3)
    if progress:
        progress(len(todo), len(todo), "Done")
    return TrainingSet(train, eval_seen, eval_new, stats)


# Where a base model, continuing the worked example's pattern, starts the next example: stop there.
GENERATOR_STOPS = ("\nText (from", "\nQuestion: ", "\n\n\n")


def engine_generator(engine: Any, model: str, temperature: float = 0.3, max_tokens: int = 320, seed: int = 0) -> Generator:
    """A generator callable backed by an engine (`core.engines`): the prompt in completion and chat form."""
    from core.engines.base import GenerationRequest, Prompt

    calls = {"n": 0}

    def generate(prompt: str) -> str:
        calls["n"] += 1  # a new seed per call, so a retry is not the same draw again (still reproducible)
        request = GenerationRequest(model=model, prompt=Prompt(completion=prompt, messages=({"role": "user", "content": prompt},)),
                                    stop=GENERATOR_STOPS, temperature=temperature, max_tokens=max_tokens, seed=seed + calls["n"])
        return "".join(engine.generate(request))

    return generate


# ---------------------------------------------------------------- import


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
                row = _from_messages(row["messages"])
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
        q, a = clean_question(_text_field(row, "question")), clean_answer(_text_field(row, "answer"))
        if not q or not a:
            raise FineTuneError(f"Entry {n} of {file_name or 'the Q&A file'} has an empty question or answer: fill it in or remove it.")
        page = row.get("page")
        try:
            page_no = int(page) if page not in (None, "") else None
        except (TypeError, ValueError):
            page_no = None
        source = _text_field(row, "source")
        pairs.append(QAPair(q, a, source=source, page=page_no, chunk_id=_text_field(row, "chunk_id"), doc_id=source))
    if not pairs:
        raise FineTuneError(f"{file_name or 'The Q&A file'} holds no question/answer pair.")
    return pairs


def _from_messages(messages: list[Any]) -> dict[str, str]:
    user = next((m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user"), "")
    bot = next((m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "assistant"), "")
    return {"question": user, "answer": bot}


def split_imported(
    pairs: Sequence[QAPair],
    options: DatasetOptions = DatasetOptions(),
    generate: Generator | None = None,
    progress: Progress | None = None,
) -> TrainingSet:
    """Split imported pairs by source (by pair when they have none) and build both evaluation halves."""
    started = time.perf_counter()
    stats = DatasetStats()
    # Each distinct source acts as a document, each pair as a chunk of it; pairs without a source
    # form one document, so a contiguous run of rows (often one topic) is held out.
    as_chunks = [Chunk(chunk_id=f"row-{i}", doc_id=p.source, file_name=p.source, page=p.page, text="") for i, p in enumerate(pairs)]
    train_c, new_c, stats.split_by = split_chunks(as_chunks, options.new_fraction, options.seed)
    new_ids = {c.chunk_id for c in new_c}
    keyed = [(c.chunk_id, p) for c, p in zip(as_chunks, pairs)]
    seen: set[str] = set()
    train = _dedupe([p for cid, p in keyed if cid not in new_ids], seen, stats)
    eval_new = _dedupe([p for cid, p in keyed if cid in new_ids], seen, stats)
    stats.chunks_total, stats.chunks_train, stats.chunks_new = len(as_chunks), len(train_c), len(new_c)
    stats.docs_new = sorted({c.file_name for c in new_c if c.file_name}) if stats.split_by == "document" else []
    if not train:
        raise FineTuneError("No pair is left for training after the split: import more pairs or lower the held-out share.")
    eval_seen = _seen_half(train, generate, options, stats, progress)
    stats.train_pairs, stats.eval_seen, stats.eval_new = len(train), len(eval_seen), len(eval_new)
    stats.seconds = round(time.perf_counter() - started, 3)
    return TrainingSet(train, eval_seen, eval_new, stats)


# ---------------------------------------------------------------- files


TRAIN_FILE = "train.jsonl"  # chat-messages format, for other tools
PAIRS_FILE = "train_pairs.jsonl"  # our own record, with source and chunk text
EVAL_SEEN_FILE = "eval_seen.jsonl"
EVAL_NEW_FILE = "eval_new.jsonl"
MANIFEST_FILE = "manifest.json"


def validate_dataset_name(name: str) -> str:
    """Return `name` if usable as a dataset name, else raise a message saying what is allowed."""
    return validate_name(name, "Dataset name")


def datasets_root(data_dir: Path) -> Path:
    """The folder holding every saved training set."""
    return Path(data_dir) / "finetune" / "datasets"


def dataset_dir(data_dir: Path, name: str) -> Path:
    """The folder of one saved training set."""
    return datasets_root(data_dir) / validate_dataset_name(name)


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write records as JSONL atomically (a reader never sees half a file)."""
    write_jsonl_atomic(path, records)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (blank lines ignored)."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def save_training_set(data_dir: Path, name: str, ts: TrainingSet, meta: Mapping[str, Any] | None = None) -> Path:
    """Write the training set's files under the data directory and return its folder."""
    folder = dataset_dir(data_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / TRAIN_FILE, (p.messages_record() for p in ts.train))
    write_jsonl(folder / PAIRS_FILE, (asdict(p) for p in ts.train))
    write_jsonl(folder / EVAL_SEEN_FILE, (p.question_record() for p in ts.eval_seen))
    write_jsonl(folder / EVAL_NEW_FILE, (p.question_record() for p in ts.eval_new))
    manifest = {"name": name, "created": time.time(), **(dict(meta) if meta else {}), "stats": asdict(ts.stats)}
    write_json_atomic(folder / MANIFEST_FILE, manifest)
    return folder


def load_training_pairs(path: Path) -> list[QAPair]:
    """Training pairs from a dataset folder, our pairs file, or any chat-messages / question-answer JSONL."""
    path = Path(path)
    if path.is_dir():
        path = path / PAIRS_FILE if (path / PAIRS_FILE).is_file() else path / TRAIN_FILE
    if not path.is_file():
        raise FineTuneError(f"No training set at {path}: build or import one first.")
    pairs = []
    for row in read_jsonl(path):
        if isinstance(row.get("messages"), list):
            row = _from_messages(row["messages"])
        known = {k: row[k] for k in QAPair.__dataclass_fields__ if k in row}
        if known.get("question") and known.get("answer"):
            pairs.append(QAPair(**known))
    if not pairs:
        raise FineTuneError(f"{path} holds no question/answer pair.")
    return pairs


def load_question_set(path: Path) -> list[dict[str, Any]]:
    """An evaluation question set (JSONL with question, answer, source, page, chunk_id)."""
    return read_jsonl(path)


def list_datasets(data_dir: Path) -> list[dict[str, Any]]:
    """The manifests of all saved training sets, newest first."""
    root = datasets_root(data_dir)
    out = []
    if root.is_dir():
        for manifest in root.glob(f"*/{MANIFEST_FILE}"):
            try:
                out.append({**json.loads(manifest.read_text(encoding="utf-8")), "path": str(manifest.parent)})
            except ValueError:
                continue
    return sorted(out, key=lambda m: m.get("created", 0), reverse=True)


def export_messages(pairs: Iterable[QAPair], path: Path) -> Path:
    """Write pairs as chat-messages JSONL (the format other fine-tuning tools read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, (p.messages_record() for p in pairs))
    return path
