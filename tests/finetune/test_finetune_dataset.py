"""Training-set building with a deterministic fake generator: split by chunk, retries, files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.base.chunks import Chunk
from core.base.questions import read_questions
from core.errors import FineTuneError, QuestionFileError
from core.finetune import dataset as ds
from core.finetune import generation as gen
from core.finetune import qa_import
from core.finetune.dataset import DatasetOptions


class FakeLLM:
    """Answers the dataset prompts from the chunk text; markers in a chunk make it misbehave.

    Chunk texts look like "Widget 7 has code C7 and colour red. ..."; the fake asks about the code.
    BROKEN chunks never get valid JSON; FLAKY chunks get valid JSON only on the stricter retry prompt.
    """

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if prompt.startswith("Rewrite"):
            question = prompt.rsplit("Question: ", 1)[1].split("\nJSON:")[0]
            if "SAME" in question:
                return json.dumps({"question": question})
            return 'Sure! {"question": "' + _reworded(question) + '"}'
        text = prompt.split('"""')[-2]  # the last quoted text: the chunk (the first is the worked example)
        if "BROKEN" in text or ("FLAKY" in text and "previous reply" not in prompt):
            return "Here are some questions: question one? answer one."
        widget = re.search(r"Widget (\w+) has code (\w+)", text)
        assert widget, text
        name, code = widget.groups()
        pairs = [
            {"question": f"What is the code of widget {name}{' (SAME)' if 'SAME' in text else ''}?", "answer": code},
            {"question": f"Which widget has code {code}?", "answer": f"Widget {name}"},
        ]
        return "```json\n" + json.dumps(pairs) + "\n```"


def _reworded(question: str) -> str:
    """A real rewording of the fake's two question forms: other words, the same widget or code, the same answer."""
    if code := re.fullmatch(r"Which widget has code (\w+)\?", question):
        return f"Code {code.group(1)} is carried by what widget?"
    widget = re.fullmatch(r"What is the code of widget (.+)\?", question)
    assert widget, question
    return f"Which code does widget {widget.group(1)} carry?"


def _chunks(docs: int, per_doc: int, marks: dict[str, str] | None = None) -> list[Chunk]:
    marks = marks or {}
    out = []
    for d in range(docs):
        for c in range(per_doc):
            cid = f"d{d}c{c}"
            out.append(
                Chunk(
                    chunk_id=cid,
                    doc_id=f"doc{d}",
                    source=f"manual{d}.pdf",
                    page=c + 1,
                    text=(
                        f"Widget {cid} has code K{cid} and a long description that fills the chunk. "
                        f"{marks.get(cid, '')}"
                    ),
                )
            )
    return out


def test_split_holds_out_whole_documents_before_generation() -> None:
    llm = FakeLLM()
    ts = gen.build_training_set(
        _chunks(5, 4), llm, DatasetOptions(pairs_per_chunk=2, new_fraction=0.4, seen_questions=6)
    )
    assert ts.stats.split_by == "document" and len(ts.stats.docs_new) == 2
    train_chunks = {p.chunk_id for p in ts.train}
    new_chunks = {p.chunk_id for p in ts.eval_new}
    assert train_chunks and new_chunks and not train_chunks & new_chunks
    # whole documents: no held-out document has any trained chunk
    assert not {c.split("c")[0] for c in train_chunks} & {c.split("c")[0] for c in new_chunks}
    assert {p.source for p in ts.eval_new} == set(ts.stats.docs_new)
    assert (ts.stats.train_pairs, ts.stats.eval_new) == (12 * 2, 8 * 2)
    # trained facts: trained chunks only; the verbatim half asks training questions as they are, the reworded half
    # the same ones worded differently from every training question
    train_questions = {p.question for p in ts.train}
    assert len(ts.eval_reworded) == 6 and {p.chunk_id for p in ts.eval_reworded} <= train_chunks
    assert all(p.question not in train_questions for p in ts.eval_reworded)
    assert len({p.chunk_id for p in ts.eval_reworded}) == 6  # spread over chunks, one each first
    answers = {(p.chunk_id, p.answer) for p in ts.train}
    assert all((p.chunk_id, p.answer) in answers for p in ts.eval_reworded)
    assert [p.question for p in ts.eval_verbatim] == [p.rewords for p in ts.eval_reworded]
    assert {p.question for p in ts.eval_verbatim} <= train_questions
    assert (ts.stats.eval_verbatim, ts.stats.eval_reworded, ts.stats.eval_seen) == (6, 6, 12)


def test_single_document_holds_out_a_contiguous_run_of_chunks() -> None:
    ts = gen.build_training_set(_chunks(1, 10), FakeLLM(), DatasetOptions(new_fraction=0.3, seed=3))
    assert ts.stats.split_by == "chunk" and ts.stats.chunks_new == 3
    held = sorted({int(p.chunk_id.split("c")[1]) for p in ts.eval_new})
    assert held == list(range(held[0], held[0] + 3))
    assert not {p.chunk_id for p in ts.train} & {p.chunk_id for p in ts.eval_new}


def test_split_is_deterministic_for_a_seed() -> None:
    a = gen.build_training_set(_chunks(4, 2), FakeLLM(), DatasetOptions(seed=7))
    b = gen.build_training_set(_chunks(4, 2), FakeLLM(), DatasetOptions(seed=7))
    assert [p.question for p in a.eval_new] == [p.question for p in b.eval_new]
    assert a.stats.docs_new == b.stats.docs_new


def test_malformed_output_is_retried_then_skipped_and_counted() -> None:
    llm = FakeLLM()
    chunks = _chunks(1, 4, marks={"d0c1": "FLAKY", "d0c2": "BROKEN"})
    ts = gen.build_training_set(chunks, llm, DatasetOptions(new_fraction=0, max_retries=2, seen_questions=0))
    assert ts.stats.split_by == "none"
    assert {p.chunk_id for p in ts.train} == {"d0c0", "d0c1", "d0c3"}  # FLAKY recovered, BROKEN skipped
    assert ts.stats.skipped_chunks == 1
    assert ts.stats.malformed_outputs == 1 + 3  # FLAKY once, BROKEN on all three attempts
    assert ts.stats.retries == 1 + 2
    assert any("previous reply was not valid JSON" in p for p in llm.prompts)


def test_rewording_that_repeats_the_question_is_retried_and_counted() -> None:
    chunks = _chunks(1, 2, marks={"d0c0": "SAME"})
    ts = gen.build_training_set(chunks, FakeLLM(), DatasetOptions(new_fraction=0, seen_questions=4, max_retries=1))
    assert ts.stats.reword_failed == ts.stats.reword_too_close == 1
    assert all("SAME" not in p.question for p in ts.eval_reworded)


def test_answers_not_found_in_the_chunk_are_dropped() -> None:
    class Inventive(FakeLLM):
        def __call__(self, prompt: str) -> str:
            reply = super().__call__(prompt)
            if prompt.startswith("Rewrite"):
                return reply
            # the worked example's answer copied, plus one real pair
            return reply.replace(
                "]", ', {"question": "How often is it descaled?", "answer": "Once a month, with white vinegar"}]'
            )

    ts = gen.build_training_set(_chunks(1, 2), Inventive(), DatasetOptions(new_fraction=0, seen_questions=0))
    assert ts.stats.ungrounded_dropped == 2 and ts.stats.train_pairs == 4
    assert all("vinegar" not in p.answer for p in ts.train)
    assert gen.is_grounded("1.7 litres", "It holds 1.7 litres.") and not gen.is_grounded("two weeks", "every month")


def test_no_usable_pair_raises_a_message_with_the_fix() -> None:
    with pytest.raises(FineTuneError, match="import your own Q&A"):
        gen.build_training_set(
            _chunks(1, 2, marks={"d0c0": "BROKEN", "d0c1": "BROKEN"}), FakeLLM(), DatasetOptions(new_fraction=0)
        )


def test_parse_accepts_common_reply_shapes() -> None:
    assert gen.parse_qa_output('[{"question": "a?", "answer": "b"}]') == [("a?", "b")]
    # a base model continues the primed list; a reply cut at the token limit keeps its whole objects
    assert gen.parse_qa_output('a?", "answer": "b"}, {"question": "c?", "answer": "d"}, {"question": "e') == [
        ("a?", "b"),
        ("c?", "d"),
    ]
    assert gen.parse_reworded('What is it?"}\n\nQuestion: x') == "What is it?"
    assert gen.parse_qa_output('Here: {"pairs": [{"q": "a?", "a": "b"}]} done') == [("a?", "b")]
    assert gen.parse_qa_output('{"question": "a?", "answer": "b\\n\\nc"}') == [("a?", "b\nc")]
    with pytest.raises(gen.MalformedOutput):
        gen.parse_qa_output('[{"question": "", "answer": "b"}] [1, 2')


def test_save_writes_messages_and_question_sets(tmp_path: Path) -> None:
    ts = gen.build_training_set(_chunks(3, 2), FakeLLM(), DatasetOptions(new_fraction=0.34, seen_questions=3))
    folder = ds.save_training_set(tmp_path, "manuals", ts, {"collection": "manuals", "generator_model": "fake"})
    lines = ds.read_jsonl(folder / ds.TRAIN_FILE)
    assert len(lines) == len(ts.train)
    assert [m["role"] for m in lines[0]["messages"]] == ["user", "assistant"]
    for name, split in (
        (ds.EVAL_VERBATIM_FILE, "verbatim"),
        (ds.EVAL_REWORDED_FILE, "reworded"),
        (ds.EVAL_NEW_FILE, "new"),
    ):
        records = read_questions(folder / name)  # the one question reader reads the halves back
        assert records and all(r.question and r.answer and r.source for r in records)
        assert {r.split for r in records} == {split}
    reworded = read_questions(folder / ds.EVAL_REWORDED_FILE)
    assert [r.rewords for r in reworded] == [p.question for p in ts.eval_verbatim]
    manifest = json.loads((folder / ds.MANIFEST_FILE).read_text())
    assert manifest["collection"] == "manuals" and manifest["stats"]["train_pairs"] == len(ts.train)
    assert [d["name"] for d in ds.list_datasets(tmp_path)] == ["manuals"]
    # our trainer reads the folder (pairs with context) and the plain messages file alike
    assert [p.question for p in ds.load_training_pairs(folder)] == [p.question for p in ts.train]
    assert ds.load_training_pairs(folder)[0].context
    assert [p.answer for p in ds.load_training_pairs(folder / ds.TRAIN_FILE)] == [p.answer for p in ts.train]


def test_import_csv_and_jsonl_split_by_source(tmp_path: Path) -> None:
    csv_text = "question,answer,source\n" + "".join(f"Q{i}?,A{i},doc{i % 3}.pdf\n" for i in range(9))
    pairs = qa_import.read_qa_file(csv_text.encode(), "qa.csv")
    assert len(pairs) == 9 and pairs[0].source == "doc0.pdf"
    ts = qa_import.split_imported(pairs, DatasetOptions(new_fraction=0.34, seen_questions=2))
    assert ts.stats.split_by == "document" and len(ts.stats.docs_new) == 1
    assert {p.source for p in ts.eval_new} == set(ts.stats.docs_new)
    assert not {p.source for p in ts.train} & set(ts.stats.docs_new)
    assert ts.stats.seen_reworded is False and len(ts.eval_verbatim) == 2  # no model: asked verbatim
    assert ts.eval_reworded == [] and "No model reworded the training questions" in ts.stats.reworded_missing

    jsonl = (
        '{"question": "What?", "answer": "That"}\n'
        '{"messages": [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Me"}]}\n'
    )
    assert [(p.question, p.answer) for p in qa_import.read_qa_file(jsonl, "qa.jsonl")] == [
        ("What?", "That"),
        ("Who?", "Me"),
    ]
    with pytest.raises(QuestionFileError, match="bad.csv, line 1: the CSV header needs a 'question' column"):
        qa_import.read_qa_file("title,body\nx,y\n", "bad.csv")
    with pytest.raises(QuestionFileError, match="bad.jsonl, line 1"):
        qa_import.read_qa_file("{nope\n", "bad.jsonl")
    with pytest.raises(QuestionFileError, match="qa.csv, line 3: no reference answer"):
        qa_import.read_qa_file("question,answer\nWhat?,That\nWho?,\n", "qa.csv")
    with pytest.raises(FineTuneError, match="Entry 2 of qa.csv has no answer"):  # fine for evaluation, not for training
        qa_import.read_qa_file("question,answer,unanswerable\nWhat?,That,\nWho is the CEO?,,true\n", "qa.csv")


def test_import_rewords_seen_questions_when_given_a_model() -> None:
    pairs = [ds.QAPair(f"What is the code of widget {i}?", f"K{i}") for i in range(6)]
    ts = qa_import.split_imported(pairs, DatasetOptions(new_fraction=0.34, seen_questions=3), generate=FakeLLM())
    assert ts.stats.split_by == "chunk" and ts.stats.seen_reworded and ts.stats.reworded_from == "model"
    assert [p.question for p in ts.eval_reworded] == [_reworded(p.question) for p in ts.eval_verbatim]
    assert [p.rewords for p in ts.eval_reworded] == [p.question for p in ts.eval_verbatim]
