"""The one question-file reader: JSONL, JSON lists, CSV, the sample sets and the Fine-tune halves; clear errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from core.base.questions import (
    SPLIT_LABELS,
    EvalQuestion,
    read_finetune_halves,
    read_questions,
    splits_in,
    write_questions,
)
from core.base.words import normalise_plain
from core.errors import QuestionFileError
from core.finetune.dataset import DatasetOptions, QAPair, save_training_set
from core.finetune.qa_import import split_imported

SAMPLES = Path(__file__).resolve().parents[2] / "sample_docs"


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.questions.jsonl")), ids=lambda p: p.name)
def test_every_sample_question_file_reads_with_source_and_page(path: Path) -> None:
    questions = read_questions(path)
    raw_lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(questions) == len(raw_lines) == 15
    assert all(q.question and q.answer and q.source and q.page and q.page >= 1 for q in questions)
    stem = path.name.removesuffix(".questions.jsonl")
    assert len({q.source for q in questions}) == 1 and questions[0].source in (stem + ".pdf", stem + ".docx")
    assert all(q.split == "" and not q.unanswerable for q in questions)


def test_first_sample_row_has_the_values_of_the_file() -> None:
    first = read_questions(SAMPLES / "aquaflow-dishwasher-manual.questions.jsonl")[0]
    assert first == EvalQuestion(
        "What is the maximum weight that may be placed on the open door of the dishwasher?",
        "15 kg",
        source="aquaflow-dishwasher-manual.pdf",
        page=1,
    )


def test_csv_with_aliases_unanswerable_and_split() -> None:
    text = (
        "Question,Reference,File,Page,Unanswerable,Split\n"
        '"How hot, at most, is the inlet water?",60 °C,manual.pdf,2,,seen facts\n'
        "Who is the CEO of the moon?,,,,yes,new\n"
    )
    qs = read_questions(text.encode(), "set.csv")
    assert qs[0] == EvalQuestion("How hot, at most, is the inlet water?", "60 °C", "manual.pdf", 2, False, "seen")
    assert qs[1] == EvalQuestion("Who is the CEO of the moon?", "", "", None, True, "new")
    assert splits_in(qs) == ["seen", "new"]


def test_json_list_and_chat_messages_rows() -> None:
    listed = read_questions('[{"question": "Q1?", "answer": "A1", "page": "3"}]', "set.json")
    assert listed == [EvalQuestion("Q1?", "A1", page=3)]
    messages = read_questions(
        '{"messages": [{"role": "user", "content": "Q2?"}, {"role": "assistant", "content": "A2"}]}\n', "chat.jsonl"
    )
    assert messages == [EvalQuestion("Q2?", "A2")]


def test_written_questions_read_back_unchanged(tmp_path: Path) -> None:
    qs = [
        EvalQuestion("Q?", "A", "f.pdf", 4, False, "seen", "c1"),
        EvalQuestion("Nope?", "", unanswerable=True, split="new"),
    ]
    assert read_questions(write_questions(tmp_path / "q.jsonl", qs)) == qs


def test_finetune_halves_are_read_with_their_split(tmp_path: Path) -> None:
    pairs = [
        QAPair(f"Question {i} about {doc}?", f"answer {i}", source=doc, page=1, chunk_id=f"{doc}-{i}")
        for doc in ("a.pdf", "b.pdf", "c.pdf")
        for i in range(4)
    ]
    ts = split_imported(pairs, DatasetOptions(new_fraction=0.34, seen_questions=3))
    folder = save_training_set(tmp_path, "halves", ts)
    questions = read_finetune_halves(folder)
    verbatim = [q for q in questions if q.split == "verbatim"]
    new = [q for q in questions if q.split == "new"]
    assert [q.question for q in verbatim] == [p.question for p in ts.eval_verbatim]
    assert len(verbatim) == 3 and not [q for q in questions if q.split == "reworded"]  # no model, no rewording
    assert [q.question for q in new] == [p.question for p in ts.eval_new]
    assert len(new) == 4 and {q.source for q in new} == set(ts.stats.docs_new)
    # a half file read on its own keeps its split too
    assert {q.split for q in read_questions(folder / "eval_new.jsonl")} == {"new"}


def test_rows_name_the_three_splits_and_a_rewording_names_its_training_question() -> None:
    text = (
        '{"question": "How heavy can the load on the open door be?", "answer": "15 kg", "split": "reworded", '
        '"rewords": "What is the maximum weight on the open door?"}\n'
        '{"question": "What is the maximum weight on the open door?", "answer": "15 kg", "split": "verbatim"}\n'
        '{"question": "Which code means a leak?", "answer": "E4", "split": "new"}\n'
        '{"question": "How hot may the inlet water be?", "answer": "60 °C", "rewords": "What is the inlet limit?"}\n'
        '{"question": "What is the salt capacity?", "answer": "1.2 kg", "split": "seen"}\n'
    )
    qs = read_questions(text, "set.jsonl")
    assert [q.split for q in qs] == ["reworded", "verbatim", "new", "reworded", "seen"]
    assert (
        qs[0].rewords == "What is the maximum weight on the open door?"
        and qs[0].split_label == SPLIT_LABELS["reworded"]
    )
    assert qs[3].rewords == "What is the inlet limit?"  # a row that rewords a question is a reworded row
    assert splits_in(qs) == ["verbatim", "reworded", "seen", "new"]
    assert [q.split_label for q in qs[:3]] == [
        "trained facts, reworded",
        "trained questions, word for word",
        "new documents",
    ]
    assert read_questions(write_questions(Path(tempfile.mkdtemp()) / "q.jsonl", qs)) == qs
    with pytest.raises(QuestionFileError, match="set.jsonl, line 1: the row rewords a training question but its split"):
        read_questions('{"question": "Q?", "answer": "A", "split": "new", "rewords": "P?"}\n', "set.jsonl")


@pytest.mark.parametrize(("recorded", "split"), [(True, "reworded"), (False, "verbatim"), (None, "seen")])
def test_an_older_training_sets_seen_half_is_labelled_as_its_manifest_recorded(
    tmp_path: Path, recorded: bool | None, split: str
) -> None:
    (tmp_path / "eval_seen.jsonl").write_text('{"question": "Q1?", "answer": "A1"}\n', encoding="utf-8")
    (tmp_path / "eval_new.jsonl").write_text('{"question": "Q2?", "answer": "A2"}\n', encoding="utf-8")
    stats = {} if recorded is None else {"seen_reworded": recorded}
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "old", "stats": stats}), encoding="utf-8")
    assert [(q.question, q.split) for q in read_finetune_halves(tmp_path)] == [("Q1?", split), ("Q2?", "new")]
    assert {q.split for q in read_questions(tmp_path / "eval_seen.jsonl")} == {"seen"}  # alone, its wording is unknown


def test_saving_a_set_again_removes_the_older_seen_half(tmp_path: Path) -> None:
    pairs = [
        QAPair(f"Question {i} about {doc}?", f"answer {i}", source=doc) for doc in ("a.pdf", "b.pdf") for i in range(3)
    ]
    folder = tmp_path / "finetune" / "datasets" / "set"
    folder.mkdir(parents=True)
    (folder / "eval_seen.jsonl").write_text('{"question": "Stale?", "answer": "x"}\n', encoding="utf-8")
    save_training_set(tmp_path, "set", split_imported(pairs, DatasetOptions(new_fraction=0.5, seen_questions=2)))
    assert not (folder / "eval_seen.jsonl").exists()
    assert "Stale?" not in {q.question for q in read_finetune_halves(folder)}


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.reworded.jsonl")), ids=lambda p: p.name)
def test_every_sample_rewording_asks_a_sample_question_in_other_words_with_its_answer(path: Path) -> None:
    rewordings = read_questions(path)
    originals = {q.question: q for q in read_questions(path.with_name(path.name.replace(".reworded", ".questions")))}
    assert len(rewordings) == len(originals) == 15 and {q.split for q in rewordings} == {"reworded"}
    assert {q.rewords for q in rewordings} == set(originals)  # one rewording of every question of the document
    for q in rewordings:
        original = originals[q.rewords]
        assert (q.answer, q.source, q.page) == (original.answer, original.source, original.page)
        assert normalise_plain(q.question) != normalise_plain(original.question)


def test_folder_without_halves_says_to_build_a_training_set(tmp_path: Path) -> None:
    with pytest.raises(QuestionFileError, match="build a training set on the Fine-tune page"):
        read_finetune_halves(tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.jsonl",
            '{"question": "ok?", "answer": "a"}\n{"question": broken}\n',
            r"bad\.jsonl, line 2: not valid JSON",
        ),
        ("bad.jsonl", '\n\n{"answer": "a"}\n', r"bad\.jsonl, line 3: the question is empty"),
        (
            "bad.jsonl",
            '{"question": "q?"}\n',
            r"line 1: no reference answer: fill in 'answer', or mark the row \"unanswerable\"",
        ),
        ("bad.jsonl", '{"question": "q?", "answer": "a", "page": "two"}\n', r"line 1: page 'two' is not a page number"),
        ("bad.jsonl", '{"question": "q?", "answer": "a", "page": 0}\n', r"line 1: page 0 is not a page number"),
        (
            "bad.jsonl",
            '{"question": "q?", "answer": "a", "split": "later"}\n',
            r"line 1: split 'later' is not known: use 'verbatim'",
        ),
        (
            "bad.jsonl",
            '{"question": "q?", "answer": "a", "unanswerable": "maybe"}\n',
            r"line 1: 'unanswerable' is 'maybe': use true or false",
        ),
        ("bad.jsonl", '["q?", "a"]\n', r"line 1: not a JSON object"),
        ("bad.csv", "prompt,answer\nq?,a\n", r"bad\.csv, line 1: the CSV header needs a 'question' column"),
        ("bad.csv", 'question,answer\nq?,a\n"q2?",\n', r"bad\.csv, line 3: no reference answer"),
        ("bad.csv", "question,answer\nq?,a,extra\n", r"bad\.csv, line 2: more cells than header columns"),
        ("empty.jsonl", "\n\n", r"empty\.jsonl holds no question"),
    ],
)
def test_bad_rows_name_file_line_and_fix(name: str, text: str, message: str) -> None:
    with pytest.raises(QuestionFileError, match=message):
        read_questions(text.encode(), name)


def test_missing_file_and_non_utf8_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(QuestionFileError, match="Cannot read the question file .*Check the path"):
        read_questions(tmp_path / "nope.jsonl")
    with pytest.raises(QuestionFileError, match="not UTF-8 text"):
        read_questions(b"question,answer\n\xff\xfe,\xff\n", "latin.csv")
