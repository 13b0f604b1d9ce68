"""Rule-based rewordings of a question: weak surface rewordings, for the paraphrase recipe only.

The paraphrase recipe trains each pair also under rewordings of its question. An instruction model writes real
rewordings (`core.finetune.generation.reword_question`); the bundled Gemma 3 270M is a base model and cannot (asked
for Q&A it writes ~0 usable pairs, see `FineTuneService.generator_warning`), so on that engine the recipe would train
nothing new. These rules stand in for it: they are deterministic and always give something, but they are WEAK: they
move a clause ("What is the X of Y?" → "Y: what is its X?"), turn the question into a request ("Tell me what X is.")
or swap the question frame for a synonym ("How often" → "How frequently", "Who" → "Which person"). They never change a
content word, so a variant trained on them learns that one fact may be asked in several frames, not that it may be
asked in other words; the evaluation's reworded half (written by people or a model) asks in other words, and it is
what tells whether that helped.
"""

from __future__ import annotations

import re

from core.base.words import normalise_plain

# the verbs that start a wh-question's inverted clause: "What colour IS the casing?" → "what colour the casing is"
_COPULA = r"is|are|was|were"
# a wh-question's opening: the wh-word and, for what/which/how, the word it asks about ("what colour", "how long")
_WH_COPULA = re.compile(
    rf"^(?P<wh>(?:what|which|how)(?:\s+[\w-]+)?|who|where|when|why)\s+(?P<aux>{_COPULA})\s+(?P<rest>.+)$", re.I
)
# "What is the X of Y" (also "for", "under", "in", "on"): the last such phrase is moved to the front
_OF_PHRASE = re.compile(
    rf"^(?P<head>(?:what|which)\s+(?P<aux>{_COPULA})\s+)the\s+(?P<x>.+?)\s+(?:of|for)\s+(?P<y>.+)$", re.I
)
# a trailing phrase that names a thing ("of the Zorblax 3000", "on the DW-450"), never a number ("under the rule of 15")
_TAIL_PHRASE = re.compile(r"^(?P<head>.+)\s+(?P<prep>of|for|under|in|on)\s+(?P<y>(?:the\s+[\w-]|[A-Z])[^,;]*)$")
# words that show a question's verb comes after its subject ("What should you do"): no request form can be made
# without moving them, which these rules do not attempt
_AUXILIARIES = frozenset(
    "is are was were do does did should can could must may might will would shall has have had".split()
)
_ENDS_IN_PREPOSITION = re.compile(r"\b(?:to|for|of|with|on|in|at|from|by|about)$", re.I)
# Question frames and their synonyms: only frames whose meaning is the same in every question they open.
_FRAME_SYNONYMS = (
    (re.compile(r"^how often\b", re.I), "How frequently"),
    (re.compile(r"^how many\b", re.I), "What number of"),
    (re.compile(r"^how much\b", re.I), "What amount of"),
    (re.compile(r"^who\b", re.I), "Which person"),
    (re.compile(r"^where\b", re.I), "In what place"),
    (re.compile(r"^why\b", re.I), "For what reason"),
    # "What colour" → "Which colour", never "What should you do" → "Which should you do"
    (re.compile(rf"^what\b(?!\s+(?:{'|'.join(sorted(_AUXILIARIES))})\b)", re.I), "Which"),
    (re.compile(r"^what\s+(is|are)\b", re.I), r"Which \1"),
)


def _body(question: str) -> str:
    return question.strip().rstrip("?.! ").strip()


def _lower_first(text: str) -> str:
    # "What" → "what", but a name or code opening the question ("HbA1c", "DW-450") keeps its case
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _moved_clause(body: str) -> str:
    """ "What is the X of Y" → "Y: what is its X"; else a trailing named phrase first: "Y: how long is the X"."""
    m = _OF_PHRASE.match(body)
    if m:
        its = "their" if m["aux"].lower() in ("are", "were") else "its"
        return f"{_upper_first(m['y'])}: {_lower_first(m['head'])}{its} {m['x']}"
    m = _TAIL_PHRASE.match(body)
    if m and len(m["head"].split()) >= 2:
        return f"{_upper_first(m['y'])}: {_lower_first(m['head'])}"
    return ""


def _request(body: str) -> str:
    """The question as a request: "What colour is the casing" → "Tell me what colour the casing is"."""
    m = _WH_COPULA.match(body)
    if m:
        if _ENDS_IN_PREPOSITION.search(m["rest"]):  # "what is the liability limited to": the verb is not the copula
            return ""
        return f"Tell me {_lower_first(m['wh'])} {m['rest']} {m['aux'].lower()}"
    words = body.lower().split()
    if words[0] in ("who", "what", "which") and not _AUXILIARIES & set(words[1:5]):
        return f"Tell me {_lower_first(body)}"  # "Who invented the valve": the wh-word is the subject, the order stays
    return ""


def _synonym_frame(body: str) -> str:
    for pattern, synonym in _FRAME_SYNONYMS:
        if pattern.search(body):
            return pattern.sub(synonym, body, count=1)
    return ""


def rule_rewordings(question: str) -> list[str]:
    """Deterministic surface rewordings of `question` (distinct, none equal to it), strongest rule first.

    Clause moved, request form, synonym frame; then the question behind a lead-in ("I would like to know: …", "Quick
    question: …"), which every question takes, so each question has at least two.
    """
    body = _body(question)
    if not body:
        return []
    made = [
        (_moved_clause(body), "?"),
        (_request(body), "."),
        (_synonym_frame(body), "?"),
        (f"I would like to know: {_lower_first(body)}", "?"),
        (f"Could you say {_request(body)[len('Tell me ') :]}" if _request(body) else "", "?"),
        (f"Quick question: {_lower_first(body)}", "?"),
    ]
    out: list[str] = []
    seen = {normalise_plain(question)}
    for text, end in made:
        if not text:
            continue
        key = normalise_plain(text)
        if key and key not in seen:
            seen.add(key)
            out.append(_upper_first(text) + end)
    return out
