"""How sure an answer is: signals read off the question, the answer and its passages, combined by a fitted model.

A small model copies the wrong value from the right passage: "What is the maximum operating temperature?" →
"85 °C [1]" from a table whose 85 °C is the *storage* limit. The support check cannot see it (the passage does hold
85 °C), so the answer is judged by where it was taken from, with no extra model call:

- `fit`: the question's content words near the answer in the sentence it was taken from (the words before a value
  up to the previous value, a few after it), not only somewhere in the passage;
- `rival`: how much better another value of the same kind, in any retrieved passage, fits the question words (a
  count spelled out before its unit, "twelve months", is looked at as the figure it is);
- `agree`: another passage gives the same value for the same question words;
- `type_fit`: the answer is the kind of value the question asks for (a number for "how many", a date for "when", a
  name for "who", yes or no for "is/does/can");
- `supported`, `second_look`, `coverage`, `span`, `length`, `numbers`: the support check, the second look after a
  refusal, how much of the question the passages hold, whether the answer is a verbatim span of a passage, how long
  it is and how many figures it gives (a run of a table's cells is no answer);

- `token_mean`, `token_min`, `token_margin`, `first_margin`: how probable the model found its own answer's tokens
  (their geometric mean, the least of them) and how narrowly each beat the likeliest other token (anywhere, and in
  the first few, where the value is chosen). The embedded engine records them from its sampler; an OpenAI-compatible
  server or Ollama returns them when asked (`GenerationStats.token_logprobs`, `.token_alternatives`). Where an
  engine gives none, these signals are left out and the model weighs them at their fitting average (neutral).

`calibration.json` beside this module holds the logistic model fitted on evaluation runs (`python -m
benchmarks.calibration --runs …`): one model for answers read from passages, one for answers from the model alone.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from core.base.words import NUMBER_WORDS, RETRIEVAL_STOPWORDS, stem, terms
from core.chat.evidence import expected_kind, has_kind
from core.chat.grounding import check_support, is_refusal
from core.config import Settings
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.chat.answers import Answer

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
DEFAULT_THRESHOLD = float(next(f.default for f in fields(Settings) if f.name == "confidence_threshold"))  # type: ignore[arg-type]
UNSURE = "unsure"
MEASURED_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # the calibration keeps its held-out figures at these
PASSAGE_FEATURES = (
    "fit",
    "fit_passage",
    "rival",
    "conflict",
    "agree",
    "type_fit",
    "span",
    "supported",
    "second_look",
    "coverage",
    "token_mean",
    "token_min",
    "token_margin",
    "first_margin",
    "length",
    "numbers",
)
# absent where the engine gives no token probabilities (the margins also where it names no other tokens)
TOKEN_FEATURES = ("token_mean", "token_min", "token_margin", "first_margin")
# the model alone: its answer's shape and how sure it was of its tokens (the margins are left to the passage model:
# the fine-tuned answers the alone model is fitted on were recorded before they existed)
ALONE_FEATURES = ("type_fit", "length", "echo", "token_mean", "token_min")
LEFT_WORDS = 12  # a label stands before its value ("Storage temperature -20 to 85 °C"), often a few words back
RIGHT_WORDS = 4  # ... and sometimes just after it ("85 °C for storage")
NAME_RIGHT_WORDS = 8  # a name is followed by what it did ("Justice Kagan delivered the opinion")
FIRST_STEPS = 3  # `first_margin` looks at the answer's first tokens
NUMBERS_CAP = 6  # the `numbers` signal counts the answer's figures up to this many
AGREE_FIT = 0.5  # another passage's occurrence of the value counts as agreeing when it fits at least this much
# Words that frame a question without naming its topic: "What is the maximum operating temperature?" is about
# operating temperature; a table labels its row "Operating temperature", not "maximum".
FRAME_WORDS = frozenset(
    "maximum minimum max min highest lowest largest smallest number amount total value name kind type exact "
    "exactly approximately recommended required typical usual first last".split()
)
# "What is the maximum weight…", "what age…": a quantity the evidence picker's kinds leave unnamed
_QUANTITY_QUESTION = re.compile(
    r"\b(?:maximum|minimum|max|min|what (?:age|weight|voltage|pressure|capacity|length|width|height|depth|speed|"
    r"duration|period|limit|distance|volume|cost|interest rate))\b",
    re.I,
)
YES_NO = re.compile(r"^\s*(is|are|was|were|does|do|did|can|could|should|will|would|has|have|had|may|must)\b", re.I)
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.,][0-9]+)*")
_RANGE_WORDS = frozenset({"to", "and", "or"})
# Sentence ends only: a label's colon ("Operating temperature: 5 to 40 °C") does not part it from its value, as the
# evidence picker's split does; table rows run together are kept apart by the values between them.
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'“(\[]?[A-Z•])")
_MARKERS = re.compile(r"\s*\[\d{1,2}\]")
# what a reason calls each kind of value a question asks for
KIND_WORDS = {
    "number": "a number",
    "date": "a date",
    "frequency": "a frequency (how often)",
    "name": "a name",
    "yes/no": "yes or no",
}


@dataclass(frozen=True)
class Place:
    """Where a value sits: its passage, the sentence it is in, and the words around it that say what it is."""

    passage: int  # 1-based
    value: str
    around: tuple[str, ...]  # the value's label words (lower case), as written
    fit: float


@dataclass(frozen=True)
class Signals:
    """Every signal of one answer (0–1 each) and the details a reason is worded from."""

    values: dict[str, float]
    kind: str | None = None  # what the question asks for
    place: Place | None = None  # where the answer was taken from
    rival: Place | None = None  # a value that fits the question better
    missing: tuple[str, ...] = ()  # question words not near the answer
    passages: bool = True  # read from passages (rag, hybrid) or the model alone


@dataclass(frozen=True)
class Judgement:
    """An answer's confidence (None: nothing to judge), whether it is below the threshold, and why."""

    confidence: float | None
    unsure: bool = False
    reason: str = ""
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LogisticModel:
    """A fitted logistic regression over named features: P(right) = σ(b + Σ wᵢ·xᵢ)."""

    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]  # the features' means on the fitting rows: the reference a reason is measured from

    def probability(self, values: Mapping[str, float]) -> float:
        """The probability that an answer with these signal values is right."""
        z = self.intercept + sum(
            w * float(values.get(f, m)) for f, w, m in zip(self.features, self.coefficients, self.means)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def weakest(self, values: Mapping[str, float]) -> str:
        """The feature that pulls this answer's confidence down the most, against the fitting rows' average."""
        pulls = {f: w * (float(values.get(f, m)) - m) for f, w, m in zip(self.features, self.coefficients, self.means)}
        return min(pulls, key=lambda f: pulls[f])

    def to_dict(self) -> dict[str, Any]:
        """The model as calibration.json stores it."""
        return {
            "features": list(self.features),
            "coefficients": [round(c, 6) for c in self.coefficients],
            "intercept": round(self.intercept, 6),
            "means": [round(m, 6) for m in self.means],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LogisticModel":
        """A model read back from calibration.json."""
        return cls(
            tuple(data["features"]),
            tuple(float(c) for c in data["coefficients"]),
            float(data["intercept"]),
            tuple(float(m) for m in data["means"]),
        )


@dataclass(frozen=True)
class Calibration:
    """The fitted models (answers from passages, answers from the model alone) and what they were fitted on."""

    passages: LogisticModel
    alone: LogisticModel
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def model(self, from_passages: bool) -> LogisticModel:
        """The model for an answer read from passages or given by the model alone."""
        return self.passages if from_passages else self.alone


# Before any fit: hand-set weights in the signals' own direction (replaced by calibration.json once it exists).
PRIOR = Calibration(
    LogisticModel(
        PASSAGE_FEATURES,
        (2.0, 0.5, -3.0, -1.0, 0.5, 1.5, 0.5, 1.5, -0.5, 1.0, 1.0, 1.0, 0.5, 0.5, -0.5, -1.0),
        -3.8,
        (0.7, 0.9, 0.1, 0.2, 0.2, 0.8, 0.8, 0.9, 0.05, 0.9, 0.6, 0.2, 0.1, 0.3, 0.2, 0.2),
    ),
    LogisticModel(ALONE_FEATURES, (1.0, -0.5, -1.0, 1.0, 1.0), -1.8, (0.5, 0.3, 0.3, 0.5, 0.1)),
    {"prior": True},
)


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(" ".join(text.split()))


def _is_number(token: str) -> bool:
    return token[:1].isdigit()


def question_words(question: str, answer: str = "") -> list[str]:
    """The question's topic words (stemmed): its content words less those that only frame it and the answer's own."""
    own = set(terms(answer))
    return [t for t in dict.fromkeys(terms(question)) if t not in FRAME_WORDS and t not in own]


def question_kind(question: str) -> str | None:
    """What kind of value the question asks for: the evidence picker's kinds, and 'yes/no' for "is/does/can…"."""
    kind = expected_kind(question)
    if kind is None and _QUANTITY_QUESTION.search(question):
        return "number"
    if kind is None and YES_NO.match(question):
        return "yes/no"
    return kind


def type_fit(question: str, answer: str) -> float:
    """1 when the answer is the kind of value the question asks for, 0 when it is not, 0.5 when no kind is asked."""
    kind = question_kind(question)
    text = _MARKERS.sub("", answer).strip()
    if kind is None or not text:
        return 0.5
    if kind == "yes/no":
        return 1.0 if re.match(r"^\W*(yes|no)\b", text, re.I) else 0.5  # "It must be…" can still answer it
    if kind == "name":
        # a name has capitals and is not mostly a figure ("42" answers no "who")
        capitals = [w for w in re.findall(r"\b[A-Z][A-Za-z.'-]+", text)]
        digits = sum(ch.isdigit() for ch in text)
        return 1.0 if capitals and digits <= len(text) / 3 else 0.0
    if kind == "number" and any(t in NUMBER_WORDS for t in _tokens(text)):
        return 1.0  # "five days"
    # has_kind looks for a value the question does not itself state; a value at the start counts too
    return 1.0 if has_kind(" " + text, kind, question) else 0.0


def _label_window(tokens: list[str], start: int, end: int, right: int, asked: Sequence[str] = ()) -> list[str]:
    """The words that say what the value tokens[start:end] is: back to the previous value (a range's other end, "-20
    to", is skipped), at most LEFT_WORDS; and up to `right` words after it, before the next value."""
    left: list[str] = []
    i = start - 1
    while i >= 0 and len(left) < LEFT_WORDS:
        tok = tokens[i]
        if _is_number(tok) and tok not in asked:  # "Intensive 70°": a number the question names is a label word
            # "-20 to 85 °C", "between 5 and 40": the other end of the same range, not another value
            if i + 1 < len(tokens) and tokens[i + 1] in _RANGE_WORDS and i + 2 == start:
                i -= 1
                continue
            break
        left.append(tok)
        i -= 1
    after: list[str] = []
    j = end
    while j < len(tokens) and len(after) < right and (not _is_number(tokens[j]) or tokens[j] in asked):
        after.append(tokens[j])
        j += 1
    return left[::-1] + after


def _fit(window: Sequence[str], wanted: Sequence[str]) -> float:
    if not wanted:
        return 1.0
    near = {stem(w) for w in window}
    return sum(w in near for w in wanted) / len(wanted)


def _places(answer: str, passages: Sequence[str], wanted: Sequence[str]) -> list[Place]:
    """Every place the answer stands verbatim (as tokens) in a sentence of a passage, with its label words' fit."""
    needle = _tokens(answer)
    if not needle:
        return []
    right = RIGHT_WORDS if any(_is_number(t) for t in needle) else NAME_RIGHT_WORDS
    out: list[Place] = []
    for n, passage in enumerate(passages, 1):
        for sentence in _sentences(passage):
            toks = _tokens(sentence)
            for i in range(len(toks) - len(needle) + 1):
                if toks[i : i + len(needle)] == needle:
                    window = _label_window(toks, i, i + len(needle), right, wanted)
                    out.append(Place(n, " ".join(needle), tuple(window), _fit(window, wanted)))
    return out


def _values(passages: Sequence[str], wanted: Sequence[str], answer: Sequence[str], unit: str) -> list[Place]:
    """Every value in the passages other than the answer (a range "5 to 40" as one), counting the same thing (its
    unit, when the answer has one), with how well its label words fit the question."""
    first = next((t for t in answer if _is_number(t)), "")
    out: list[Place] = []
    for n, passage in enumerate(passages, 1):
        for sentence in _sentences(passage):
            toks = _tokens(sentence)
            # the answer's own words are not a rival to it ("2 h" inside "1 h 40 min to 2 h")
            inside = {
                k
                for i in range(len(toks))
                if toks[i : i + len(answer)] == list(answer)
                for k in range(i, i + len(answer))
            }
            i = 0
            while i < len(toks):
                if not _is_number(toks[i]) or toks[i] in wanted or i in inside:
                    i += 1
                    continue
                end = i + 1
                if end + 1 < len(toks) and toks[end] in _RANGE_WORDS and _is_number(toks[end + 1]):
                    end += 2  # "5 to 40": one value, its label before the first end
                value = toks[i:end]
                after = toks[end] if end < len(toks) else ""
                # the same figure again ("12 months" elsewhere, "5 to 40" around "40") agrees, it does not rival
                same = first in value or bool(inside & set(range(i, end)))
                if not same and (not unit or after == unit):
                    window = _label_window(toks, i, end, RIGHT_WORDS, wanted)
                    out.append(
                        Place(n, " ".join(value + ([unit] if unit else [])), tuple(window), _fit(window, wanted))
                    )
                i = end
    return out


def signals(
    question: str,
    answer: str,
    passages: Sequence[str] = (),
    *,
    flags: Sequence[str] = (),
    second_look: bool = False,
    coverage: float | None = None,
    token_logprobs: Sequence[float] | None = None,
    token_alternatives: Sequence[float] | None = None,
) -> Signals:
    """Every signal of an answer to `question` given (or not) the retrieved `passages`; no model is called."""
    text = _MARKERS.sub("", answer).strip()
    kind = question_kind(question)
    length = min(len(text.split()), 20) / 20
    own = set(terms(text))
    # a model alone often says the question back ("Children younger than what age…"): no answer at all
    echo = len(own & set(terms(question))) / len(own) if own else 1.0
    base = {"type_fit": type_fit(question, text), "length": length, "echo": round(echo, 4)}
    base.update(token_signals(token_logprobs, token_alternatives))
    if not passages:
        return Signals(base, kind, passages=False)
    wanted = question_words(question, text)
    places = _places(text, passages, wanted)
    support = check_support(text, passages)
    place = max(places, key=lambda p: p.fit) if places else None
    in_passage = 0.0
    if wanted:
        holder = passages[(place.passage if place else support.passage or 1) - 1]
        in_passage = _fit(_tokens(holder), wanted)
    fit = place.fit if place else in_passage / 2  # not a verbatim span: where it came from is unknown
    words = _spelled_out_numbers(_tokens(text))
    rival: Place | None = None
    conflict = False
    if any(_is_number(t) for t in words):
        first = next(i for i, t in enumerate(words) if _is_number(t))
        unit = next((t for t in words[first:] if not _is_number(t) and t not in _RANGE_WORDS), "")
        best = max(_values(passages, wanted, words, unit), key=lambda p: p.fit, default=None)
        if best is not None and best.fit >= max(fit, AGREE_FIT) and wanted:
            # another value of the same kind, labelled at least as well: the passages disagree, or the answer is the
            # wrong row of a table
            rival, conflict = best, True
    agree = any(p.fit >= AGREE_FIT and place is not None and p.passage != place.passage for p in places)
    values = {
        **base,
        "fit": round(fit, 4),
        "fit_passage": round(in_passage, 4),
        "rival": round(rival.fit - fit, 4) if rival else 0.0,
        "conflict": 1.0 if conflict else 0.0,
        "agree": 1.0 if agree else 0.0,
        "span": 1.0 if places else 0.0,
        "supported": 0.0 if "unsupported" in flags else 1.0,
        "second_look": 1.0 if second_look else 0.0,
        "coverage": 1.0 if coverage is None else round(float(coverage), 4),
        # how many figures the answer gives: one value, or a range, answers; a run of a table's cells does not
        "numbers": min(sum(_is_number(t) for t in words), NUMBERS_CAP) / NUMBERS_CAP,
    }
    near = {stem(w) for w in place.around} if place else set()
    missing = tuple(_spelled(question, [w for w in wanted if w not in near]))
    return Signals(values, kind, place, rival, missing)


def token_signals(logprobs: Sequence[float] | None, alternatives: Sequence[float] | None = None) -> dict[str, float]:
    """The signals read off the answer's token probabilities; none when the engine gave none.

    `token_mean` is the tokens' geometric-mean probability and `token_min` the least of them; with each step's
    likeliest other token, `token_margin` is the narrowest lead the written token had over it and `first_margin` the
    narrowest over the first FIRST_STEPS tokens, where the value is chosen (Gemma writes a number digit by digit)."""
    if not logprobs:
        return {}
    out = {
        "token_mean": round(math.exp(sum(logprobs) / len(logprobs)), 4),
        "token_min": round(math.exp(min(logprobs)), 4),
    }
    leads = [
        max(0.0, math.exp(lp) - math.exp(alt)) for lp, alt in zip(logprobs, alternatives or ()) if not math.isnan(alt)
    ]
    if leads:
        out["token_margin"] = round(min(leads), 4)
        out["first_margin"] = round(min(leads[:FIRST_STEPS]), 4)
    return out


def _spelled_out_numbers(words: list[str]) -> list[str]:
    """The answer's words with a spelled-out count before a unit as digits ("twelve months" → "12 months"), so its
    rivals are looked for as for any figure; an answer that has digits is left as it is."""
    if any(_is_number(t) for t in words):
        return words
    return [str(NUMBER_WORDS.index(t)) if t in NUMBER_WORDS and i + 1 < len(words) else t for i, t in enumerate(words)]


def _spelled(question: str, stems: Sequence[str]) -> list[str]:
    """The question's own spelling of these stemmed words ("operating" for "operat")."""
    spelled = {stem(t): t for t in _tokens(question)}
    return [spelled.get(s, s) for s in stems]


def _topic(words: Sequence[str], question: str) -> str:
    """The label words of a value that the question does not use: what the value is about instead."""
    asked = {stem(t) for t in _tokens(question)}
    own = [
        w for w in words if w not in RETRIEVAL_STOPWORDS and stem(w) not in asked and not _is_number(w) and len(w) > 1
    ]
    return " ".join(own[:4])


def reason(sig: Signals, weakest: str, question: str) -> str:
    """Why the answer may be wrong, in words, from its weakest signal."""
    v = sig.values
    if weakest in ("fit", "fit_passage", "span") and sig.place is not None and sig.missing:
        about = _topic(sig.place.around, question)
        where = f"is about {about}" if about else "does not say what it is"
        return (
            f"the sentence this answer comes from (passage [{sig.place.passage}]) {where}; the question asks about "
            f"{' '.join(sig.missing)}"
        )
    if weakest in ("rival", "conflict") and sig.rival is not None:
        label = " ".join(
            w for w in sig.rival.around if not _is_number(w) and w not in RETRIEVAL_STOPWORDS and len(w) > 1
        )
        how = "better than" if v.get("rival", 0) > 0 else "as well as"
        return (
            f'passage [{sig.rival.passage}] gives {sig.rival.value} for "{label}", which matches the question\'s '
            f"words {how} the value answered"
        )
    if weakest == "numbers" and v.get("numbers", 0) > 0.5:
        return "the answer gives many figures, like a run of a table's cells, not the one value asked for"
    if weakest == "type_fit" and v.get("type_fit", 1) < 0.5 and sig.kind:
        return f"the question asks for {KIND_WORDS.get(sig.kind, sig.kind)} and the answer is not one"
    if weakest == "supported" or v.get("supported", 1) < 1:
        return "no retrieved passage holds this answer's facts"
    if weakest == "second_look" and v.get("second_look", 0) > 0:
        return "the model first said the documents do not hold this; it answered only when asked again"
    if weakest == "coverage" and v.get("coverage", 1) < 1:
        return f"the passages found hold only {v['coverage']:.0%} of the question's words"
    if weakest in ("fit", "span") and sig.place is None and sig.passages:
        return "the answer is not a passage's own words, so where it comes from cannot be checked"
    if weakest in ("token_margin", "first_margin") and weakest in v:
        return (
            "the model nearly wrote something else: at one step the word piece it chose led the next likeliest by "
            f"only {v[weakest]:.0%}"
        )
    if weakest in TOKEN_FEATURES and "token_mean" in v:
        return (
            f"the model was unsure of its own words as it wrote them (on average {v['token_mean']:.0%} likely per "
            f"word piece, the least likely {v['token_min']:.0%})"
        )
    if weakest == "echo" and v.get("echo", 0) > 0.5:
        return "the answer mostly repeats the question's own words"
    if not sig.passages:
        return "no passage was read: the model answered from what it learned, which nothing here can check"
    if sig.missing:
        return f"the passages say little about {' '.join(sig.missing)} near this answer"
    return "answers like this one were often wrong on the evaluation sets"


def judge_answer(
    question: str,
    text: str,
    passages: Sequence[str],
    *,
    flags: Sequence[str] = (),
    second_look: bool = False,
    coverage: float | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    calibration: Calibration | None = None,
    token_logprobs: Sequence[float] | None = None,
    token_alternatives: Sequence[float] | None = None,
) -> Judgement:
    """An answer's confidence, unsure mark and reason; a refusal or an empty answer has none (None)."""
    if not text.strip() or is_refusal(text):
        return Judgement(None)
    cal = calibration or load_calibration()
    sig = signals(
        question,
        text,
        passages,
        flags=flags,
        second_look=second_look,
        coverage=coverage,
        token_logprobs=token_logprobs,
        token_alternatives=token_alternatives,
    )
    model = cal.model(sig.passages)
    p = model.probability(sig.values)
    unsure = p < threshold
    why = reason(sig, model.weakest(sig.values), question) if unsure else ""
    return Judgement(round(p, 4), unsure, why, sig.values)


def rate(
    answer: "Answer",
    threshold: float = DEFAULT_THRESHOLD,
    second_look: bool = False,
    token_logprobs: Sequence[float] | None = None,
    token_alternatives: Sequence[float] | None = None,
) -> None:
    """Set a finished answer's confidence, reason and signals, and add the "unsure" flag below `threshold`."""
    if answer.incomplete or answer.error:
        return
    coverage = answer.timings.get("question_coverage")
    verdict = judge_answer(
        answer.standalone or answer.question,
        answer.text,
        [s.text for s in answer.sources],
        flags=answer.flags,
        second_look=second_look,
        coverage=coverage,
        threshold=threshold,
        token_logprobs=token_logprobs,
        token_alternatives=token_alternatives,
    )
    answer.confidence = verdict.confidence
    answer.confidence_reason = verdict.reason
    answer.signals = dict(verdict.signals)
    # an answer flagged "not supported" already carries the stronger mark: one warning, not two, for the same doubt
    if verdict.unsure and UNSURE not in answer.flags and "unsupported" not in answer.flags:
        answer.flags.append(UNSURE)


def threshold_note(calibration: Calibration, threshold: float, arm: str = "rag") -> str:
    """What `threshold` meant on the evaluation the calibration was fitted on, in words ('' when not measured)."""
    measured = [m for m in calibration.fitted_on.get("measured") or [] if arm in m]
    if not measured:
        return ""
    near = min(measured, key=lambda m: abs(float(m["threshold"]) - threshold))
    right, sure = near[arm]["selective_accuracy"]
    unsure, right_all = near[arm]["right_marked_unsure"]
    if not sure:
        return ""
    return (
        f"At a threshold of {float(near['threshold']):g}, on the last evaluation ({arm}, "
        f"{calibration.fitted_on.get('date', '')}, each set judged by a fit on the others): {right} of {sure} answers "
        "marked sure were right "
        f"({right / sure:.0%}), and {unsure} of {right_all} right answers were marked unsure."
    )


def calibration_from_dict(data: Mapping[str, Any]) -> Calibration:
    """A calibration read back from its JSON."""
    models = data["models"]
    return Calibration(
        LogisticModel.from_dict(models["passages"]),
        LogisticModel.from_dict(models["alone"]),
        {k: v for k, v in data.items() if k != "models"},
    )


@functools.lru_cache(maxsize=4)
def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    """The fitted calibration (read once per process); the hand-set prior while none has been fitted."""
    try:
        return calibration_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return PRIOR
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"The answer calibration {path} cannot be read ({exc}): fit it again with "
            "`python -m benchmarks.calibration --runs RUN_IDS`, or delete it to use the hand-set prior."
        ) from exc
