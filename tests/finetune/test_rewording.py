"""The trained-fact halves: training questions asked word for word, the same facts reworded (by a question file or a
model, each rewording checked), and the sample documents' hand-written rewordings giving all three halves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from core.base.questions import read_finetune_halves
from core.config import Settings
from core.finetune import generation as gen
from core.finetune import qa_import
from core.finetune.dataset import DatasetOptions, QAPair
from core.services import Services, build_services

DOOR = "What is the maximum weight that may be placed on the open door of the dishwasher?"
E9 = "What should you do when error code E9 appears?"


@pytest.mark.parametrize(
    ("original", "reworded", "answer", "problem"),
    [
        (DOOR, "At most, how heavy a load can the dishwasher's door carry while it is open?", "15 kg", ""),
        (DOOR, DOOR, "15 kg", "too close"),
        (
            DOOR,
            "Tell me, what is the maximum weight that may be placed on the open door of the dishwasher?",
            "",
            "too close",
        ),
        (
            DOOR,
            "The open door of the dishwasher: what maximum weight may be placed on it?",
            "",
            "too close",
        ),  # order only
        (E9, "E9 is showing on the display: what action is needed?", "Wipe the control panel dry", ""),
        (E9, "E4 is showing on the display: what action is needed?", "Wipe the control panel dry", "changed"),
        (E9, "What action does the display ask for?", "Wipe the control panel dry", "changed"),  # the code is gone
        (
            "How long is the standard warranty on the DW-450?",
            "For what period is the DW-450 covered by its standard guarantee?",
            "2 years",
            "",
        ),
        (
            "How long is the standard warranty on the DW-450?",
            "Is the DW-450's guarantee 2 years long?",  # gives the answer away
            "2 years",
            "changed",
        ),
    ],
)
def test_a_rewording_must_use_other_words_and_keep_names_numbers_and_codes(
    original: str, reworded: str, answer: str, problem: str
) -> None:
    assert gen.rewording_problem(original, reworded, answer) == problem


def test_a_models_near_copy_is_dropped_and_counted_while_its_real_rewording_is_kept() -> None:
    pairs = [QAPair(DOOR, "15 kg", source="manual.pdf"), QAPair(E9, "Wipe the control panel dry", source="manual.pdf")]
    replies = {
        DOOR: "Tell me: what is the maximum weight that may be placed on the open door of the dishwasher?",
        E9: "E9 is showing on the display: what action is needed?",
    }
    asked: list[str] = []

    def model(prompt: str) -> str:
        question = prompt.rsplit("Question: ", 1)[1].split("\nJSON:")[0]
        asked.append(question)
        return json.dumps({"question": replies[question]})

    ts = qa_import.split_imported(pairs, DatasetOptions(new_fraction=0, seen_questions=2, max_retries=1), model)
    assert [p.question for p in ts.eval_verbatim] == [DOOR, E9] or [p.question for p in ts.eval_verbatim] == [E9, DOOR]
    assert [(p.question, p.rewords) for p in ts.eval_reworded] == [(replies[E9], E9)]
    assert asked.count(DOOR) == 2  # the near-copy was asked again with the stricter prompt, then dropped
    s = ts.stats
    assert (s.reword_failed, s.reword_too_close, s.reword_changed, s.reworded_from) == (1, 1, 0, "model")
    assert (s.eval_verbatim, s.eval_reworded, s.eval_seen) == (2, 1, 3)


def test_a_question_files_rewordings_make_the_reworded_half_and_are_never_trained(tmp_path: Path) -> None:
    rows = [
        {"question": DOOR, "answer": "15 kg", "source": "manual.pdf"},
        {"question": E9, "answer": "Wipe the control panel dry", "source": "manual.pdf"},
        {"question": "Which law governs the agreement?", "answer": "the law of England and Wales", "source": "l.docx"},
        {
            "question": "At most, how heavy a load can the dishwasher's door carry while it is open?",
            "answer": "15 kg",
            "split": "reworded",
            "rewords": DOOR,
        },
        # a near-copy: dropped and counted
        {"question": E9.replace("What should", "What must"), "answer": "Wipe the control panel dry", "rewords": E9},
        # a rewording of the held-out document's question: that fact is not trained, so it is no reworded question
        {
            "question": "The agreement is governed by the law of which jurisdiction?",
            "answer": "the law of England and Wales",
            "rewords": "Which law governs the agreement?",
        },
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pairs = qa_import.read_qa_file(path)
    ts = qa_import.split_imported(pairs, DatasetOptions(new_fraction=0.5, seed=1))
    assert ts.stats.docs_new == ["l.docx"]
    assert [p.question for p in ts.train] == [DOOR, E9]  # rewordings are not training pairs
    assert [p.rewords for p in ts.eval_reworded] == [DOOR]
    s = ts.stats
    assert (s.reworded_from, s.reword_failed, s.reword_too_close, s.reword_untrained) == ("file", 1, 1, 1)
    assert s.seen_reworded and s.reworded_missing == ""


def test_without_model_or_rewordings_the_reworded_half_is_missing_and_says_why() -> None:
    pairs = [QAPair(DOOR, "15 kg", source="a.pdf"), QAPair(E9, "Wipe the control panel dry", source="a.pdf")]
    ts = qa_import.split_imported(pairs, DatasetOptions(new_fraction=0))
    assert [p.question for p in ts.eval_verbatim] and ts.eval_reworded == []
    assert not ts.stats.seen_reworded and "add `split: reworded` rows" in ts.stats.reworded_missing


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    settings = Settings.from_env(env={}, dotenv=None, data_dir=tmp_path / "data", engine="embedded")
    services = build_services(settings)
    yield services
    services.close()


def test_the_sample_import_yields_all_three_halves_with_reworded_questions_unlike_their_originals(
    svc: Services,
) -> None:
    info = svc.finetune.import_samples("samples")
    halves = read_finetune_halves(info.path)
    by_split = {s: [q for q in halves if q.split == s] for s in ("verbatim", "reworded", "new")}
    assert {q.split for q in halves} == set(by_split) and all(by_split.values())
    trained = {p.question for p in svc.finetune.training_pairs("samples")}
    assert {q.question for q in by_split["verbatim"]} <= trained
    assert {q.rewords for q in by_split["reworded"]} == {q.question for q in by_split["verbatim"]}
    for q in by_split["reworded"]:
        assert q.question not in trained and gen.word_overlap(q.question, q.rewords) < gen.REWORD_MAX_OVERLAP
    assert not {q.source for q in by_split["new"]} & {q.source for q in by_split["verbatim"] + by_split["reworded"]}
    stats = info.stats
    assert (stats.eval_verbatim, stats.eval_reworded, stats.eval_new) == (30, 30, 15)
    assert stats.reworded_from == "file" and stats.reword_failed == 0 and stats.reworded_missing == ""
    assert stats.trained_halves() == {"verbatim": 30, "reworded": 30}
