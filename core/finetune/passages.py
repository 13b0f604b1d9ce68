"""Retrieval-aware training examples ("read passages"): each pair shown in the prompt `hybrid` mode sends.

A variant trained on bare `Question: …\\nAnswer:` prompts never sees passages, yet in `hybrid` mode the chat
sends it the RAG completion prompt. With "read passages" on, every training pair is also shown the way the
chat would show it: its question's passages retrieved from the collection by the chat's retriever (same k,
same method), cut to their relevant sentences by `core.chat.evidence.select_evidence`, and laid out by
`core.chat.prompts.rag_prompt` — called, never copied, so training follows any change to that prompt.

As retrieval-aware fine-tuning does (RAFT, Zhang et al. 2024), a share of pairs also gets a *distractor*
example: passages retrieved for another question that do not hold this pair's answer, with the refusal the
prompt's worked examples teach as the target, so the variant learns to read, not to recite.

The examples are built where the index is open (the page or the command line, like an evaluation's recorded
retrieval) and handed to the training job as a JSONL file of finished prompts.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from core.base.chunks import Chunk
from core.base.files import write_jsonl_atomic
from core.base.words import contains_reference
from core.chat.evidence import select_evidence
from core.chat.prompts import READ_REFUSAL, rag_prompt
from core.engines.base import Prompt
from core.errors import FineTuneError
from core.finetune.dataset import QAPair, read_jsonl
from core.index.retrieval import Searcher, is_method

# The reply the RAG completion prompt's worked example gives when its passage does not hold the answer
# (tests check it is still the one `core.chat.prompts` teaches, and that the refusal detectors recognise it).
REFUSAL_ANSWER = READ_REFUSAL
DISTRACTOR_FRACTION = 0.3

Kind = Literal["passages", "distractor"]


@dataclass(frozen=True)
class PassageExample:
    """One training example in the RAG prompt form: the prompt the chat would send and the answer to learn."""

    question: str
    answer: str
    kind: Kind
    completion: str  # the completion form (base models), as `rag_prompt(...).completion`
    messages: list[dict[str, str]] = field(default_factory=list)  # the chat form (instruction models)
    sources: list[str] = field(default_factory=list)  # "file p.N" of the passages shown, for review

    def prompt(self) -> Prompt:
        """The example's prompt in both forms."""
        return Prompt(self.completion, tuple(dict(m) for m in self.messages))


@dataclass
class PassageCounts:
    """What building the examples did, for the job's status and the README figures."""

    pairs: int = 0
    passages: int = 0
    distractors: int = 0
    no_passages: int = 0  # the collection returned nothing for the question
    answer_not_shown: int = (
        0  # the passages shown do not hold the answer: not trained (it would teach answering from memory)
    )
    no_distractor: int = 0  # every other question's passages hold this answer


def chat_prompt(question: str, chunks: Sequence[Chunk]) -> tuple[Prompt, str]:
    """The prompt the chat sends in `rag`/`hybrid` mode for these retrieved passages (the same two calls),
    and the passage text it shows a base model (the selected sentences)."""
    evidence = select_evidence(question, chunks)
    shown = evidence or list(enumerate(chunks, 1))  # rag_prompt shows whole passages when there is no evidence
    return rag_prompt(question, chunks, evidence), " ".join(c.text for _, c in shown)


def _example(question: str, answer: str, kind: Kind, chunks: Sequence[Chunk]) -> tuple[PassageExample, str]:
    prompt, shown = chat_prompt(question, chunks)
    sources = [f"{c.source} p.{c.page}" for c in chunks]
    return PassageExample(question, answer, kind, prompt.completion, [dict(m) for m in prompt.messages], sources), shown


def build_passage_examples(
    pairs: Sequence[QAPair],
    retriever: Searcher,
    collection: str,
    *,
    top_k: int,
    method: str,
    distractor_fraction: float = DISTRACTOR_FRACTION,
    seed: int = 0,
) -> tuple[list[PassageExample], PassageCounts]:
    """The read-passages examples of `pairs`: one per pair whose passages hold its answer, plus distractors.

    `retriever` is the chat's (`core.index.retrieval.Retriever`), `top_k` and `method` the chat's settings.
    """
    if not 0.0 <= distractor_fraction <= 1.0:
        raise FineTuneError(f"The distractor share must be between 0 and 1 (got {distractor_fraction}).")
    if not is_method(method):
        raise FineTuneError(f"Retrieval method {method!r} is not known: use dense or fused.")
    counts = PassageCounts(pairs=len(pairs))
    found = [list(retriever.search(collection, p.question, top_k, method).chunks) for p in pairs]
    out: list[PassageExample] = []
    for pair, chunks in zip(pairs, found):
        if not chunks:
            counts.no_passages += 1
            continue
        example, shown = _example(pair.question, pair.answer, "passages", chunks)
        if not contains_reference(shown, pair.answer):
            counts.answer_not_shown += 1
            continue
        out.append(example)
        counts.passages += 1
    rng = random.Random(seed)
    retrieved = [i for i in range(len(pairs)) if found[i]]
    # exactly the share asked for (a coin per pair gave 4 of 30 at 0.3 on the samples), picked reproducibly
    chosen = sorted(rng.sample(retrieved, round(distractor_fraction * len(retrieved))))
    for i in chosen:
        pair = pairs[i]
        others = [
            j
            for j in range(len(pairs))
            if j != i and found[j] and not contains_reference(" ".join(c.text for c in found[j]), pair.answer)
        ]
        # Passages from the same document look most like an answer and are not one: the hardest, most useful distractor.
        same = [j for j in others if pairs[j].source and pairs[j].source == pair.source]
        pool = same or others
        if not pool:
            counts.no_distractor += 1
            continue
        example, _ = _example(pair.question, REFUSAL_ANSWER, "distractor", found[rng.choice(pool)])
        out.append(example)
        counts.distractors += 1
    return out, counts


def save_passage_examples(examples: Sequence[PassageExample], path: Path) -> Path:
    """Write the examples as JSONL (one finished prompt and its answer per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(path, (asdict(e) for e in examples))
    return path


def load_passage_examples(path: Path) -> list[PassageExample]:
    """The examples of a file written by `save_passage_examples`."""
    path = Path(path)
    if not path.is_file():
        raise FineTuneError(
            f"The read-passages examples {path} are missing: start the training again with 'read passages' on."
        )
    return [
        PassageExample(**{k: row[k] for k in PassageExample.__dataclass_fields__ if k in row})
        for row in read_jsonl(path)
    ]
