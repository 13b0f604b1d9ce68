"""Training sets: their types and their files (save, load, list, review, export for GPU training tools).

A training set lives in `<data_dir>/finetune/datasets/<name>/`: the training pairs (our own record,
and chat-messages JSONL for other tools), the evaluation halves and a manifest. How pairs are
made is elsewhere: `generation` (from a collection's chunks, with a model) and `qa_import` (a file).

Evaluation has three halves:
- `eval_verbatim`: training questions word for word (what the variant memorised; always there);
- `eval_reworded`: the same trained facts asked in other words, by a model or a question file's `rewords` rows
  (does the variant know the facts, or only the exact strings it saw?); empty, with the reason in the stats,
  when neither gave a wording that passed the check;
- `eval_new`: questions about chunks (whole documents when there are several) held out entirely
  (what happens when the documents change: the case for RAG).
Sets saved before the first two were told apart hold one `eval_seen` half instead (`core.base.questions` reads it).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from core.base.files import write_json_atomic, write_jsonl_atomic, write_text_atomic
from core.base.names import validate_name
from core.base.questions import (
    DATASET_MANIFEST,
    HALF_FILES,
    LEGACY_SEEN_FILE,
    VERBATIM_MEANS,
    EvalQuestion,
    read_questions,
)
from core.chat.prompts import clean_answer, clean_question
from core.errors import FineTuneError


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
    # a reworded evaluation question: the training question it asks in other words
    rewords: str = ""

    def question_record(self, split: str = "") -> dict[str, Any]:
        """The record of an evaluation question set (JSONL line), with its split when given."""
        record: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "source": self.source,
            "page": self.page,
            "chunk_id": self.chunk_id,
        }
        if split:
            record["split"] = split
        if self.rewords:
            record["rewords"] = self.rewords
        return record

    def messages_record(self) -> dict[str, Any]:
        """The chat-messages record other fine-tuning tools read (JSONL line)."""
        return {"messages": [{"role": "user", "content": self.question}, {"role": "assistant", "content": self.answer}]}


@dataclass(frozen=True)
class DatasetOptions:
    """How a training set is built."""

    pairs_per_chunk: int = 3
    # share of documents (or, with a single document, of chunks) held out as "new documents"
    new_fraction: float = 0.2
    # most trained-fact evaluation questions: that many training questions verbatim, and the same ones reworded
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
    reword_failed: int = 0  # trained questions left without a usable rewording (model replies or file rows)
    reword_too_close: int = 0  # of those, dropped because the wording stayed too close to the training question
    reword_changed: int = 0  # of those, dropped because the wording lost a name, number or code, or gave the answer
    reword_untrained: int = 0  # file rewordings of questions that are not training questions (held out, unknown)
    # whether the set asks trained facts reworded (an older set's one "seen" half was reworded when true, else verbatim)
    seen_reworded: bool = True
    reworded_from: str = ""  # "model", "file", "file and model", or "" when the reworded half is empty
    reworded_missing: str = ""  # why the reworded half is empty, for people ("" when it is not)
    train_pairs: int = 0
    eval_seen: int = 0  # trained-fact questions in all: verbatim + reworded
    eval_verbatim: int = 0
    eval_reworded: int = 0
    eval_new: int = 0
    seconds: float = 0.0

    def halves_label(self) -> str:
        """The evaluation halves' sizes, short enough for a picker: "30 word for word + 30 reworded + 15 new"."""
        halves = self.trained_halves()
        return f"{halves['verbatim']} word for word + {halves['reworded']} reworded + {self.eval_new} new documents"

    def halves_summary(self) -> str:
        """The evaluation halves in words, saying so when the trained facts are asked only word for word."""
        halves = self.trained_halves()
        text = (
            f"{halves['verbatim']} trained questions word for word · {halves['reworded']} reworded · "
            f"{self.eval_new} new-document questions"
        )
        if halves["verbatim"] and not halves["reworded"]:
            text += f" · no reworded half: {VERBATIM_MEANS}"
            text += f". {self.reworded_missing.rstrip('.')}" if self.reworded_missing else ""
        return text

    def trained_halves(self) -> dict[str, int]:
        """Questions per trained-fact half ("verbatim", "reworded"), also for a set saved with one "seen" half."""
        if self.eval_verbatim or self.eval_reworded or not self.eval_seen:
            return {"verbatim": self.eval_verbatim, "reworded": self.eval_reworded}
        half = "reworded" if self.seen_reworded else "verbatim"
        return {"verbatim": 0, "reworded": 0, half: self.eval_seen}


@dataclass
class TrainingSet:
    """Training pairs and the three evaluation halves, with the counts of how they were made."""

    train: list[QAPair]
    eval_verbatim: list[QAPair]  # training questions word for word
    eval_new: list[QAPair]
    stats: DatasetStats
    eval_reworded: list[QAPair] = field(default_factory=list)  # the same trained facts in other words


TRAIN_FILE = "train.jsonl"  # chat-messages format, for other tools
PAIRS_FILE = "train_pairs.jsonl"  # our own record, with source and chunk text
EVAL_VERBATIM_FILE = HALF_FILES["verbatim"]
EVAL_REWORDED_FILE = HALF_FILES["reworded"]
EVAL_NEW_FILE = HALF_FILES["new"]
MANIFEST_FILE = DATASET_MANIFEST


def validate_dataset_name(name: str) -> str:
    """Return `name` if usable as a dataset name, else raise a message saying what is allowed."""
    return validate_name(name, "Dataset name")


def datasets_root(data_dir: Path) -> Path:
    """The folder holding every saved training set."""
    return Path(data_dir) / "finetune" / "datasets"


def dataset_dir(data_dir: Path, name: str) -> Path:
    """The folder of one saved training set."""
    return datasets_root(data_dir) / validate_dataset_name(name)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (blank lines ignored)."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def save_training_set(data_dir: Path, name: str, ts: TrainingSet, meta: Mapping[str, Any] | None = None) -> Path:
    """Write the training set's files under the data directory and return its folder."""
    folder = dataset_dir(data_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(folder / TRAIN_FILE, (p.messages_record() for p in ts.train))
    write_jsonl_atomic(folder / PAIRS_FILE, (asdict(p) for p in ts.train))
    write_jsonl_atomic(folder / EVAL_VERBATIM_FILE, (p.question_record("verbatim") for p in ts.eval_verbatim))
    write_jsonl_atomic(folder / EVAL_REWORDED_FILE, (p.question_record("reworded") for p in ts.eval_reworded))
    write_jsonl_atomic(folder / EVAL_NEW_FILE, (p.question_record("new") for p in ts.eval_new))
    # a set saved under this name before the halves were told apart left its one "seen" half: it is not this set's
    (folder / LEGACY_SEEN_FILE).unlink(missing_ok=True)
    manifest = {"name": name, "created": time.time(), **(dict(meta) if meta else {}), "stats": asdict(ts.stats)}
    write_json_atomic(folder / MANIFEST_FILE, manifest)
    return folder


def load_training_pairs(path: Path) -> list[QAPair]:
    """Training pairs from a dataset folder, our pairs file, or any question file (chat-messages or Q&A JSONL, CSV)."""
    path = Path(path)
    if path.is_dir():
        path = path / PAIRS_FILE if (path / PAIRS_FILE).is_file() else path / TRAIN_FILE
    if not path.is_file():
        raise FineTuneError(f"No training set at {path}: build or import one first.")
    if not path.read_text(encoding="utf-8-sig").strip():
        raise FineTuneError(f"{path} holds no question/answer pair.")
    if path.name != PAIRS_FILE:
        return pairs_from_questions(read_questions(path), str(path))
    # our own record keeps what a question file cannot say: the chunk's id, document and text
    pairs = [QAPair(**{k: row[k] for k in QAPair.__dataclass_fields__ if k in row}) for row in read_jsonl(path)]
    return [p for p in pairs if p.question and p.answer]


def pairs_from_questions(questions: Iterable[EvalQuestion], label: str) -> list[QAPair]:
    """Training pairs from the rows of a question file; every row needs an answer (FineTuneError names the row)."""
    pairs = []
    for n, q in enumerate(questions, 1):
        answer = clean_answer(q.answer)
        if q.unanswerable or not answer:
            raise FineTuneError(
                f"Entry {n} of {label} has no answer: a training pair needs one; fill it in or remove the row."
            )
        pairs.append(
            QAPair(
                clean_question(q.question), answer, source=q.source, page=q.page, chunk_id=q.chunk_id, doc_id=q.source
            )
        )
    return pairs


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
    write_jsonl_atomic(path, (p.messages_record() for p in pairs))
    return path


def replace_training_pairs(data_dir: Path, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """Overwrite a training set's pairs with edited rows (question, answer, source, page); returns how many are kept.

    Rows left with an empty question or answer are dropped (that is how a table deletes a pair); the
    evaluation halves are not touched, so edits never leak evaluation questions into training.
    """
    folder = dataset_dir(data_dir, name)
    old = {p.question: p for p in load_training_pairs(folder)}
    pairs: list[QAPair] = []
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
        pairs.append(
            QAPair(
                question,
                answer,
                source=str(row.get("source") or ""),
                page=page_no,
                chunk_id=before.chunk_id if before else "",
                doc_id=before.doc_id if before else "",
                context=before.context if before else "",
            )
        )
    if not pairs:
        raise FineTuneError(
            "Every pair was removed: keep at least one question with its answer, or delete the training set."
        )
    write_jsonl_atomic(folder / TRAIN_FILE, (p.messages_record() for p in pairs))
    write_jsonl_atomic(folder / PAIRS_FILE, (asdict(p) for p in pairs))
    return len(pairs)


def messages_jsonl(pairs: Iterable[QAPair]) -> str:
    """The pairs as chat-messages JSONL text, the format other fine-tuning tools read."""
    return "".join(json.dumps(p.messages_record(), ensure_ascii=False) + "\n" for p in pairs)


# ------------------------------------------------------------ exports for GPU training tools

EXPORT_FORMATS = ("messages", "alpaca", "sharegpt")
EXPORT_FILES = {"messages": "train.jsonl", "alpaca": "train.json", "sharegpt": "train.json"}
EXPORT_README = "README.md"
EXPORT_METADATA = "metadata.json"
# ShareGPT names the speakers differently (LLaMA-Factory's and Axolotl's default role tags).
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}

Conversation = list[dict[str, str]]


def pair_conversation(pair: QAPair) -> Conversation:
    """A training pair as one user turn and one assistant turn."""
    return list(pair.messages_record()["messages"])


def alpaca_record(conversation: Conversation) -> dict[str, str]:
    """A single-turn conversation as an Alpaca record: instruction (the user turn), input, output, system."""
    system = "\n\n".join(m["content"] for m in conversation if m["role"] == "system")
    user = [m["content"] for m in conversation if m["role"] == "user"]
    answer = [m["content"] for m in conversation if m["role"] == "assistant"]
    if len(user) != 1 or len(answer) != 1:
        raise FineTuneError("Alpaca holds one instruction and one output: this conversation has several turns.")
    record = {"instruction": user[0], "input": "", "output": answer[0]}
    # only a read-passages example has a system turn; a plain pair keeps the three documented fields
    return {**record, "system": system} if system else record


def sharegpt_record(conversation: Conversation) -> dict[str, list[dict[str, str]]]:
    """A conversation as a ShareGPT record: `conversations` of {from: system|human|gpt, value}."""
    return {"conversations": [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in conversation]}


def export_conversations(
    conversations: Iterable[Conversation], out_dir: Path, fmt: str, *, base_model: str, chat_template: str, source: str
) -> Path:
    """Write conversations in `fmt` (messages JSONL, Alpaca or ShareGPT JSON) with a README and metadata beside them.

    Returns the data file. The README names the base model and chat template so whoever trains on a GPU box
    uses the same ones the variant will be served with.
    """
    if fmt not in EXPORT_FORMATS:
        raise FineTuneError(f"Unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}.")
    rows = list(conversations)
    if not rows:
        raise FineTuneError(f"{source} holds no training example to export.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / EXPORT_FILES[fmt]
    if fmt == "messages":
        write_jsonl_atomic(data, ({"messages": c} for c in rows))
    elif fmt == "alpaca":
        # Alpaca and ShareGPT are read as one JSON array (LLaMA-Factory's dataset_info, Axolotl's `type: alpaca`)
        write_json_atomic(data, [alpaca_record(c) for c in rows])
    else:
        write_json_atomic(data, [sharegpt_record(c) for c in rows])
    meta = {
        "format": fmt,
        "file": data.name,
        "examples": len(rows),
        "source": source,
        "base_model": base_model,
        "chat_template": chat_template,
        "created": time.time(),
    }
    write_json_atomic(out_dir / EXPORT_METADATA, meta)
    write_text_atomic(out_dir / EXPORT_README, export_readme(meta))
    return data


_TOOL_HINTS = {
    "messages": (
        "- Axolotl: `datasets: [{path: train.jsonl, type: chat_template, field_messages: messages}]`\n"
        "- TRL `SFTTrainer`: `load_dataset('json', data_files='train.jsonl')` (the `messages` column is its "
        "conversational format)\n"
        "- Unsloth: the same `messages` column with `get_chat_template(tokenizer, ...)`\n"
    ),
    "alpaca": (
        "- LLaMA-Factory: `dataset_info.json` entry `{file_name: train.json}` (alpaca is its default format)\n"
        "- Axolotl: `datasets: [{path: train.json, type: alpaca}]`\n"
    ),
    "sharegpt": (
        "- LLaMA-Factory: `dataset_info.json` entry `{file_name: train.json, formatting: sharegpt}`\n"
        "- Axolotl: `datasets: [{path: train.json, type: chat_template, field_messages: conversations, "
        "message_property_mappings: {role: from, content: value}}]`\n"
    ),
}


def export_readme(meta: Mapping[str, Any]) -> str:
    """The README written beside an export: the file, the base model, the chat template, how tools read it."""
    template = meta["chat_template"] or "the base model's own (its tokenizer_config.json)"
    return (
        f"# Training set `{meta['source']}` ({meta['format']})\n\n"
        f"- file: `{meta['file']}`, {meta['examples']} examples\n"
        f"- base model: `{meta['base_model']}` (train the adapter on this model, or the variant will not load on it)\n"
        f"- chat template: {template}\n\n"
        "## Reading it\n\n"
        f"{_TOOL_HINTS[meta['format']]}\n"
        "Bring the result back as a PEFT adapter folder or merged model served by vLLM/SGLang "
        "(`python -m core finetune register --engine openai --served-model NAME`), a llama.cpp LoRA GGUF, "
        "or an Ollama model (see docs/guide/finetune.md).\n"
    )


def conversations_text(conversations: Iterable[Conversation], fmt: str) -> str:
    """The text of the export's data file in `fmt` (what the Fine-tune page offers to download)."""
    rows = list(conversations)
    if fmt == "messages":
        return "".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in rows)
    if fmt == "alpaca":
        return json.dumps([alpaca_record(c) for c in rows], indent=2, ensure_ascii=False)
    if fmt == "sharegpt":
        return json.dumps([sharegpt_record(c) for c in rows], indent=2, ensure_ascii=False)
    raise FineTuneError(f"Unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}.")
