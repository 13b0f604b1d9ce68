"""Generating a training set from a collection's chunks with a model, and the split by source.

The split into training and evaluation is made by source chunk *before* any generation, so no
evaluation question of the "new documents" half can come from text the model was trained on.
The model is an injected callable `(prompt) -> text`, so tests pass a deterministic fake; in the app
this runs inside a background job (`core.finetune.generation_job`), not in the page.

On a server that batches requests (the openai engine) up to `workers` chunks (and rewordings) are asked at once.
Their results are taken in chunk order and deduplicated in that order, each call's counts added in that order,
and `engine_generator` seeds a call from its prompt, not from when it ran: the training set is the one a
one-at-a-time run builds.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from core.base.ahead import results_in_order
from core.base.chunks import Chunk
from core.base.words import contains_reference, keywords, normalise_plain, stem, tokenize
from core.chat.prompts import clean_answer, clean_question
from core.engines.base import Engine, GenerationRequest, Prompt
from core.errors import FineTuneError
from core.finetune.dataset import DatasetOptions, DatasetStats, QAPair, TrainingSet

Generator = Callable[[str], str]
OnProgress = Callable[[int, int, str], None]

_FENCE = re.compile(r"```(?:json|JSON)?")


class MalformedOutput(ValueError):
    """The generator's reply is not the JSON asked for."""


# ---------------------------------------------------------------- prompts and parsing


# One worked example: small base models (the bundled Gemma 3 270M) only produce the JSON when they
# can continue a pattern; instruction models follow the instruction and ignore the priming.
_EXAMPLE = (
    'Text (from kettle-guide.pdf, page 4):\n"""\nThe Model K2 kettle holds 1.7 litres and switches off automatically '
    'when the water boils. Descale it once a month with white vinegar.\n"""\n'
    'JSON: [{"question": "How much water does the Model K2 kettle hold?", "answer": "1.7 litres"}, '
    '{"question": "How often should the Model K2 kettle be descaled?", '
    '"answer": "Once a month, with white vinegar"}]\n\n'
)
# The reply is primed with the start of the list; `parse_qa_output` puts it back in front.
QA_PRIMER = '[{"question": "'


def qa_prompt(chunk: Chunk, n: int, strict: bool = False) -> str:
    """The prompt asking the model for `n` Q&A pairs about one chunk, as JSON (one worked example first)."""
    where = chunk.source + (f", page {chunk.page}" if chunk.page is not None else "")
    reminder = (
        "Your previous reply was not valid JSON. Reply with the JSON list only, nothing before or after it.\n"
        if strict
        else ""
    )
    return (
        f"Write {n} question-and-answer pairs about the facts in each text. Each question must be "
        "answerable from the text alone and make sense without it (name the product, law or condition "
        "it is about). Each answer must be short (a few words or one sentence) and taken from the text.\n"
        'Reply with JSON only: a list of objects with the keys "question" and "answer".\n'
        f"{reminder}\n{_EXAMPLE}"
        f'Text (from {where}):\n"""\n{chunk.text.strip()}\n"""\nJSON: {QA_PRIMER}'
    )


REWORD_PRIMER = '{"question": "'
_REWORD_EXAMPLE = (
    "Question: How much water does the Model K2 kettle hold?\n"
    'JSON: {"question": "What is the capacity of the Model K2 kettle?"}\n\n'
)


def reword_prompt(question: str, strict: bool = False) -> str:
    """The prompt asking the model to reword a question without changing its answer (one example first)."""
    reminder = (
        "Your previous reply was not usable: the new question must use different words, as JSON.\n" if strict else ""
    )
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


def is_grounded(answer: str, text: str, min_share: float = 0.6) -> bool:
    """Whether most of the answer's content words occur in the source text (drops invented or copied answers)."""
    words = keywords(answer) or tokenize(answer)
    if not words:
        return False
    source = set(tokenize(text))
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
    return list(chunks[:start]) + list(chunks[start + n_new :]), list(chunks[start : start + n_new]), "chunk"


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
            QAPair(
                q,
                a,
                source=chunk.source,
                page=chunk.page,
                chunk_id=chunk.chunk_id,
                doc_id=chunk.doc_id,
                context=chunk.text,
            )
            for q, a in grounded[:n]
        ]
    stats.skipped_chunks += 1
    return []


def _ask_chunk(chunk: Chunk, generate: Generator, options: DatasetOptions) -> tuple[list[QAPair], DatasetStats]:
    """One chunk's pairs with the counts of asking for them (kept apart, so chunks can be asked at once)."""
    counts = DatasetStats()
    return _ask_pairs(chunk, generate, options.pairs_per_chunk, options.max_retries, counts), counts


def _reword(pair: QAPair, generate: Generator, max_retries: int) -> tuple[QAPair | None, DatasetStats]:
    """One rewording with the counts of asking for it (kept apart, so rewordings can be asked at once)."""
    counts = DatasetStats()
    return reword_question(pair, generate, max_retries, counts), counts


# The counters one model call can change (`_ask_pairs`, `reword_question`); duplicates are counted by `dedupe`.
_CALL_COUNTS = (
    "llm_calls",
    "malformed_outputs",
    "retries",
    "skipped_chunks",
    "ungrounded_dropped",
    "reword_failed",
    "reword_too_close",
    "reword_changed",
)


def _add_counts(stats: DatasetStats, counts: DatasetStats) -> None:
    for name in _CALL_COUNTS:
        setattr(stats, name, getattr(stats, name) + getattr(counts, name))


# ---------------------------------------------------------------- rewording and its check

# A rewording that shares this share of its words with the training question (Jaccard overlap of the two word sets)
# asks it again in nearly the same words: a variant that only memorised the string would still match it.
REWORD_MAX_OVERLAP = 0.6
_WRITTEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'°./-]*")
TOO_CLOSE, CHANGED = "too close", "changed"


def word_overlap(a: str, b: str) -> float:
    """The Jaccard overlap of two texts' word sets: 0 when they share no word, 1 for the same words in any order."""
    wa, wb = set(tokenize(a)), set(tokenize(b))
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


def _root(word: str) -> str:
    # "Business Days" and "business day" name the same thing: a stem without a plural s
    root = stem(word)
    return root[:-1] if root.endswith("s") and len(root) > 3 and not root.endswith("ss") else root


def anchors(question: str) -> list[str]:
    """The words a rewording must keep for the same answer: numbers, codes and names ("E9", "DW-450", "AquaStop").

    A name is a word written with a capital inside the question (or a second capital in its first word, "HbA1c");
    what a word means beyond that cannot be checked cheaply.
    """
    out: list[str] = []
    for i, word in enumerate(_WRITTEN.findall(question)):
        named = any(ch.isupper() for ch in (word if i else word[1:])) and word != "I"
        if named or any(ch.isdigit() for ch in word):
            out.extend(t for t in tokenize(word) if t not in out)
    return out


def rewording_problem(
    original: str, reworded: str, answer: str = "", max_overlap: float | None = REWORD_MAX_OVERLAP
) -> str:
    """Why a rewording cannot stand for the training question, or "" when it can.

    "too close": it shares `max_overlap` of its words with the question (an evaluation rewording: `REWORD_MAX_OVERLAP`),
    or, with `max_overlap=None` (a training rewording), it is the question itself; "changed": it dropped a number, code
    or name of the question (so it may ask about something else), or it holds the answer itself.
    """
    if normalise_plain(original) == normalise_plain(reworded) or (
        max_overlap is not None and word_overlap(original, reworded) >= max_overlap
    ):
        return TOO_CLOSE
    kept = {_root(w) for w in tokenize(reworded)}
    if any(_root(w) not in kept for w in anchors(original)):
        return CHANGED
    if answer and contains_reference(reworded, answer) and not contains_reference(original, answer):
        return CHANGED
    return ""


def _count_rejected(stats: DatasetStats, problem: str) -> None:
    stats.reword_failed += 1
    if problem == TOO_CLOSE:
        stats.reword_too_close += 1
    elif problem == CHANGED:
        stats.reword_changed += 1


def reworded_pair(pair: QAPair, question: str) -> QAPair:
    """The pair asked as `question`, with the same answer and source; `rewords` names the question it rewords."""
    return QAPair(
        question, pair.answer, pair.source, pair.page, pair.chunk_id, pair.doc_id, pair.context, rewords=pair.question
    )


def reword_question(pair: QAPair, generate: Generator, max_retries: int, stats: DatasetStats) -> QAPair | None:
    """The pair with its question reworded by the model, or None if no reply passed `rewording_problem`."""
    problem = ""
    for attempt in range(max_retries + 1):
        if attempt:
            stats.retries += 1
        stats.llm_calls += 1
        try:
            question = parse_reworded(generate(reword_prompt(pair.question, strict=attempt > 0)))
        except MalformedOutput:
            stats.malformed_outputs += 1
            continue
        problem = rewording_problem(pair.question, question, pair.answer)
        if not problem:
            return reworded_pair(pair, question)
    _count_rejected(stats, problem)
    return None


def dedupe(pairs: Iterable[QAPair], seen: set[str], stats: DatasetStats) -> list[QAPair]:
    out = []
    for p in pairs:
        key = normalise_plain(p.question)
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


def trained_halves(
    train: Sequence[QAPair],
    generate: Generator | None,
    options: DatasetOptions,
    stats: DatasetStats,
    progress: OnProgress | None,
    workers: int = 1,
    given: Sequence[QAPair] = (),
) -> tuple[list[QAPair], list[QAPair]]:
    """(verbatim, reworded): training pairs spread over their chunks asked word for word, and the same ones reworded.

    A pair's rewording comes from `given` (a question file's rows with `rewords`), else from the model when there
    is one; every rewording must pass `rewording_problem`. The verbatim half is always there, so memorisation is
    always measured; when no rewording passes, the reworded half is empty and `stats.reworded_missing` says why.
    """
    verbatim = _spread_sample(train, options.seen_questions, options.seed)
    trained = {normalise_plain(p.question) for p in train}
    from_file: dict[str, QAPair] = {}
    for g in given:
        key = normalise_plain(g.rewords)
        if key not in trained:
            stats.reword_untrained += 1  # a rewording of a held-out question is a new-documents question already
        else:
            from_file.setdefault(key, g)
    found: dict[int, QAPair] = {}
    for i, pair in enumerate(verbatim):
        row = from_file.get(normalise_plain(pair.question))
        if row is None:
            continue
        problem = rewording_problem(pair.question, row.question, pair.answer)
        if problem:
            _count_rejected(stats, problem)
        else:
            found[i] = reworded_pair(pair, row.question)
    from_model = 0
    todo = [i for i, pair in enumerate(verbatim) if normalise_plain(pair.question) not in from_file]
    if generate is not None and todo:
        reworded_in_order = results_in_order(
            (partial(_reword, verbatim[i], generate, options.max_retries) for i in todo), workers, "reword"
        )
        try:
            for n, i in enumerate(todo):
                if progress:
                    progress(n, len(todo), "Rewording the training questions for the reworded half")
                made, counts = next(reworded_in_order)
                _add_counts(stats, counts)
                if made is not None:
                    found[i] = made
                    from_model += 1
        finally:
            reworded_in_order.close()  # a cancel raised by `progress` stops the rewordings asked ahead
    reworded = [found[i] for i in sorted(found)]
    from_files = len(reworded) - from_model
    stats.reworded_from = " and ".join(w for w, n in (("file", from_files), ("model", from_model)) if n)
    stats.seen_reworded = bool(reworded)
    stats.reworded_missing = "" if reworded else _why_no_rewording(verbatim, generate, bool(given), stats)
    return list(verbatim), reworded


def _why_no_rewording(verbatim: Sequence[QAPair], generate: Generator | None, given: bool, stats: DatasetStats) -> str:
    """Why the reworded half is empty, saying what would fill it."""
    if not verbatim:
        return "No trained-fact questions were asked for: raise the number of trained-fact questions."
    if stats.reword_failed:
        return (
            f"Every rewording failed the check ({stats.reword_too_close} too close to the training question, "
            f"{stats.reword_changed} lost a name, number or code or gave the answer away): use a stronger model or "
            "write the rewordings in the question file (`split: reworded` rows with `rewords`)."
        )
    if given:
        return (
            "The question file's `reworded` rows reword none of the training questions: make each row's `rewords` "
            "the training question word for word."
        )
    return (
        "No model reworded the training questions and the question file has no `reworded` rows: import with a model "
        "to reword them, or add `split: reworded` rows with `rewords` (the training question) to the file."
    )


def build_training_set(
    chunks: Iterable[Chunk],
    generate: Generator,
    options: DatasetOptions = DatasetOptions(),
    progress: OnProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int = 1,
) -> TrainingSet:
    """Split chunks by source, then generate training pairs, the trained-fact halves and new-document questions.

    `workers` model calls run at once (`core.engines.base.concurrency` of the generator's engine); the result is
    the same as with one.
    """
    started = time.perf_counter()
    stats = DatasetStats()
    all_chunks = list(chunks)
    stats.chunks_total = len(all_chunks)
    usable = [c for c in all_chunks if len(c.text.strip()) >= options.min_chunk_chars]
    stats.chunks_too_short = len(all_chunks) - len(usable)
    if options.max_chunks is not None and len(usable) > options.max_chunks:
        # A deterministic spread over the collection, not its first pages only.
        step = len(usable) / options.max_chunks
        usable = [usable[int(i * step)] for i in range(options.max_chunks)]
    if not usable:
        raise FineTuneError(
            "The collection has no chunk with enough text to ask questions about: index documents first."
        )

    train_chunks, new_chunks, stats.split_by = split_chunks(usable, options.new_fraction, options.seed)
    stats.chunks_train, stats.chunks_new = len(train_chunks), len(new_chunks)
    stats.docs_new = sorted({c.source or c.doc_id for c in new_chunks}) if stats.split_by == "document" else []

    seen_questions: set[str] = set()
    todo = [(c, "train") for c in train_chunks] + [(c, "new") for c in new_chunks]
    train: list[QAPair] = []
    eval_new: list[QAPair] = []
    asked_in_order = results_in_order(
        (partial(_ask_chunk, chunk, generate, options) for chunk, _ in todo), workers, "generate"
    )
    try:
        for i, (chunk, half) in enumerate(todo):
            if should_stop and should_stop():
                raise FineTuneError("Building the training set was cancelled: start it again when ready.")
            if progress:
                progress(i, len(todo), f"Generating questions for {chunk.source or chunk.chunk_id}")
            asked, counts = next(asked_in_order)
            _add_counts(stats, counts)
            # deduplicated in chunk order, whichever chunk's answer came back first
            (train if half == "train" else eval_new).extend(dedupe(asked, seen_questions, stats))
    finally:
        asked_in_order.close()  # a cancel stops the chunks asked ahead (those already running are waited for)
    if not train:
        raise FineTuneError(
            f"The model produced no usable question/answer pair ({stats.malformed_outputs} malformed replies): "
            "pick a larger or instruction-tuned model, or import your own Q&A file."
        )
    verbatim, reworded = trained_halves(train, generate, options, stats, progress, workers)
    count_halves(stats, train, verbatim, reworded, eval_new)
    stats.seconds = round(time.perf_counter() - started, 3)
    if progress:
        progress(len(todo), len(todo), "Done")
    return TrainingSet(train, verbatim, eval_new, stats, reworded)


def count_halves(
    stats: DatasetStats,
    train: Sequence[QAPair],
    verbatim: Sequence[QAPair],
    reworded: Sequence[QAPair],
    new: Sequence[QAPair],
) -> None:
    """Record how many pairs each part of a training set holds."""
    stats.train_pairs, stats.eval_verbatim, stats.eval_reworded = len(train), len(verbatim), len(reworded)
    stats.eval_seen, stats.eval_new = len(verbatim) + len(reworded), len(new)


# Where a base model, continuing the worked example's pattern, starts the next example: stop there.
GENERATOR_STOPS = ("\nText (from", "\nQuestion: ", "\n\n\n")


def engine_generator(
    engine: Engine, model: str, temperature: float = 0.3, max_tokens: int = 320, seed: int = 0
) -> Generator:
    """A generator callable backed by an engine (`core.engines`): the prompt in completion and chat form.

    Safe to call from several threads: each call's seed comes from its prompt and how often that prompt was asked
    before, not from the order the calls ran in, so calls made at once draw what calls made in turn draw (only two
    chunks with the same text, source and page, asked at once, may swap their draws).
    """
    asked: dict[str, int] = {}
    lock = threading.Lock()

    def generate(prompt: str) -> str:
        with lock:
            repeat = asked.get(prompt, 0)  # a retry repeating the strict prompt is a new draw, still reproducible
            asked[prompt] = repeat + 1
        request = GenerationRequest(
            model=model,
            prompt=Prompt(completion=prompt, messages=({"role": "user", "content": prompt},)),
            stop=GENERATOR_STOPS,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed + prompt_seed(prompt) + repeat,
        )
        return "".join(engine.generate(request))

    return generate


def prompt_seed(prompt: str) -> int:
    """A stable number from a prompt's text (the same in every process), below 2**30 so seeds stay 32-bit."""
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:4], "big") >> 2
