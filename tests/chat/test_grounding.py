"""The support check, the citation it drives, the question-coverage signal, and sentence selection (hand-made cases)."""

from __future__ import annotations

from core.base.chunks import Chunk
from core.base.words import numbers, question_coverage
from core.chat.evidence import expected_kind, select_evidence, split_sentences
from core.chat.grounding import answers_after_refusal, attribute, check_support, is_refusal

FILTERS = "Check and clean the filters once a week. The coarse filter is removed by turning it 90° anticlockwise."
WARRANTY = "The warranty lasts 24 months from the date of purchase. Keep the receipt of the purchase."
LABEL = "The recommended dose is 200 mg on Day 1, then 100 mg once daily. Store vials below 30 °C."


def chunk(text: str, page: int = 1, source: str = "doc.pdf") -> Chunk:
    return Chunk(f"c{page}", "d", source, page, text, 0.5)


def test_numbers_are_compared_without_thousands_separators() -> None:
    assert numbers("$1,000 and 2.5 mg") == {"1000", "2.5"}
    assert numbers("1000 units") == {"1000"}


def test_an_answer_found_whole_is_supported_by_that_passage() -> None:
    support = check_support("once a week", [WARRANTY, FILTERS])
    assert support.supported and support.passage == 2


def test_a_number_that_only_starts_a_longer_number_of_the_passage_is_not_supported() -> None:
    statute = (
        "The offense was the class D felony of invasion of privacy in violation of § 565.253, not a class C felony."
    )
    assert not check_support("565", [statute]).supported
    assert check_support("565.253", [statute]).passage == 1
    assert not attribute("565 [1]", [statute]).cited


def test_an_answer_after_a_set_aside_refusal_is_kept_only_if_short_new_and_supported() -> None:
    question = "How long does the warranty last?"
    assert answers_after_refusal("24 months [1]", question, [FILTERS, WARRANTY])
    assert not answers_after_refusal("36 months", question, [WARRANTY])  # a number no passage holds
    assert not answers_after_refusal("the warranty", question, [WARRANTY])  # only the question's own words
    assert not answers_after_refusal("not in the documents", question, [WARRANTY])
    long_quote = "The warranty lasts 24 months from the date of purchase. Keep the receipt of the purchase and the box."
    assert not answers_after_refusal(long_quote, question, [WARRANTY + " and the box."])  # a quote, not an answer


def test_a_number_absent_from_every_passage_is_not_supported() -> None:
    support = check_support("36 months", [WARRANTY, FILTERS])
    assert not support.supported and support.passage is None and "36" in support.missing


def test_a_paraphrase_with_the_same_facts_is_supported() -> None:
    assert check_support("The warranty lasts 24 months", [FILTERS, WARRANTY]).passage == 2
    assert check_support("200 mg on the first day", [LABEL]).supported is False  # "first" is not in the label
    assert check_support("200 mg, Day 1", [LABEL]).supported


def test_names_and_content_words_must_appear_in_one_passage() -> None:
    assert not check_support("Justice Kagan", ["Sotomayor, J., delivered the opinion for a unanimous Court."]).supported
    assert check_support("Sotomayor", ["Sotomayor, J., delivered the opinion for a unanimous Court."]).supported


def test_attribution_cites_the_supporting_passage_and_appends_its_marker() -> None:
    outcome = attribute("once a week", [WARRANTY, FILTERS])
    assert outcome.cited == (2,) and outcome.marker == " [2]" and outcome.flags == ()


def test_attribution_flags_an_unsupported_answer_and_cites_nothing() -> None:
    outcome = attribute("every 3 days", [WARRANTY, FILTERS])
    assert outcome.cited == () and outcome.marker == "" and outcome.flags == ("unsupported",)
    assert "Not supported by the documents" in outcome.warning


def test_a_marker_the_model_wrote_is_kept_only_where_its_passage_supports_the_answer() -> None:
    assert attribute("once a week [2]", [WARRANTY, FILTERS]).cited == (2,)
    wrong = attribute("once a week [1]", [WARRANTY, FILTERS])  # [1] is the warranty passage: re-cited to [2]
    assert wrong.cited == (2,) and wrong.drop == (1,) and wrong.apply("once a week [1]") == "once a week [2]"
    assert attribute("once a week [7]", [WARRANTY, FILTERS]).apply("once a week [7]") == "once a week [2]"


def test_refusals_are_neither_cited_nor_flagged() -> None:
    for text in ("not in the documents", "I could not find this in the documents."):
        assert is_refusal(text)
        assert attribute(text, [FILTERS]) == attribute("", [FILTERS]) == attribute(text, [])


def test_coverage_is_low_when_the_passages_never_mention_what_is_asked() -> None:
    passages = [FILTERS, WARRANTY]
    assert question_coverage("How often should the filters be cleaned?", passages) == 1.0
    assert question_coverage("What is the capital city of Australia?", passages) == 0.0
    partly = question_coverage("What torque tightens the coarse filter?", passages)
    assert 0.0 < partly < 1.0


def test_rare_words_weigh_more_in_the_coverage_when_rarities_are_given() -> None:
    passages = [FILTERS]
    idf = {"filter": 1.0, "coarse": 1.0, "torque": 5.0}
    assert question_coverage("What torque tightens the coarse filter?", passages, idf) < question_coverage(
        "What torque tightens the coarse filter?", passages
    )


def test_sentences_split_at_ends_but_not_after_abbreviations_or_initials() -> None:
    text = "On August 31, 2018, St. Pierre's husband passed away. Judge James M. Dowd wrote it. Next one"
    assert split_sentences(text) == [
        "On August 31, 2018, St. Pierre's husband passed away.",
        "Judge James M. Dowd wrote it.",
        "Next one",
    ]


def test_a_label_value_line_is_one_sentence_but_a_running_header_of_several_labels_is_not() -> None:
    text = (
        "Complete every field.\nPolicy number: PX-20931-7\nName of the policy holder: Amara Lindqvist\n"
        "Case: 20-1507 Document: 00117684624 Page: 4\nThe court held that the claim fails."
    )
    sentences = split_sentences(text)
    assert sentences[:3] == [
        "Complete every field.",
        "Policy number: PX-20931-7",
        "Name of the policy holder: Amara Lindqvist",
    ]
    # the header stays running text, cut at its colons as before (no sentence holds it whole)
    assert "Case: 20-1507 Document: 00117684624 Page: 4" not in sentences and sentences[-1].endswith("the claim fails.")
    # a wrapped line that starts in lower case is not a label: it runs on with the text before it
    assert split_sentences("It was filed\nlate: it costs") == ["It was filed late: it costs"]


def test_the_expected_kind_of_answer_is_read_from_the_question() -> None:
    assert expected_kind("When was the case argued?") == "date"
    assert expected_kind("On what date did the accident happen?") == "date"
    assert expected_kind("How many people died?") == "number"
    assert expected_kind("How often should the filter be cleaned?") == "frequency"
    assert expected_kind("Who wrote the opinion?") == "name"
    assert expected_kind("What is the filter made of?") is None


def test_evidence_keeps_the_answer_sentence_and_the_passage_numbers() -> None:
    chunks = [chunk(WARRANTY, 3), chunk("The door opens to 90 degrees. " + FILTERS, 6)]
    evidence = select_evidence("How often should the filters be cleaned?", chunks, max_sentences=1)
    assert [(n, c.page) for n, c in evidence] == [(2, 6)]
    assert evidence[0][1].text == "Check and clean the filters once a week."


def test_a_date_question_prefers_the_sentence_with_a_date() -> None:
    text = (
        "The husband of the plaintiff was insured. On August 31, 2018, the husband passed away. The husband had a "
        "policy."
    )
    evidence = select_evidence("When did the husband pass away?", [chunk(text)], max_sentences=1)
    assert "August 31, 2018" in evidence[0][1].text


def test_evidence_is_the_best_sentence_plus_only_its_near_ties() -> None:
    from core.chat.evidence import score_sentences

    text = (
        "The filters must be cleaned once a week. Clean the spray arms every month. "
        "The filters are cleaned under running water. The door seal is wiped with a damp cloth."
    )
    question = "How often must the filters be cleaned?"
    ranked = score_sentences(question, [chunk(text)])
    evidence = select_evidence(question, [chunk(text)])
    kept = evidence[0][1].text
    assert (
        ranked[0].text in kept and "door seal" not in kept
    )  # a sentence without the question's words never rides along
    for s in ranked[1:3]:
        assert (s.text in kept) == (s.score >= 0.8 * ranked[0].score)
    assert (
        select_evidence(question, [chunk(text)], close=1.01)[0][1].text == ranked[0].text
    )  # no near-ties: the best sentence alone


def test_a_number_counts_as_supported_only_beside_the_same_word() -> None:
    heading = "1. Important safety instructions. Keep the manual for future reference for many years."
    assert not check_support("1 year", [heading]).supported  # "1." and "years" apart do not say "1 year"
    assert check_support("2 years", ["The DW-450 is guaranteed for 2 years from the date of purchase."]).supported
    assert check_support("March 15, 2020", ["It was declared on March 15, 2020 by the Secretary."]).supported
    assert not check_support(
        "March 15, 2020", ["It was declared in March 2020; the report of June 15 followed."]
    ).supported


def test_a_frequency_in_words_counts_as_the_value_a_how_often_question_asks_for() -> None:
    from core.base.chunks import Chunk

    chunks = [
        Chunk("a", "d", "m.pdf", 6, "Cleaning. Check and clean the filters once a week under running water."),
        Chunk(
            "b",
            "d",
            "m.pdf",
            7,
            "E2 Drain fault: clean the filters and check the drain hose and sink trap E3 Heating fault.",
        ),
    ]
    best = select_evidence("How often should the filters be checked and cleaned?", chunks, max_sentences=1)
    assert "once a week" in best[0][1].text  # not the error-code line that merely holds a digit
