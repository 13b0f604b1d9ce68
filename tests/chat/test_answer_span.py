"""Completing a copied value to what its passage states: qualifiers and range ends come with it, nothing else."""

from __future__ import annotations

import pytest

from core.chat.answer_span import complete_value

PASSAGES = [
    "After a misfire, hold the tool in the operating position for at least 30 seconds and then try again.",
    "Direct costs account for 1% to 2% of total healthcare expenditure in developed countries.",
    "Players nudged correctly between 86% and 90% of the time; the risks were 3.9% and 0.7% respectively.",
    "Claims must be filed within one year of the date of service. Each session lasted approximately one hour.",
    "The prize is $2400. The officer found over $10,000 in receipts. Keep Copy C for at least 3 years.",
]


@pytest.mark.parametrize(
    ("answer", "completed"),
    [
        ("30 seconds [2]", "at least 30 seconds [2]"),  # the marker stays where it was
        ("1%", "1% to 2%"),
        ("86%", "between 86% and 90%"),
        ("1 year", "within one year"),  # the passage's words, not the model's digits
        ("1 hour", "approximately one hour"),
        ("$10,000 [1]", "over $10,000 [1]"),
        ("3 years.", "at least 3 years."),
    ],
)
def test_a_value_takes_the_words_that_bound_it_in_its_passage(answer: str, completed: str) -> None:
    assert complete_value(answer, PASSAGES) == completed


@pytest.mark.parametrize(
    "answer",
    [
        "$2400 [1]",  # nothing bounds it
        "3.9%",  # "and 0.7%" is another value, not a range: only "between … and" joins two values
        "Maria Okafor",  # not a quantity
        "45 seconds",  # not in any passage: left as the model wrote it (the support check flags it)
        "hold the tool for 30 seconds or more",  # a long answer is the model's own wording
        "not in the documents",
    ],
)
def test_an_answer_that_is_not_a_bounded_quantity_in_a_passage_is_unchanged(answer: str) -> None:
    assert complete_value(answer, PASSAGES) == answer


def test_a_qualifier_must_be_a_whole_word_before_the_value() -> None:
    assert complete_value("5 minutes", ["Let it stand for about 5 minutes."]) == "about 5 minutes"
    assert (
        complete_value("5 minutes", ["Time left in the stopover 5 minutes."]) == "5 minutes"
    )  # "over" ends "stopover": not a word
    assert (
        complete_value("5 minutes", ["Wait between 5 minutes before use."]) == "5 minutes"
    )  # "between" with no other end


def test_a_question_that_names_the_bound_gets_the_bare_value() -> None:
    door = ["Do not place more than 15 kg on the open door. Store below 25 °C. Use 1 to 2 tablets."]
    assert complete_value("15 kg", door, "What is the maximum weight that may be placed on the open door?") == "15 kg"
    assert complete_value("25 °C", door, "Below what temperature should it be stored?") == "25 °C"
    assert (
        complete_value("15 kg", door, "How much weight may be placed on the door?") == "15 kg"
    )  # "do not … more than": a limit
    assert (
        complete_value("1", door, "What is the maximum number of tablets?") == "1 to 2 tablets"
    )  # a range's other end still comes


def test_a_value_that_starts_inside_a_joined_token_gets_the_whole_token() -> None:
    passages = ["Policy number: PX-20931-7", "The motion was filed on 2021-03-05 in the district court."]
    assert complete_value("20931-7 [1]", passages) == "PX-20931-7 [1]"
    assert complete_value("03-05", passages) == "2021-03-05"
    assert complete_value("-5 °C", ["Store at -5 °C or colder."]) == "-5 °C"  # a sign is not a joined token


def test_an_answer_that_stops_inside_a_word_gets_the_whole_word() -> None:
    passages = [
        "Level one evidence supports low molecular weight heparins for prophylaxis.",
        "The heparin dose is fixed.",
    ]
    assert complete_value("weight heparin [1]", passages[:1]) == "weight heparins [1]"
    assert complete_value("heparin", passages) == "heparin"  # standing whole in a passage: unchanged
    assert complete_value("aspirin", passages) == "aspirin"  # in no passage: unchanged
