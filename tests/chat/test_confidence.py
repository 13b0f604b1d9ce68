"""The confidence signals on hand-made cases, the calibration file read back, and the answer judged end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core.base.chunks import Chunk
from core.chat.answers import Answer, AnswerRecord
from core.chat.confidence import (
    ALONE_FEATURES,
    PASSAGE_FEATURES,
    PRIOR,
    TOKEN_FEATURES,
    UNSURE,
    Calibration,
    LogisticModel,
    judge_answer,
    load_calibration,
    question_kind,
    rate,
    reason,
    signals,
    threshold_note,
    type_fit,
)
from core.errors import ConfigError

SPEC_TABLE = (
    "Technical data. Operating temperature: 5 to 40 °C. Storage temperature: -20 to 85 °C. Weight: 12 kg. "
    "Supply voltage: 230 V."
)
SPEC_ROWS = "Operating temperature 5 to 40 °C\nStorage temperature -20 to 85 °C\nWeight 12 kg"
OPERATING = "What is the maximum operating temperature?"


@pytest.mark.parametrize("table", [SPEC_TABLE, SPEC_ROWS])
def test_a_value_taken_from_the_storage_row_fits_an_operating_question_worse_than_the_operating_row(table: str) -> None:
    wrong = signals(OPERATING, "85 °C [1]", [table])
    right = signals(OPERATING, "40 °C", [table])
    assert wrong.values["fit"] == 0.5  # "temperature" is near 85 °C, "operating" is not
    assert right.values["fit"] == 1.0
    assert wrong.missing == ("operating",)
    # the operating row's range fits better than the value answered: a rival the passage itself offers
    assert wrong.values["rival"] == 0.5 and wrong.values["conflict"] == 1.0
    assert wrong.rival is not None and wrong.rival.value.startswith("5 to 40")
    assert right.values["rival"] == 0.0 and right.values["conflict"] == 0.0
    # the support check cannot tell them apart: both values are in the passage
    assert wrong.values["supported"] == right.values["supported"] == 1.0


def test_the_reason_for_a_storage_value_names_what_the_sentence_is_about_and_what_the_question_asks() -> None:
    wrong = signals(OPERATING, "85 °C", [SPEC_TABLE])
    said = reason(wrong, "fit", OPERATING)
    assert "is about storage" in said and "the question asks about operating" in said
    rival = reason(wrong, "rival", OPERATING)
    assert rival.startswith("passage [1] gives 5 to 40 c for") and "operating temperature" in rival


def test_a_number_answering_a_who_question_does_not_fit_its_type_and_a_name_does() -> None:
    assert question_kind("Who signed the licence agreement?") == "name"
    assert type_fit("Who signed the licence agreement?", "42") == 0.0
    assert type_fit("Who signed the licence agreement?", "Jane Porter, CEO") == 1.0
    assert type_fit("How many days may a patient take it?", "five days") == 1.0
    assert type_fit("How many days may a patient take it?", "the doctor") == 0.0
    assert type_fit("When was the order filed?", "March 3, 2020") == 1.0
    assert type_fit("When was the order filed?", "the district court") == 0.0
    assert type_fit("Does the warranty cover glass?", "No, glass is excluded.") == 1.0
    assert type_fit("What does the filter do?", "It keeps food out of the pump") == 0.5  # no kind asked: neutral
    assert question_kind("What is the maximum weight on the open door?") == "number"


def test_a_who_question_answered_by_a_number_is_judged_less_sure_than_one_answered_by_a_name() -> None:
    passage = "The agreement was signed by Jane Porter on 12 March 2024, in 2 copies."
    name = judge_answer("Who signed the agreement?", "Jane Porter", [passage], calibration=PRIOR)
    number = judge_answer("Who signed the agreement?", "2", [passage], calibration=PRIOR)
    assert name.signals["type_fit"] == 1.0 and number.signals["type_fit"] == 0.0
    assert name.confidence is not None and number.confidence is not None
    assert number.confidence < name.confidence


def test_two_passages_that_give_different_values_for_the_same_words_conflict_and_the_same_value_agrees() -> None:
    first = "Term. The licence term is 12 months from the effective date."
    second = "Renewal. The licence term is 24 months from the effective date unless terminated earlier."
    same = "Summary: the licence term is 12 months from the effective date."
    question = "How long is the licence term?"
    disagree = signals(question, "12 months", [first, second])
    assert disagree.values["conflict"] == 1.0 and disagree.values["agree"] == 0.0
    assert disagree.rival is not None and (disagree.rival.passage, disagree.rival.value) == (2, "24 months")
    agree = signals(question, "12 months", [first, same])
    assert agree.values["agree"] == 1.0 and agree.values["conflict"] == 0.0
    # a value of another unit is another kind of fact, not a disagreement
    other = signals(question, "12 months", [first, "The licence costs 24 euros per seat."])
    assert other.values["conflict"] == 0.0


def test_the_support_flag_the_second_look_and_the_coverage_are_signals() -> None:
    sig = signals(OPERATING, "70 °C", [SPEC_TABLE], flags=["unsupported"], second_look=True, coverage=0.6)
    assert (sig.values["supported"], sig.values["second_look"], sig.values["coverage"]) == (0.0, 1.0, 0.6)
    assert sig.values["span"] == 0.0  # not a verbatim span of any passage
    assert reason(sig, "supported", OPERATING) == "no retrieved passage holds this answer's facts"


def test_an_answer_without_passages_is_judged_on_the_alone_signals_and_an_echo_of_the_question_counts() -> None:
    question = "Children younger than what age must be kept away from the dishwasher?"
    echo = signals(question, "Children younger than what age must be kept away", [])
    # no token probabilities were given: the two signals read from them are left out, not made up
    assert not echo.passages and set(echo.values) == set(ALONE_FEATURES) - set(TOKEN_FEATURES)
    assert echo.values["echo"] == 1.0
    assert signals(question, "3 years", []).values["echo"] == 0.0


def test_token_probabilities_give_their_geometric_mean_and_least_and_a_doubtful_answer_says_it_hesitated() -> None:
    logprobs = [math.log(0.9), math.log(0.1), math.log(0.9)]
    sig = signals(OPERATING, "40 °C", [SPEC_TABLE], token_logprobs=logprobs)
    assert sig.values["token_mean"] == pytest.approx((0.9 * 0.1 * 0.9) ** (1 / 3), abs=1e-4)
    assert sig.values["token_min"] == pytest.approx(0.1, abs=1e-4)
    assert "token_margin" not in sig.values  # no alternatives given: no margins made up
    # the likeliest other token at each step: the narrowest lead anywhere, and in the first FIRST_STEPS tokens
    others = [math.log(0.05), math.log(0.02), math.log(0.02), math.log(0.65)]
    steps = [*logprobs, math.log(0.7)]
    led = signals(OPERATING, "40 °C", [SPEC_TABLE], token_logprobs=steps, token_alternatives=others)
    assert led.values["first_margin"] == pytest.approx(0.1 - 0.02, abs=1e-4)  # the second step's lead
    assert led.values["token_margin"] == pytest.approx(0.7 - 0.65, abs=1e-4)  # the fourth step's, past the first 3
    # a model that weighs only the token signals: the hesitant answer is below the sure one, and says why
    only_tokens = LogisticModel(TOKEN_FEATURES, (4.0, 4.0), -3.0, (0.6, 0.3))
    cal = Calibration(only_tokens, only_tokens)
    hesitant = judge_answer(OPERATING, "40 °C", [SPEC_TABLE], token_logprobs=logprobs, calibration=cal, threshold=0.5)
    sure = judge_answer(OPERATING, "40 °C", [SPEC_TABLE], token_logprobs=[-0.01] * 3, calibration=cal, threshold=0.5)
    assert hesitant.confidence is not None and sure.confidence is not None
    assert hesitant.confidence < 0.5 < sure.confidence
    assert hesitant.unsure and "unsure of its own words" in hesitant.reason and "10%" in hesitant.reason
    # without probabilities (an engine that gives none) the model weighs the two at their fitting average
    neutral = judge_answer(OPERATING, "40 °C", [SPEC_TABLE], calibration=cal)
    assert neutral.confidence == pytest.approx(only_tokens.probability({"token_mean": 0.6, "token_min": 0.3}), abs=1e-4)


def test_a_count_spelled_out_in_words_is_rivalled_by_the_figure_the_question_is_about() -> None:
    contract = (
        "The Initial Term of this Agreement is 36 months from the Effective Date. Thereafter it renews for "
        "successive renewal terms of twelve months."
    )
    wrong = signals("How long is the Initial Term of the agreement?", "twelve months [1]", [contract])
    assert wrong.values["conflict"] == 1.0 and wrong.rival is not None and wrong.rival.value == "36 months"
    right = signals("How long is each renewal term?", "twelve months [1]", [contract])
    assert right.values["conflict"] == 0.0 and right.values["rival"] == 0.0


def test_an_answer_that_runs_through_a_tables_cells_gives_many_figures_and_one_value_few() -> None:
    table = "Water hardness: 12-17 °dH 2.1-3.0 mmol/l H4; 18-22 °dH 3.1-3.9 mmol/l H5. The factory setting is H3."
    question = "What is the factory setting of the water softener?"
    run_on = signals(question, "12-17 2.1-3.0 H4 18-22 3.1-3.9 H5", [table])
    assert run_on.values["numbers"] == 1.0
    assert signals(question, "H3 [1]", [table]).values["numbers"] == 0.0  # a code, not a figure
    assert signals(OPERATING, "5 to 40 °C", [SPEC_TABLE]).values["numbers"] == pytest.approx(2 / 6)
    model = LogisticModel(("numbers",), (-6.0,), 2.0, (0.2,))
    run_on_text = "12-17 2.1-3.0 H4 18-22 3.1-3.9 H5"
    verdict = judge_answer(question, run_on_text, [table], calibration=Calibration(model, model))
    assert verdict.unsure and "many figures" in verdict.reason


def test_a_refusal_or_an_empty_answer_gets_no_confidence() -> None:
    assert judge_answer(OPERATING, "I could not find this in the documents.", [SPEC_TABLE]).confidence is None
    assert judge_answer(OPERATING, "  ", [SPEC_TABLE]).confidence is None


def test_rate_sets_the_confidence_the_reason_and_the_unsure_flag_below_the_threshold() -> None:
    answer = Answer(OPERATING, "85 °C [1]", "rag", "embedded", "gemma")
    answer.sources = [Chunk("c1", "d1", "spec.pdf", 1, SPEC_TABLE)]
    answer.cited = [1]
    rate(answer, threshold=1.0)  # every answer is below a threshold of 1
    assert answer.confidence is not None and 0 < answer.confidence < 1
    assert UNSURE in answer.flags and answer.confidence_reason
    assert set(answer.signals) == (set(PASSAGE_FEATURES) | set(ALONE_FEATURES)) - set(TOKEN_FEATURES)
    saved = answer.to_dict()
    assert saved["confidence"] == answer.confidence and "unsure" in saved["flags"]
    record = AnswerRecord.from_dict(saved)
    assert record.unsure and record.confidence == answer.confidence and record.confidence_reason
    calm = Answer(OPERATING, "40 °C", "rag", "embedded", "gemma", sources=answer.sources)
    rate(calm, threshold=0.0)
    assert UNSURE not in calm.flags and calm.confidence_reason == ""


def test_an_answer_flagged_not_supported_keeps_its_confidence_but_is_not_also_flagged_unsure() -> None:
    answer = Answer(OPERATING, "70 °C", "rag", "embedded", "gemma", flags=["unsupported"])
    answer.sources = [Chunk("c1", "d1", "spec.pdf", 1, SPEC_TABLE)]
    rate(answer, threshold=1.0)
    assert answer.flags == ["unsupported"] and answer.confidence is not None and answer.confidence_reason


def test_an_interrupted_answer_is_not_judged() -> None:
    answer = Answer(OPERATING, "85", "rag", "embedded", "gemma", incomplete=True, error="stopped")
    rate(answer, threshold=1.0)
    assert answer.confidence is None and UNSURE not in answer.flags


def test_a_calibration_file_reloads_to_the_same_confidences(tmp_path: Path) -> None:
    model = LogisticModel(
        PASSAGE_FEATURES, tuple(0.1 * (i + 1) for i in range(len(PASSAGE_FEATURES))), -0.7, (0.5,) * 10
    )
    alone = LogisticModel(ALONE_FEATURES, (0.3, -0.2, -1.1), 0.2, (0.5, 0.2, 0.3))
    path = tmp_path / "calibration.json"
    path.write_text(
        json.dumps({"date": "2026-12-07", "models": {"passages": model.to_dict(), "alone": alone.to_dict()}}),
        encoding="utf-8",
    )
    loaded = load_calibration(path)
    direct = Calibration(model, alone)
    for text in ("85 °C", "40 °C", "12 kg"):
        a = judge_answer(OPERATING, text, [SPEC_TABLE], calibration=loaded)
        b = judge_answer(OPERATING, text, [SPEC_TABLE], calibration=direct)
        assert a.confidence == b.confidence
    assert loaded.fitted_on["date"] == "2026-12-07"


def test_a_missing_calibration_falls_back_to_the_prior_and_a_broken_one_says_how_to_fix_it(tmp_path: Path) -> None:
    assert load_calibration(tmp_path / "none.json") is PRIOR
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="benchmarks.calibration"):
        load_calibration(broken)


def test_the_committed_calibration_reads_and_covers_every_signal() -> None:
    cal = load_calibration()
    assert cal.passages.features == PASSAGE_FEATURES and cal.alone.features == ALONE_FEATURES
    assert len(cal.passages.coefficients) == len(PASSAGE_FEATURES)


def test_a_number_the_question_names_is_part_of_the_label_and_the_row_it_labels_rivals_another_rows_value() -> None:
    table = (
        "Programme Duration Energy Water Intensive 70° 2 h 45 min 1.6 kWh 16 l Eco 50° 3 h 40 min 0.9 kWh 9.9 l "
        "Quick 45° 1 h 40 min to 2 h 0.8 kWh 10 l"
    )
    question = "How long does the Intensive 70° programme take?"
    right = signals(question, "2 h 45 min", [table])
    wrong = signals(question, "1 h 40 min to 2 h", [table])
    assert right.values["fit"] == 0.75 and right.values["conflict"] == 0.0  # "Intensive 70°" is read as its label
    assert wrong.values["fit"] == 0.0 and wrong.values["conflict"] == 1.0
    assert wrong.rival is not None and wrong.rival.value == "2 h"


def test_the_threshold_note_says_what_the_nearest_measured_threshold_meant() -> None:
    measured = [
        {"threshold": 0.5, "rag": {"selective_accuracy": [8, 10], "right_marked_unsure": [1, 9]}},
        {"threshold": 0.7, "rag": {"selective_accuracy": [5, 5], "right_marked_unsure": [4, 9]}},
    ]
    cal = Calibration(PRIOR.passages, PRIOR.alone, {"date": "2026-12-07", "measured": measured})
    note = threshold_note(cal, 0.52)
    assert note.startswith("At a threshold of 0.5, on the last evaluation (rag, 2026-12-07")
    assert "8 of 10 answers marked sure were right (80%), and 1 of 9 right answers were marked unsure." in note
    assert threshold_note(PRIOR, 0.5) == ""  # nothing measured: nothing claimed
    assert "At a threshold of" in threshold_note(load_calibration(), 0.5)  # the committed calibration carries it
