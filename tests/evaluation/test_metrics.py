"""Metric functions on hand-made cases whose values are worked out by hand."""

from __future__ import annotations

import pytest

from core.evaluation import metrics as m


def test_normalise_folds_case_accents_punctuation_articles_and_citations() -> None:
    assert m.normalise("The  Café's 60 °C limit [2].") == "cafe s 60 c limit"
    assert m.normalise("An ANSWER: 5.5 kg") == "answer 5.5 kg"
    assert m.normalise("") == ""


@pytest.mark.parametrize(
    ("answer", "reference", "question", "correct", "contains", "reason"),
    [
        ("15 kg", "15 kg", "", True, True, ""),
        (
            "The maximum weight on the open door is 15 kg. [1]",
            "15 kg",
            "What is the maximum weight that may be placed on the open door?",
            True,
            True,
            "",
        ),
        ("15kg", "15 kg", "", False, False, "missing"),  # tokens differ: "15kg" is one token
        ("It is 15 kg or 20 kg.", "15 kg", "", False, True, "competing number"),
        ("Answer: 15 kg\nAnswer: 20 kg\nAnswer: 10 kg", "15 kg", "", False, True, "competing number"),
        (
            "Clause 2.2 allows 250 users.",
            "250",
            "What is the maximum number of Authorised Users under clause 2.2?",
            True,
            True,
            "",
        ),
        ("Taking Charge, Taking Charge Plus, or Taking Charge Kids", "Taking Charge", "", False, True, "repeated"),
        (
            "The course is Taking Charge. It is run by the clinic's nurses every month, together with dietitians, "
            "pharmacists, podiatrists and invited speakers from local patient groups.",
            "Taking Charge",
            "",
            False,
            True,
            "too long",
        ),
        ("I could not find this in the documents.", "15 kg", "", False, False, "missing"),
        # the reference inside a longer noun phrase is the answer, said in full
        ("vitamin B12", "B12", "Which vitamin can metformin lower over years of use?", True, True, ""),
        ("the E4 error code", "E4", "Which error code means that a leak was detected?", True, True, ""),
        ("It shows error code E4 [1].", "E4", "", True, True, ""),
        # the reference offered among other candidates is a guess, not the answer
        ("B6, B12 or C", "B12", "Which vitamin can metformin lower over years of use?", False, True, "candidates"),
        ("E4 or E9", "E4", "Which error code means that a leak was detected?", False, True, "candidates"),
        ("vitamin B12 or folate", "vitamin B12", "Which vitamin can metformin lower?", False, True, "candidates"),
        ("Either vitamin B6 or vitamin B12", "B12", "", False, True, "candidates"),
        # a code the question itself names is no candidate
        ("E4, not E9", "E4", "Which code does a leak show, E4 or E9?", True, True, ""),
    ],
)
def test_strict_containment_needs_a_sensible_answer(
    answer: str, reference: str, question: str, correct: bool, contains: bool, reason: str
) -> None:
    verdict = m.judge_containment(answer, reference, question)
    assert (verdict.correct, verdict.contains, verdict.reason) == (correct, contains, reason)
    assert m.contains_reference(answer, reference) is contains


@pytest.mark.parametrize(
    ("answer", "reference", "question", "correct"),
    [
        ("B12 [2]", "vitamin B12", "Which vitamin can metformin lower over years of use?", True),
        ("15", "15 days", "How many days does the course last?", True),
        # the question does not say "vitamin": the answer must
        ("B12", "vitamin B12", "What can metformin lower over years of use?", False),
        # what is left must still be answered, and still not among candidates
        ("days", "15 days", "How many days does the course last?", False),
        ("B6 or B12", "vitamin B12", "Which vitamin can metformin lower?", False),
    ],
)
def test_the_answer_need_not_repeat_the_reference_words_the_question_already_says(
    answer: str, reference: str, question: str, correct: bool
) -> None:
    assert m.judge_containment(answer, reference, question).correct is correct


def test_extra_word_limit_is_exactly_max_extra_words() -> None:
    ref = "Taking Charge"
    twelve = " ".join(f"w{i}" for i in range(12))
    assert m.judge_containment(f"Taking Charge {twelve}", ref).correct
    assert m.judge_containment(f"Taking Charge {twelve} w12", ref).reason == "too long"


def test_token_f1_known_values() -> None:
    assert m.token_f1("15 kg", "15 kg") == 1.0
    # answer "maximum is 15 kg" (4 tokens) vs "15 kg" (2): P=2/4, R=2/2 -> F1 = 2*0.5*1/1.5 = 2/3
    assert m.token_f1("The maximum is 15 kg", "15 kg") == pytest.approx(2 / 3)
    # repeated tokens count once each side: "kg kg" vs "15 kg": common 1, P=1/2, R=1/2 -> 0.5
    assert m.token_f1("kg kg", "15 kg") == pytest.approx(0.5)
    assert m.token_f1("nothing here", "15 kg") == 0.0
    assert m.token_f1("", "") == 1.0 and m.token_f1("", "x") == 0.0


def test_cosine_known_values() -> None:
    assert m.cosine([1, 0], [1, 0]) == pytest.approx(1.0)
    assert m.cosine([1, 0], [0, 1]) == pytest.approx(0.0)
    assert m.cosine([1, 1], [1, 0]) == pytest.approx(1 / 2**0.5)
    assert m.cosine([0, 0], [1, 0]) == 0.0


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        ("I could not find this in the documents. Nothing in the collection 'x' is close enough", True),
        ("That is not mentioned in the passages.", True),
        ("I don’t know.", True),
        ("", True),
        ("15 kg [1]", False),
        ("Do not place more than 15 kg on the door.", False),  # "do not" alone is no refusal
    ],
)
def test_refusal_detection(answer: str, refused: bool) -> None:
    assert m.is_refusal(answer) is refused


def test_reference_rank_hit_and_reciprocal_rank() -> None:
    passages = [("manual.pdf", 3), ("data/Manual.PDF", 1), ("guide.pdf", 1)]
    assert m.reference_rank(passages, "manual.pdf", 1) == 2  # case and folder ignored, page must match
    assert m.reference_rank(passages, "manual.pdf", None) == 1  # no page: the file is enough
    assert m.reference_rank(passages, "manual.pdf", 9) is None
    assert m.reference_rank(passages, "", 1) is None
    assert m.hit_at_k(2, 1) is False and m.hit_at_k(2, 3) is True and m.hit_at_k(None, 5) is False
    assert m.reciprocal_rank(2) == 0.5 and m.reciprocal_rank(None) == 0.0
    # MRR over ranks 1, 2, miss = (1 + 0.5 + 0) / 3 = 0.5
    assert m.mean([m.reciprocal_rank(r) for r in (1, 2, None)]) == pytest.approx(0.5)


def test_support_of_an_answer_by_a_passage() -> None:
    passage = "Do not place more than 15 kg on the open door. Children under 3 years must be supervised."
    q = "What is the maximum weight on the open door?"
    assert m.supports(passage, "15 kg", q)
    assert m.supports(passage, "The open door takes at most 15 kg.", q)  # facts takes/15/kg: 2 of 3 in the passage
    assert not m.supports(passage, "20 kg", q)  # a number not in the passage
    assert not m.supports(passage, "Teal casing with orange stripes", q)
    assert m.supports(passage, "the maximum weight", q)  # only words of the question: claims nothing
    assert m.passage_contains(passage, "15 kg") and not m.passage_contains(passage, "20 kg")


def test_support_share_threshold() -> None:
    # facts: takes, 15, kg -> "takes" missing: 2/3 = 0.67 >= 0.6 supported; with two unknown words 2/4 = 0.5 is not
    assert m.supports("15 kg", "takes 15 kg")
    assert not m.supports("15 kg", "takes roughly 15 kg")


def test_percentiles_and_mean_known_values() -> None:
    values = [100.0, 200.0, 300.0, 400.0, 1000.0]
    assert m.percentile(values, 50) == 300.0
    # p95: position 0.95 * 4 = 3.8 -> 400 + 0.8 * 600 = 880
    assert m.percentile(values, 95) == pytest.approx(880.0)
    assert m.percentile([7.0], 95) == 7.0 and m.percentile([], 50) is None
    assert m.mean([1, None, 3]) == 2.0 and m.mean([None]) is None


def test_judge_prompt_and_verdict_parsing() -> None:
    prompt = m.judge_prompt("How heavy?", "15 kg", "15 kg [1]")
    assert "Reference answer: 15 kg" in prompt and "Candidate answer: 15 kg\n" in prompt
    assert m.parse_verdict(" CORRECT") is True
    assert m.parse_verdict("Incorrect, it says 20 kg") is False
    assert m.parse_verdict("wrong") is False
    assert m.parse_verdict("maybe") is None
