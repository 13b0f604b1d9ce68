"""The one module that says what a word is: each named variant on hand-made text, and where the variants differ."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.base.words import (
    ARTICLES,
    CITATION_MARKER,
    FACT_STOPWORDS,
    KEYWORD_STOPWORDS,
    NUMBER_WORDS,
    RETRIEVAL_STOPWORDS,
    contains_reference,
    find_sequence,
    is_number_token,
    keywords,
    normalise,
    normalise_plain,
    normalise_whole_numbers,
    numbers,
    plain_number,
    question_coverage,
    score_tokens,
    stem,
    term_tokens,
    terms,
    tokenize,
    words_and_numbers,
    written_numbers,
    written_words,
)

KETTLE = "The Model K2 kettle holds 1.7 litres [2]; its 1,000 W element (§ 565.253) boils it."


# ---------------------------------------------------------------- tokens


def test_tokenize_keeps_letters_and_digits_only_and_splits_every_decimal() -> None:
    assert tokenize(KETTLE) == [
        "the",
        "model",
        "k2",
        "kettle",
        "holds",
        "1",
        "7",
        "litres",
        "2",
        "its",
        "1",
        "000",
        "w",
        "element",
        "565",
        "253",
        "boils",
        "it",
    ]
    assert tokenize("Café") == ["caf"]  # no Unicode folding: BM25 indexes what it is given


def test_term_tokens_keep_decimals_and_thousands_whole() -> None:
    assert term_tokens(KETTLE) == [
        "the",
        "model",
        "k2",
        "kettle",
        "holds",
        "1.7",
        "litres",
        "2",
        "its",
        "1,000",
        "w",
        "element",
        "565.253",
        "boils",
        "it",
    ]
    assert term_tokens("version 1.2.3, then 4.") == ["version", "1.2.3", "then", "4"]


def test_score_tokens_fold_unicode_and_drop_markers_and_articles_keeping_one_decimal_point() -> None:
    assert score_tokens(KETTLE) == [
        "model",
        "k2",
        "kettle",
        "holds",
        "1.7",
        "litres",
        "its",
        "1",
        "000",
        "w",
        "element",
        "565.253",
        "boils",
        "it",
    ]
    assert score_tokens("Ｆｕｌｌ Café, an Über-Ñame") == ["full", "cafe", "uber", "name"]
    assert score_tokens("version 1.2.3") == ["version", "1.2", "3"]
    assert score_tokens("") == [] and score_tokens(None) == []  # type: ignore[arg-type]  # answers may be missing


def test_decimals_are_kept_by_the_scoring_and_retrieval_tokens_but_not_by_bm25() -> None:
    assert "565.253" in score_tokens(KETTLE) and "565.253" in term_tokens(KETTLE)
    assert "565.253" not in tokenize(KETTLE)
    # thousands: retrieval keeps "1,000" whole, scoring splits it at the comma, grounding writes it in digits
    assert "1,000" in term_tokens(KETTLE) and "1,000" not in score_tokens(KETTLE)
    assert "1000" in words_and_numbers(KETTLE)


def test_words_and_numbers_split_numbers_from_letters_and_write_them_plain() -> None:
    assert words_and_numbers("Covid19 cost 1,000 dollars, or 5.5 each.") == [
        "covid",
        "19",
        "cost",
        "1000",
        "dollars",
        "or",
        "5.5",
        "each",
    ]
    assert term_tokens("Covid19") == ["covid19"]  # the retrieval tokens keep them together


def test_written_words_keep_apostrophes_units_and_joined_words_as_written() -> None:
    assert written_words("What's the 90° on/off PX-20931-7 switch?") == [
        "what's",
        "the",
        "90°",
        "on/off",
        "px-20931-7",
        "switch",
    ]
    # "it's" is one word here, so the follow-up rule never sees the pronoun "it" in it; BM25 tokens would
    assert "it" not in written_words("Who's checked it's level") and "it" in tokenize("Who's checked it's level")


def test_numbers_written_and_plain() -> None:
    assert written_numbers("between 1,000 and 5.5 kg, not 12.") == ["1,000", "5.5", "12"]
    assert numbers("1,000 and 1000 and 5.5") == {"1000", "5.5"}
    assert plain_number("1,000,000") == "1000000" and plain_number("2.5") == "2.5" and plain_number("12.") == "12"
    assert plain_number("565.253") == "565253"  # three digits after a point are taken for thousands


def test_is_number_token_reads_scoring_tokens() -> None:
    assert is_number_token("15") and is_number_token("5.5")
    assert not is_number_token("15kg") and not is_number_token("k2") and not is_number_token("1.2.3")


def test_citation_markers_are_one_to_three_digits_in_brackets() -> None:
    assert CITATION_MARKER.findall("as said [1] and [12] and [123], not [1234] or [a]") == ["[1]", "[12]", "[123]"]


# ---------------------------------------------------------------- stems and stop words


def test_stem_strips_plural_and_tense_endings_of_long_words_only() -> None:
    assert stem("filters") == stem("filter") == "filter"
    assert stem("cleaning") == stem("cleaned") == "clean"
    assert stem("fatalities") == "fatal" and stem("studies") == "stud"
    assert stem("nuts") == "nuts" and stem("uses") == "uses"  # four letters or fewer stay as they are
    assert stem("1990s") == "1990s" and stem("k2s") == "k2s"  # never a word with a digit


def test_terms_drop_retrieval_stop_words_and_stem() -> None:
    assert terms("How often should the filters be cleaned?") == ["filter", "clean"]
    assert terms("Tell me what the document says on page 2") == ["2"]
    assert terms("What is § 565.253?") == ["565.253"]


def test_the_stop_word_lists_differ_on_purpose() -> None:
    assert ARTICLES == {"a", "an", "the"} and ARTICLES < FACT_STOPWORDS and ARTICLES < RETRIEVAL_STOPWORDS
    # picking keywords drops only a short list, all of it stop words for retrieval too
    assert KEYWORD_STOPWORDS < RETRIEVAL_STOPWORDS and len(KEYWORD_STOPWORDS) < len(FACT_STOPWORDS)
    # words that state a fact for scoring ("long", "often", "one") are still noise in a question
    assert {"long", "often", "one", "before", "document"} <= RETRIEVAL_STOPWORDS - FACT_STOPWORDS
    # a bare "yes" or the word "answer" states no fact, but a question may be about them
    assert FACT_STOPWORDS - RETRIEVAL_STOPWORDS == {"yes", "answer"}


def test_keywords_keep_numbers_and_longer_words_a_question_would_drop() -> None:
    assert keywords("The kettle holds 1.7 litres and has an auto off") == [
        "kettle",
        "holds",
        "1",
        "7",
        "litres",
        "auto",
        "off",
    ]
    assert keywords("How long is the document") == ["how", "long", "document"]
    assert terms("How long is the document") == []


def test_number_words_run_from_zero_to_twenty() -> None:
    assert len(NUMBER_WORDS) == 21 and NUMBER_WORDS[0] == "zero" and NUMBER_WORDS[15] == "fifteen"


# ---------------------------------------------------------------- normal forms


def test_the_three_normal_forms() -> None:
    text = "The Café's [1] 1,000-litre tank, § 565.253!"
    assert normalise(text) == "cafe s 1 000 litre tank 565.253"  # scoring: folded, no marker or article
    assert normalise_plain(text) == "the caf s 1 1 000 litre tank 565 253"  # duplicate questions: letters and digits
    # verbatim answers: numbers whole and in digits only (three digits after a point read as thousands)
    assert normalise_whole_numbers(text) == "the caf s 1 1000 litre tank 565253"
    assert normalise_plain("How do I DESCALE it?") == normalise_plain("how do i descale it")


# ---------------------------------------------------------------- coverage and containment


@pytest.mark.parametrize(
    ("passages", "idf", "expected"),
    [
        (["Clean the filter weekly."], None, 1.0),
        (["Clean the door seal."], None, 0.5),
        (["Clean the door seal."], {"filter": 3.0, "clean": 1.0}, 0.25),
        (
            ["Clean the door seal."],
            {"clean": 1.0, "door": 4.0},
            0.2,
        ),  # a word the collection lacks weighs as its rarest
        (["The door seal.", "Filters are cleaned weekly."], None, 1.0),  # the passages count together
        ([], None, 0.0),
    ],
)
def test_question_coverage(passages: list[str], idf: dict[str, float] | None, expected: float) -> None:
    assert question_coverage("How often are the filters cleaned?", passages, idf) == pytest.approx(expected)


def test_a_question_of_stop_words_only_is_covered() -> None:
    assert question_coverage("What is it?", ["Nothing here."]) == 1.0


def test_find_sequence_finds_every_adjacent_occurrence() -> None:
    assert find_sequence(["15", "kg"], ["15", "kg", "or", "15", "kg"]) == [0, 3]
    assert find_sequence(["15", "kg"], ["15", "or", "kg"]) == []
    assert find_sequence([], ["15"]) == []


def test_contains_reference_compares_scoring_tokens_in_order() -> None:
    assert contains_reference("It holds 15 kg [2].", "15 kg")
    assert contains_reference("Ask the Café.", "cafe")
    assert not contains_reference("It holds 150 kg.", "15 kg")
    assert not contains_reference("kg 15", "15 kg")
    assert not contains_reference("the answer is 5.5", "5")  # a decimal is one token
    assert not contains_reference("anything", "the")  # a reference of articles only is empty: never contained


# ---------------------------------------------------------------- one owner


def test_no_other_module_of_core_defines_a_stop_word_list_or_a_text_normaliser() -> None:
    core = Path(__file__).resolve().parents[2] / "core"
    found = []
    for path in core.rglob("*.py"):
        if path == core / "base" / "words.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef):
                names = [node.name]
            else:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            found += [
                f"{path.relative_to(core)}:{n}"
                for n in names
                if "STOPWORDS" in n.upper()
                or n.lstrip("_") in ("norm", "normal")
                or n.lstrip("_").startswith("normalise")
            ]
    assert found == []
