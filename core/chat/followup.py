"""Follow-up questions: a question that leans on the conversation becomes a standalone question before retrieval.

"And how often for the cutlery basket?" or "How do I remove them?" mean nothing to a search engine, and the model
never sees the conversation either. When a question looks like a follow-up of the previous one, it is rewritten:

- `model`: an instruction model (the Ollama engine) rewrites it from the recent turns (`followup_prompt`);
- `rule`: the embedded Gemma 3 270M base model cannot follow that instruction, so a deterministic rule does it:
  a pronoun (it, they, them, this, …) is replaced by the previous question's main noun phrase ("the filters");
  a fragment ("and for the cutlery basket?", "what about the salt?") takes the previous question and puts its
  own noun phrase in place of the previous one; anything else is followed by the previous question in brackets.

Only questions that look like follow-ups are rewritten (an extra generation per question costs seconds on a CPU).
The previous question is taken in its standalone form, so a chain of follow-ups keeps its subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Sequence

from core.base.words import written_words
from core.chat.prompts import followup_prompt
from core.engines.base import Engine, GenerationRequest
from core.errors import AppError

RECENT_TURNS = 3  # turns given to the model; the rule only needs the last one
# Openings that hang a question on the previous one.
_CONNECTIVES = re.compile(
    r"^\s*(?:and\s+what\s+about|and\s+how\s+about|what\s+about|how\s+about|what\s+if|same\s+for|and\s+also|and|also|but|or|so|then)\b[\s,]*",
    re.IGNORECASE,
)
_REFERRING = frozenset("it its they them their theirs this these those he him his she her".split())
_TRAILING_REFERENCE = re.compile(r"\b(?:that|this|one)\s*[?.!]*\s*$", re.IGNORECASE)  # "how do I do that?"
_DETERMINERS = frozenset("the a an your my our".split())
_QUESTION_WORDS = frozenset("what which who whom whose when where why how".split())
_AUXILIARIES = frozenset(
    "is are was were be been do does did can could may might must shall should will would "
    "has have had need needs".split()
)
# Words that end a noun phrase: prepositions, conjunctions, auxiliaries, relative words.
_PHRASE_END = (
    _AUXILIARIES
    | _QUESTION_WORDS
    | frozenset(
        "of in on at to for from by with about as into over under between through during before after and or but not "
        "that than if then so there it its they them this these those".split()
    )
)
MAX_PHRASE_WORDS = 4

Method = Literal["unchanged", "rule", "model"]


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: the question (in its standalone form when it was rewritten) and the answer."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Rewrite:
    """The question that is searched and answered, and how it was obtained."""

    text: str
    method: Method = "unchanged"
    warning: str = ""


def recent_turns(messages: Sequence[dict[str, Any]], limit: int = RECENT_TURNS) -> tuple[Turn, ...]:
    """The last `limit` question/answer pairs of a conversation's messages (oldest first)."""
    turns: list[Turn] = []
    question: str | None = None
    for message in messages:
        if message.get("role") == "user":
            question = str(message.get("content", ""))
            continue
        if question is None:
            continue
        if message.get("kind") == "comparison":
            answers = message.get("answers") or [{}]
            best = next((a for a in answers if a.get("mode") == message.get("preferred")), answers[0])
            searched, text = best.get("standalone") or question, best.get("text", "")
        else:
            searched, text = message.get("standalone") or question, message.get("content", "")
        turns.append(Turn(str(searched), str(text)))
        question = None
    return tuple(turns[-limit:]) if limit > 0 else ()


def looks_like_followup(question: str) -> bool:
    """Whether a question leans on an earlier one: an opening like "and"/"what about", a pronoun, or almost no words."""
    words = written_words(question)
    if not words:
        return False
    if _CONNECTIVES.match(question) or _TRAILING_REFERENCE.search(question):
        return True
    if any(w in _REFERRING for w in words):
        return True
    content = [w for w in words if w not in _QUESTION_WORDS and w not in _AUXILIARIES and w not in _PHRASE_END]
    return len(content) <= 1  # "Why?", "How often?", "Which setting?"


def main_phrase(question: str) -> str:
    """The first noun phrase led by a determiner ("the filters", "the salt container"), or "" when there is none."""
    words = question.strip().rstrip("?.!").split()
    for i, word in enumerate(words):
        if word.lower() not in _DETERMINERS:
            continue
        phrase = [word]
        for nxt in words[i + 1 : i + 1 + MAX_PHRASE_WORDS]:
            bare = nxt.lower().strip(",;:")
            if bare in _PHRASE_END or bare in _DETERMINERS:
                break
            phrase.append(nxt.strip(",;:"))
            if nxt != nxt.rstrip(",;:"):
                break
        # "How long does the Eco programme take?": after an auxiliary, a phrase running to the end swallowed the verb.
        if len(phrase) > 2 and i + len(phrase) == len(words) and i > 0 and words[i - 1].lower() in _AUXILIARIES:
            phrase.pop()
        if len(phrase) > 1:
            return " ".join(phrase)
    return ""


def rule_rewrite(question: str, previous: str) -> str:
    """The deterministic rewrite of a follow-up against the previous (standalone) question."""
    core = _CONNECTIVES.sub("", question, count=1).strip() or question.strip()
    referent = main_phrase(previous)
    words = written_words(core)
    if referent and any(w in _REFERRING for w in words):
        return _sentence(_replace_first_reference(core, referent))
    own = main_phrase(core)
    if own and _is_full_question(core) and not _TRAILING_REFERENCE.search(core):
        return _sentence(core)  # "and how do I clean the spray arms?" stands on its own once "and" is gone
    if referent and own:
        return _sentence(previous.replace(referent, own, 1))
    # The follow-up first, so a small model answers it; the earlier question after it, for the subject.
    return f"{_sentence(core)} ({previous.strip()})"


def standalone_question(question: str, turns: Sequence[Turn], engine: Engine | None = None, model: str = "") -> Rewrite:
    """The question to search and answer: rewritten from the recent turns when it looks like a follow-up.

    With the Ollama engine (instruction models) the model rewrites it; elsewhere, or when the model's reply is
    unusable, the rule does.
    """
    if not turns or not looks_like_followup(question):
        return Rewrite(question)
    warning = ""
    if engine is not None and engine.name == "ollama" and model:
        try:
            rewritten = _model_rewrite(engine, model, question, turns)
        except AppError as exc:
            rewritten, warning = None, f"The model could not rewrite the follow-up question ({exc}); a simple rule did."
        if rewritten:
            return Rewrite(rewritten, "model") if rewritten != question else Rewrite(question)
    return Rewrite(rule_rewrite(question, turns[-1].question), "rule", warning)


def _model_rewrite(engine: Engine, model: str, question: str, turns: Sequence[Turn]) -> str | None:
    # No newline stop: some chat models open with a blank line; the first non-empty line is the rewrite.
    request = GenerationRequest(model, followup_prompt(question, [(t.question, t.answer) for t in turns]), (), 0.0, 96)
    reply = "".join(engine.generate(request)).strip()
    line = next((part for part in reply.splitlines() if part.strip()), "")
    line = re.sub(r"^\s*(?:standalone\s+question\s*:)\s*", "", line, flags=re.IGNORECASE).strip().strip("\"'“”").strip()
    # A rewrite is the question plus its subject: an empty or rambling reply is not one.
    if not line or len(line) > max(300, 4 * len(question)):
        return None
    return line


_POSSESSIVES = frozenset("its their his her".split())
_REFERENCE = re.compile(r"\b(?:" + "|".join(sorted(_REFERRING, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def _replace_first_reference(text: str, referent: str) -> str:
    def swap(match: re.Match[str]) -> str:
        if match.group(0).lower() not in _POSSESSIVES:
            return referent
        return f"{referent}'" if referent.endswith("s") else f"{referent}'s"  # "its capacity" → "the filters' capacity"

    return _REFERENCE.sub(swap, text, count=1)


def _is_full_question(text: str) -> bool:
    words = written_words(text)
    return (
        bool(words)
        and (words[0] in _QUESTION_WORDS or words[0] in _AUXILIARIES)
        and any(w in _AUXILIARIES for w in words)
    )


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text else text
