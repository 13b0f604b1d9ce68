"""What a word is, in one place: tokens, stems, stop words, normal forms, question coverage, containment.

Every module of the app that splits text into words, drops stop words, stems or normalises text imports it from
here. Some rules differ on purpose, because their users measured or need different things; they are kept as
named variants and never merged, since merging them would change retrieval, grounding or scoring results:

- tokens: `tokenize` (BM25: letters and digits), `term_tokens` (retrieval: decimals and thousands kept whole),
  `score_tokens` (scoring: Unicode-folded, one decimal point kept, articles dropped), `words_and_numbers`
  (grounding: letter words and whole numbers), `written_words` (follow-up rule: words as written);
- stop words: `RETRIEVAL_STOPWORDS` (question words and fillers), `FACT_STOPWORDS` (words that state no fact),
  `KEYWORD_STOPWORDS` (a short list for picking keywords), `ARTICLES` (what scoring drops);
- normal forms: `normalise` (scoring), `normalise_plain` (duplicate questions), `normalise_whole_numbers`
  (an answer found verbatim in a passage).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Mapping, Sequence

# ---------------------------------------------------------------- tokens

_TOKEN = re.compile(r"[a-z0-9]+")
# "1,000" and "565.253" stay one token: retrieval must not match "565" of a question to "§ 565.253".
_TERM_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
# One decimal point only, no comma ("1,000" is "1", "000"): the evaluation grid's rule, so its scores stay comparable.
_SCORE_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_NUMBER_TOKEN = re.compile(r"^\d+(?:\.\d+)?$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD_OR_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+")
_WRITTEN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'°./-]*")
CITATION_MARKER = re.compile(r"\[\d{1,3}\]")  # "[2]": the passage markers an answer carries, never part of its facts


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits): the BM25 index and the training-set checks ("5.5" is "5", "5")."""
    return _TOKEN.findall(text.lower())


def term_tokens(text: str) -> list[str]:
    """Lower-case tokens, decimals and thousands kept whole ("565.253", "1,000"): what retrieval and evidence read."""
    return _TERM_TOKEN.findall(text.lower())


def score_tokens(text: str) -> list[str]:
    """The scoring grid's tokens: NFKC-folded, accent-free, no citation markers or articles ("5.5" is one token)."""
    text = CITATION_MARKER.sub(" ", text or "")
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [t for t in _SCORE_TOKEN.findall(folded) if t not in ARTICLES]


def is_number_token(token: str) -> bool:
    """Whether a `score_tokens` token is a number (digits with at most one decimal part): scoring's competing values."""
    return bool(_NUMBER_TOKEN.match(token))


def written_numbers(text: str) -> list[str]:
    """The numbers of a text as written ("1,000", "5.5", "565.253"), for finding values in sentences."""
    return _NUMBER.findall(text)


def plain_number(number: str) -> str:
    """A written number in digits only: thousands separators dropped ("1,000" is "1000"), a decimal part kept."""
    return re.sub(r"[.,](?=\d{3}\b)", "", number).rstrip(".,")


def numbers(text: str) -> set[str]:
    """The numbers in a text, digits only ('1,000' and '1000' are the same number)."""
    return {plain_number(n) for n in written_numbers(text)}


def words_and_numbers(text: str) -> list[str]:
    """Lower-case letter words and whole plain numbers ("covid19" is "covid", "19"): the grounding check's words.

    Unlike `term_tokens`, a number is never glued to the letters beside it and is written in digits only, so an
    answer's "1000" meets a passage's "1,000".
    """
    return [plain_number(w) if w[0].isdigit() else w for w in _WORD_OR_NUMBER.findall(text.lower())]


def written_words(text: str) -> list[str]:
    """Lower-case words as written, inner apostrophes, degrees, dots, slashes and hyphens kept: the follow-up rule.

    "what's" stays one word, so its "s" and "it's" are never read as the pronoun "it" that marks a follow-up.
    """
    return [w.lower() for w in _WRITTEN_WORD.findall(text)]


# ---------------------------------------------------------------- stop words and stems

# Words that say nothing about the topic of a question (question words, auxiliaries, fillers): retrieval,
# evidence picking, grounding and question coverage leave them out of `terms`.
RETRIEVAL_STOPWORDS = frozenset(
    """a an the of in on at to for from by with about as into over under between through during before after
    and or but not no nor so if then than that this these those there here it its is are was were be been being
    am do does did done have has had having can could may might must shall should will would what which who whom
    whose when where why how much many long often i you he she we they me him her us them my your his our their
    any all each every some such own same other one ones also only just very more most less least up down out off
    per via according says said say tell please document documents page""".split()
)
# Words that carry no fact: an answer that adds only these to the passage's words is still supported by it
# (the scoring grid's `supports`). Smaller than RETRIEVAL_STOPWORDS: "long", "often", "one", "before" state facts.
FACT_STOPWORDS = frozenset(
    "a an the and or of to in on at by for with from as is are was were be been being it its this that these those "
    "there their they them he she his her we you your our i me my not no yes do does did can could should would "
    "may might must will shall if then than so such which who whom whose what when where why how also only about "
    "into per up out any all each some more most less least very just answer".split()
)
# Words too common to show that a generated answer comes from its source chunk (`keywords`): a short list, so
# "long", "many" or "document" still count as the answer's own words.
KEYWORD_STOPWORDS = frozenset(
    "the and for with from that this are was were has have had not but its into per than then them they you your "
    "our".split()
)
ARTICLES = frozenset({"a", "an", "the"})  # what the scoring grid drops, as SQuAD's scorer does
# Digits a passage may spell out: the answer completion finds an answer's "1 year" in a passage's "one year".
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)


@functools.lru_cache(maxsize=200_000)  # words repeat: re-ranking and sentence picking stem every word of every passage
def stem(word: str) -> str:
    """A crude suffix stripper: enough to match plural and tense variants, never applied to numbers."""
    if any(ch.isdigit() for ch in word) or len(word) <= 4:
        return word
    for suffix in ("ities", "ies", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: len(word) - len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Content words of `text`, lower case and lightly stemmed (so 'filters' meets 'filter', 'cleaning' 'cleaned')."""
    return [stem(t) for t in term_tokens(text) if t not in RETRIEVAL_STOPWORDS]


def keywords(text: str) -> list[str]:
    """The words that show where a generated answer comes from: numbers, and words of three letters or more that
    are not KEYWORD_STOPWORDS (`tokenize` tokens, unstemmed)."""
    return [w for w in tokenize(text) if w.isdigit() or (len(w) > 2 and w not in KEYWORD_STOPWORDS)]


# ---------------------------------------------------------------- normal forms


def normalise(text: str) -> str:
    """Lower-case, NFKC-folded, accent-free text without citation markers, punctuation or articles (scoring)."""
    return " ".join(score_tokens(text))


def normalise_plain(text: str) -> str:
    """Lower-case letters and digits joined by single spaces: two questions that differ only in case or punctuation."""
    return " ".join(tokenize(text))


def normalise_whole_numbers(text: str) -> str:
    """`words_and_numbers` joined by spaces: the form in which an answer is looked for verbatim in a passage."""
    # Numbers stay whole ("565.253" is not "565 253"), so an answer "565" is not found inside "§ 565.253".
    return " ".join(words_and_numbers(text))


# ---------------------------------------------------------------- coverage and containment


def question_coverage(question: str, passages: Sequence[str], idf: Mapping[str, float] | None = None) -> float:
    """Share (weighted by rarity) of the question's content words that appear in the passages, 0–1.

    `idf` gives each word's rarity in the collection; a word the collection never uses weighs as much as
    its rarest word. Without `idf` all words weigh the same.
    """
    q_terms = list(dict.fromkeys(terms(question)))
    if not q_terms:
        return 1.0
    present: set[str] = set()
    for passage in passages:
        present |= set(terms(passage))
    ceiling = max(idf.values(), default=1.0) if idf else 1.0
    weight = {t: (idf.get(t, ceiling) if idf else 1.0) for t in q_terms}
    total = sum(weight.values())
    if total <= 0:
        return 1.0
    return sum(w for t, w in weight.items() if t in present) / total


def find_sequence(needle: list[str], hay: list[str]) -> list[int]:
    """Every start in `hay` where the tokens of `needle` occur in order and adjacent (none for an empty needle)."""
    n = len(needle)
    return [i for i in range(len(hay) - n + 1) if hay[i : i + n] == needle] if n else []


def contains_reference(answer: str, reference: str) -> bool:
    """Whether the reference's normalised tokens occur, in order and adjacent, in the answer (any length)."""
    return bool(find_sequence(score_tokens(reference), score_tokens(answer)))
