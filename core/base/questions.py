"""The one reader of question files: evaluation sets, imported Q&A, the Fine-tune wing's held-out halves.

A question file is JSONL (one object per line), a JSON list of objects, or CSV with a header row.
Each row has:
    question      the question (required)
    answer        the reference answer (also read from `reference`, `reference_answer`, `expected`);
                  required unless the row is unanswerable
    source        the file the answer is in (also `file`, `source_file`), optional
    page          the page it is on (a whole number from 1), optional
    unanswerable  true when the answer is in no document (the right reply is a refusal), optional
    split         optional, one of
                    `verbatim`  a training question word for word (does the variant remember what it was taught?),
                    `reworded`  a trained fact asked in other words (does it know the fact?),
                    `new`       a question about documents it was never trained on,
                    `seen`      a trained fact, as files written before the two were told apart say it
    rewords       the training question a `reworded` row asks in other words, optional (implies `reworded`)
    chunk_id      the chunk the question was made from, optional
Chat-messages rows (`{"messages": [{"role": "user", …}, {"role": "assistant", …}]}`) are read as question/answer.

Every bad row raises `QuestionFileError` naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from core.base.files import write_jsonl_atomic
from core.errors import QuestionFileError

# "seen" is the older name of a trained fact whose wording was not recorded: files and runs saved before the
# verbatim/reworded halves existed still say it.
SPLITS = ("verbatim", "reworded", "seen", "new")
SPLIT_LABELS = {
    "verbatim": "trained questions, word for word",
    "reworded": "trained facts, reworded",
    "seen": "seen facts",  # verbatim or reworded: files and runs of that time did not record which
    "new": "new documents",
    "": "unsplit",
}
TRAINED_SPLITS = ("verbatim", "reworded", "seen")  # the splits that ask about facts the variant was trained on
# What a verbatim split measures, in the words every caption and the advisor use for it.
VERBATIM_MEANS = "these are the training questions word for word: they measure memorisation"
# What each split asks, for a caption beside its label.
SPLIT_GLOSSES = {
    "verbatim": "memorisation",
    "reworded": "knowledge of the trained facts",
    "seen": "trained facts, word for word or reworded (not recorded)",
    "new": "documents the fine-tune never saw",
}
# The Fine-tune wing saves its held-out halves under these names (core/finetune/dataset.py).
HALF_FILES = {"verbatim": "eval_verbatim.jsonl", "reworded": "eval_reworded.jsonl", "new": "eval_new.jsonl"}
# Training sets saved before the verbatim/reworded halves kept one "seen" half; their manifest's
# stats.seen_reworded says which of the two it was.
LEGACY_SEEN_FILE = "eval_seen.jsonl"
DATASET_MANIFEST = "manifest.json"

_QUESTION_KEYS = ("question", "q")
_ANSWER_KEYS = ("answer", "reference", "reference_answer", "expected", "a")
_SOURCE_KEYS = ("source", "file", "source_file", "file_name")
_SPLIT_ALIASES = {
    "verbatim": "verbatim",
    "word for word": "verbatim",
    "trained questions": "verbatim",
    "reworded": "reworded",
    "reworded facts": "reworded",
    "paraphrased": "reworded",
    "rephrased": "reworded",
    "seen": "seen",
    "seen facts": "seen",
    "seen_facts": "seen",
    "seen-facts": "seen",
    "train": "seen",
    "trained": "seen",
    "new": "new",
    "new documents": "new",
    "new_documents": "new",
    "new-documents": "new",
    "held out": "new",
    "heldout": "new",
    "held-out": "new",
    "": "",
}
_TRUE = ("1", "true", "yes", "y", "t")
_FALSE = ("0", "false", "no", "n", "f", "")


@dataclass(frozen=True)
class EvalQuestion:
    """One question of a set, with its reference answer and where the answer is (if anywhere)."""

    question: str
    answer: str = ""
    source: str = ""
    page: int | None = None
    unanswerable: bool = False
    split: str = ""
    chunk_id: str = ""
    old_answer: str = ""  # a changed fact's answer in the document's previous version (the update test)
    pages: tuple[
        int, ...
    ] = ()  # every page of `source` that holds the answer (a dose repeated in a label's highlights)
    rewords: str = ""  # the training question a `reworded` row asks in other words

    @property
    def split_label(self) -> str:
        """The split's name for people ("trained facts, reworded", "new documents", "unsplit")."""
        return SPLIT_LABELS.get(self.split, self.split)

    def to_record(self) -> dict[str, Any]:
        """The JSONL record this reader reads back unchanged."""
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
            if v not in ("", None, False, ())
        }


def read_questions(
    data: bytes | str | Path, file_name: str = "", split: str | None = None, *, need_answers: bool = True
) -> list[EvalQuestion]:
    """The questions of one file (a Path, or its bytes/text with `file_name`); raises QuestionFileError on bad rows.

    `split` is the split given to rows that name none; by default the Fine-tune wing's half files
    (eval_verbatim.jsonl, eval_reworded.jsonl, eval_new.jsonl; an older eval_seen.jsonl) are read as their half and
    any other file as unsplit.
    `need_answers=False` accepts rows without a reference answer (questions only, e.g. `ask --questions`).
    """
    if isinstance(data, Path):
        file_name = file_name or str(data)
        try:
            data = data.read_bytes()
        except OSError as exc:
            raise QuestionFileError(
                f"Cannot read the question file {file_name}: {exc.strerror}. Check the path."
            ) from None
    label = file_name or "the question file"
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise QuestionFileError(f"{label} is not UTF-8 text: save it as UTF-8 JSONL or CSV.") from None
    if split is None:
        split = _split_from_name(file_name)
    default_split = _split(split, label, 0)
    lower = file_name.lower()
    stripped = text.lstrip()
    if lower.endswith(".csv") or (
        not lower.endswith((".jsonl", ".json", ".ndjson")) and stripped[:1] not in ("{", "[")
    ):
        rows = _csv_rows(text, label)
    elif stripped.startswith("[") and not lower.endswith((".jsonl", ".ndjson")):
        rows = _json_list_rows(text, label)
    else:
        rows = _jsonl_rows(text, label)
    questions = [_question(row, line, label, default_split, need_answers) for line, row in rows]
    if not questions:
        raise QuestionFileError(f"{label} holds no question: add rows with at least a question and a reference answer.")
    return questions


def read_finetune_halves(dataset_folder: Path) -> list[EvalQuestion]:
    """The held-out halves a Fine-tune training set saved (verbatim, reworded, new documents), split-labelled.

    An older set's single "seen" half is labelled by what its manifest recorded: reworded when the model reworded
    it, verbatim when it asked the training questions as they were ("seen" when the manifest does not say).
    """
    folder = Path(dataset_folder)
    found = [(half, folder / name) for half, name in HALF_FILES.items() if (folder / name).is_file()]
    if (folder / LEGACY_SEEN_FILE).is_file():
        found.insert(0, (legacy_seen_split(folder), folder / LEGACY_SEEN_FILE))
    if not found:
        raise QuestionFileError(
            f"{folder} has no evaluation halves ({', '.join(HALF_FILES.values())}): build a training set on the "
            "Fine-tune page first."
        )
    out: list[EvalQuestion] = []
    for half, path in found:
        if path.stat().st_size == 0 or not path.read_text(encoding="utf-8").strip():
            continue  # a half can be empty (e.g. no held-out document); the other half still counts
        out.extend(read_questions(path, split=half))
    if not out:
        raise QuestionFileError(
            f"Both evaluation halves in {folder} are empty: build the training set with some held-out share."
        )
    return out


def legacy_seen_split(dataset_folder: Path) -> str:
    """The split an older training set's "seen" half really is, as its manifest recorded (stats.seen_reworded)."""
    try:
        stats = json.loads((Path(dataset_folder) / DATASET_MANIFEST).read_text(encoding="utf-8")).get("stats") or {}
    except (OSError, ValueError, AttributeError):
        return "seen"
    reworded = stats.get("seen_reworded") if isinstance(stats, dict) else None
    return "seen" if not isinstance(reworded, bool) else "reworded" if reworded else "verbatim"


def write_questions(path: Path, questions: Iterable[EvalQuestion]) -> Path:
    """Write questions as JSONL that `read_questions` reads back (atomically: a reader never sees half a file)."""
    write_jsonl_atomic(Path(path), (q.to_record() for q in questions))
    return Path(path)


def splits_in(questions: Sequence[EvalQuestion]) -> list[str]:
    """The splits present, in the order verbatim, reworded, seen, new, unsplit."""
    present = {q.split for q in questions}
    return [s for s in (*SPLITS, "") if s in present]


def split_key(split: str) -> str:
    """The split named by its key or its label for people ("trained facts, reworded" → "reworded"); "" if neither."""
    if split in SPLIT_LABELS:
        return split
    return next((key for key, label in SPLIT_LABELS.items() if label == split), "")


def verbatim_only(splits: Iterable[str]) -> bool:
    """Whether the trained facts of these splits (keys or labels) are asked only word for word: memorisation only."""
    keys = {split_key(s) for s in splits}
    return "verbatim" in keys and not keys & {"reworded", "seen"}


def splits_explained(splits: Iterable[str]) -> str:
    """What the named splits (keys or labels) measure, as one caption; says so when trained facts are asked only
    word for word ("" when none is named)."""
    keys = {split_key(s) for s in splits}
    parts = [f"{SPLIT_LABELS[k]}: {SPLIT_GLOSSES[k]}" for k in SPLITS if k in keys]
    if verbatim_only(keys):
        parts.append(f"no reworded half: {VERBATIM_MEANS}, not whether the variant knows the facts")
    return "; ".join(parts)


# ---------------------------------------------------------------- rows


def _split_from_name(file_name: str) -> str:
    name = Path(file_name).name if file_name else ""
    for half, half_file in HALF_FILES.items():
        if name == half_file:
            return half
    return "seen" if name == LEGACY_SEEN_FILE else ""


def _jsonl_rows(text: str, label: str) -> list[tuple[int, Mapping[str, Any]]]:
    rows: list[tuple[int, Mapping[str, Any]]] = []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(
                f"{label}, line {line}: not valid JSON ({exc.msg}): each line must be one object like "
                '{"question": "…", "answer": "…"}; fix or remove the line.'
            ) from None
        rows.append((line, _as_mapping(row, label, line)))
    return rows


def _json_list_rows(text: str, label: str) -> list[tuple[int, Mapping[str, Any]]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QuestionFileError(
            f"{label}, line {exc.lineno}: not valid JSON ({exc.msg}): fix it, or write one object per line (JSONL)."
        ) from None
    if not isinstance(items, list):
        raise QuestionFileError(f"{label} is not a list of question objects: write one object per line (JSONL).")
    # A JSON list has no per-row line: number the entries instead, which the message says.
    return [(n, _as_mapping(item, label, n, unit="entry")) for n, item in enumerate(items, 1)]


def _as_mapping(row: Any, label: str, line: int, unit: str = "line") -> Mapping[str, Any]:
    if isinstance(row, dict) and isinstance(row.get("messages"), list):
        return _from_messages(row["messages"])
    if not isinstance(row, dict):
        raise QuestionFileError(
            f'{label}, {unit} {line}: not a JSON object: write it as {{"question": "…", "answer": "…"}}.'
        )
    return {str(k).strip().lower(): v for k, v in row.items()}


def _from_messages(messages: list[Any]) -> dict[str, Any]:
    def first(role: str) -> str:
        return next((str(m.get("content", "")) for m in messages if isinstance(m, dict) and m.get("role") == role), "")

    return {"question": first("user"), "answer": first("assistant")}


def _csv_rows(text: str, label: str) -> list[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or []) if h]
    if not any(k in header for k in _QUESTION_KEYS):
        raise QuestionFileError(
            f"{label}, line 1: the CSV header needs a 'question' column (and 'answer'; 'source', 'page', "
            f"'unanswerable', 'split', 'rewords' optional); found {', '.join(header) or 'no header'}."
        )
    rows: list[tuple[int, Mapping[str, Any]]] = []
    for row in reader:
        if None in row:
            raise QuestionFileError(
                f"{label}, line {reader.line_num}: more cells than header columns: quote cells that contain commas."
            )
        cleaned = {str(k).strip().lower(): v for k, v in row.items() if k}
        if any(str(v or "").strip() for v in cleaned.values()):
            rows.append((reader.line_num, cleaned))
    return rows


def _text(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = row.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (str, int, float)) and str(value).strip():
            return " ".join(str(value).split())
    return ""


def _question(
    row: Mapping[str, Any], line: int, label: str, default_split: str, need_answer: bool = True
) -> EvalQuestion:
    where = f"{label}, line {line}"
    question = _text(row, _QUESTION_KEYS)
    if not question:
        raise QuestionFileError(f"{where}: the question is empty: fill in 'question' or remove the row.")
    unanswerable = _flag(row.get("unanswerable"), where)
    answer = _text(row, _ANSWER_KEYS)
    if not answer and not unanswerable and need_answer:
        raise QuestionFileError(
            f"{where}: no reference answer: fill in 'answer', or mark the row \"unanswerable\": true "
            "if the answer is in no document."
        )
    rewords = _text(row, ("rewords",))
    split = _split(row.get("split"), label, line) or ("reworded" if rewords else default_split)
    if rewords and split != "reworded":
        raise QuestionFileError(
            f"{where}: the row rewords a training question but its split is {split!r}: set split to 'reworded', "
            "or remove 'rewords'."
        )
    return EvalQuestion(
        question=question,
        answer=answer,
        source=_text(row, _SOURCE_KEYS),
        page=_page(row.get("page"), where),
        unanswerable=unanswerable,
        split=split,
        chunk_id=_text(row, ("chunk_id",)),
        old_answer=_text(row, ("old_answer",)),
        pages=_pages(row.get("pages"), where),
        rewords=rewords,
    )


def _pages(value: Any, where: str) -> tuple[int, ...]:
    """The optional list of pages that hold the answer (JSON list, or "3;7" in a CSV cell)."""
    if value in (None, "", []):
        return ()
    items = value if isinstance(value, list) else re.split(r"[;,\s]+", str(value).strip())
    return tuple(p for p in (_page(item, where) for item in items if str(item).strip()) if p is not None)


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise QuestionFileError(f"{where}: 'unanswerable' is {value!r}: use true or false (or leave it empty).")


def _page(value: Any, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if number != number or number < 1 or number != int(number):
        raise QuestionFileError(
            f"{where}: page {value!r} is not a page number: use a whole number from 1, or leave it empty."
        )
    return int(number)


def _split(value: Any, label: str, line: int) -> str:
    text = " ".join(str(value or "").strip().lower().split())
    if text in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[text]
    where = f"{label}, line {line}" if line else label
    raise QuestionFileError(
        f"{where}: split {value!r} is not known: use 'verbatim' (training questions word for word), 'reworded' "
        "(trained facts in other words), 'new' (documents the fine-tune never saw) or 'seen' (trained facts, "
        "wording not recorded), or leave it empty."
    )
