"""The chat service: a question answered in one of the four modes, streamed, with the sources it used.

    base       the base model alone
    rag        the base model with retrieved passages (the default)
    finetuned  the fine-tuned variant alone
    hybrid     the fine-tuned variant with retrieved passages

`ChatService.compare` answers one question in several modes on one engine (one stream per mode, each
answer labelled with what really ran); the Chat page lays the streams out in columns, the CLI prints them.
`ChatService.turn` is one step of a conversation (core/chat/turn.py): the question saved, the answer (or the
comparison) streamed, then recorded and saved; the Chat page and `python -m core ask` both use it.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Literal, Sequence

from core.chat.answer_span import complete_value
from core.chat.answers import Answer
from core.chat.confidence import DEFAULT_THRESHOLD, load_calibration, rate, threshold_note
from core.chat.evidence import select_evidence
from core.chat.followup import Rewrite, Turn, standalone_question
from core.chat.grounding import answers_after_refusal, attribute, holds_every_word, question_coverage
from core.chat.history import ChatHistory, Conversation
from core.chat.prompts import COMPLETION_STOPS, NOT_FOUND, READ_REFUSAL, REFUSAL_OPENINGS, plain_prompt, rag_prompt
from core.chat.turn import TurnStream
from core.config import Settings
from core.engines.base import Engine, Generation, GenerationRequest, concurrency
from core.engines.resolver import EngineOverview, Engines
from core.errors import AppError, ConfigError, GenerationInterruptedError, VariantError
from core.index.retrieval import Method, Retriever, Searcher

Mode = Literal["base", "rag", "finetuned", "hybrid"]
MODES: dict[str, str] = {
    "base": "Base model alone",
    "rag": "Base model + retrieved passages (RAG)",
    "finetuned": "Fine-tuned variant alone",
    "hybrid": "Fine-tuned variant + retrieved passages",
}
RETRIEVAL_MODES = ("rag", "hybrid")
VARIANT_MODES = ("finetuned", "hybrid")
_MARKER = re.compile(r"\[(\d{1,2})\]")
SECOND_LOOK_TOKENS = 32  # the second look keeps only a short answer (grounding.SECOND_LOOK_MAX_WORDS)
# An empty generation is asked once more; at temperature 0 with the same seed an engine repeats itself, so the retry
# samples a little, with another seed.
RETRY_TEMPERATURE = 0.3
NO_ANSWER = (
    "the model returned an empty answer, twice (asked again once). Ask again, rephrase the question, "
    "or try another mode."
)
RETRY_NOTE = "The model's first answer was empty; this is its second try."
SECOND_LOOK_NOTE = (
    'The model first answered "not in the documents"; asked again with that answer set aside, it gave this one, '
    "which the cited passage holds: check the source."
)


@dataclass(frozen=True)
class Question:
    """One question and how to answer it."""

    text: str
    mode: Mode
    collection: str | None
    base_model: str
    variant_model: str | None = None
    top_k: int = 4
    temperature: float = 0.1
    retrieval: Method = "dense"
    max_tokens: int = 256
    history: tuple[Turn, ...] = ()  # recent turns of the conversation, for follow-up questions
    follow_up: bool = True  # rewrite a follow-up into a standalone question (False: search the question as typed)


class AnswerStream:
    """Iterate for the answer's text pieces; afterwards `answer` is complete.

    An engine failure in the middle keeps the partial text and marks the answer incomplete
    instead of losing it.
    """

    def __init__(
        self,
        answer: Answer,
        generation: Generation | None,
        started: float,
        keep_errors: bool = False,
        read: Sequence[str] = (),
        second_look: Callable[[], Generation] | None = None,
        retry: Callable[[], Generation] | None = None,
        confidence_threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.answer = answer
        self._threshold = confidence_threshold  # below it a finished answer is flagged "unsure"
        self._retry = retry  # asked once when the generation is empty or only whitespace
        # A refusal by a base model reading its evidence is held back and, where the engine can ban the refusal's
        # first token, the same prompt is answered again without it (measured: README, answer quality).
        self._second_look = second_look
        self._read = tuple(read)  # the passage text the model was given (its sentences), searched first for its value
        self._generation = generation
        self._started = started
        # in a comparison one mode's failure must not stop the others: record it in the answer instead of raising
        self._keep_errors = keep_errors
        self._pieces: list[str] = []  # the text so far: kept by `stopped()` when the reader stops half-way
        self._held_ms = 0.0  # how long the first pieces were held back before the reader saw text
        self._answered_by: Generation | None = None  # the second look, when its answer replaced a refusal
        self.finished = False

    def __iter__(self) -> Iterator[str]:
        if self._generation is None:
            yield self.answer.text
            self._finish()
            return
        pieces = self._pieces
        held: list[str] = []  # pieces that so far read as the refusal, not shown unless it stays one
        held_since = 0.0
        holding = self._second_look is not None
        try:
            for piece in self._generated():
                pieces.append(piece)
                if holding:
                    held_since = held_since or time.perf_counter()
                    held.append(piece)
                    if READ_REFUSAL.startswith(_as_refusal("".join(pieces))):
                        continue
                    holding, piece, held = False, "".join(held), []
                    self._held_ms = (time.perf_counter() - held_since) * 1000
                yield piece
        except GenerationInterruptedError as exc:
            self.answer.incomplete = True
            self.answer.error = str(exc)
        except AppError as exc:
            if not self._keep_errors:
                raise
            self.answer.incomplete = True
            self.answer.error = str(exc)
        self.answer.text = "".join(pieces).strip()
        if not self.answer.text and not self.answer.incomplete:
            # Never saved or shown as an empty answer: it is "no answer", with the reason, offered again.
            self.answer.incomplete = True
            self.answer.error = NO_ANSWER
        if held and not self.answer.incomplete and self._look_again():
            held = [self.answer.text]
        if held:
            self._held_ms = (time.perf_counter() - held_since) * 1000
            yield "".join(held)
        if self.answer.sources and not self.answer.incomplete:
            # The page reruns after the stream, so the user reads the completed value ("at least 30 seconds").
            self.answer.text = complete_value(
                self.answer.text, self._passage_texts(), self.answer.standalone or self.answer.question
            )
            marker = self._attribute()
            if marker:
                yield marker
        self._finish()

    def _generated(self) -> Iterator[str]:
        """The generation's pieces; when they hold no text at all, the retry's (once)."""
        assert self._generation is not None
        yield from self._generation
        if self._retry is None or "".join(self._pieces).strip():
            return
        self._pieces.clear()  # whitespace only: the retry's text replaces it
        self._generation = self._retry()  # its stats are the ones reported
        self.answer.timings["retries"] = 1
        produced = False
        for piece in self._generation:
            produced = produced or bool(piece.strip())
            yield piece
        if produced:
            self.answer.warnings.append(RETRY_NOTE)

    def _passage_texts(self) -> list[str]:
        """What the answer is checked against: the sentences the model read first, then the whole passages."""
        return [*self._read, *(s.text for s in self.answer.sources)]

    def _look_again(self) -> bool:
        """After a refusal: the same prompt without the refusal; True when its answer replaced the refusal."""
        if self._second_look is None or _as_refusal(self.answer.text) != READ_REFUSAL:
            return False
        started = time.perf_counter()
        try:
            again = self._second_look()
            text = "".join(again).strip()
        except AppError:
            return False  # the refusal stands
        finally:
            self.answer.timings["second_look_ms"] = _round((time.perf_counter() - started) * 1000)
        if not answers_after_refusal(text, self.answer.standalone or self.answer.question, self._passage_texts()):
            return False
        self.answer.text = text
        self.answer.warnings.append(SECOND_LOOK_NOTE)
        self._answered_by = again
        return True

    def _attribute(self) -> str:
        """Cite the passage that holds the answer's facts, or flag the answer; returns the marker appended (if any)."""
        outcome = attribute(self.answer.text, [s.text for s in self.answer.sources], NOT_FOUND)
        self.answer.cited = list(outcome.cited)
        # The stored text (what history and exports show) drops markers of passages that do not hold the answer.
        self.answer.text = outcome.apply(self.answer.text)
        for flag in outcome.flags:
            if flag not in self.answer.flags:
                self.answer.flags.append(flag)
        return outcome.marker

    def stopped(self, reason: str) -> Answer:
        """The answer as far as it got when its reader stopped (a page rerun or a closed tab): marked incomplete."""
        if not self.finished:
            self.answer.text = "".join(self._pieces).strip()
            self.answer.incomplete = True
            self.answer.error = self.answer.error or reason
        return self.answer

    def _finish(self) -> None:
        self.finished = True
        # once the text, citation and flags are final: a few milliseconds, no model call
        stats = getattr(self._generation, "stats", None)
        # the probabilities of the tokens shown: the second look's when its answer replaced the refusal
        answered = getattr(self._answered_by or self._generation, "stats", None)
        rate(
            self.answer,
            self._threshold,
            SECOND_LOOK_NOTE in self.answer.warnings,
            getattr(answered, "token_logprobs", None),
            getattr(answered, "token_alternatives", None),
        )
        total = (time.perf_counter() - self._started) * 1000
        # The first token the reader saw: a refusal held back for a second look shows only after it.
        first_shown = stats.first_token_ms + self._held_ms if stats and stats.first_token_ms is not None else None
        self.answer.timings.update(
            {
                "first_token_ms": _round(first_shown),
                "held_back_ms": _round(self._held_ms),
                "generation_ms": _round(stats.total_ms if stats else None),
                "total_ms": _round(total),
                "tokens": stats.completion_tokens if stats else 0,
                "prompt_tokens": stats.prompt_tokens if stats else None,
                "tokens_per_s": _round(stats.tokens_per_s if stats else None),
            }
        )
        if stats:
            self.answer.warnings.extend(w for w in stats.warnings if w not in self.answer.warnings)
            self.answer.served_model, self.answer.adapter = stats.served_model, stats.adapter
            self.answer.prompt_form = stats.prompt_form
            if (
                self.answer.mode in VARIANT_MODES
                and self.answer.engine == "embedded"
                and not stats.adapter
                and self.answer.text
            ):
                self.answer.warnings.append(
                    "No adapter ran: this is the base model's answer, not the fine-tuned variant's."
                )


def compare_concurrency(engine: Engine) -> int:
    """How many modes `compare` generates at once on `engine`: the server's slots on openai, else one at a time."""
    return concurrency(engine)


_DONE = object()
# how long a reader that stops waits for the worker to leave the answer alone
STOP_WAIT_S = 2.0


class AheadStream(AnswerStream):
    """An AnswerStream generated on a worker thread while the reader still reads the modes before it.

    The reader sees the same pieces in the same order as reading the stream itself, and the same `answer` once
    it has read to the end; a reader that stops half-way keeps what it saw, as with the stream itself.
    """

    def __init__(self, inner: AnswerStream, pool: ThreadPoolExecutor) -> None:
        # not the parent's __init__: this stream generates nothing itself, it hands on the inner stream's pieces
        self.inner = inner
        self.answer = inner.answer  # the same object: complete once the worker has finished it
        self._queue: queue.Queue[Any] = queue.Queue()
        self._seen: list[str] = []
        self._stop = threading.Event()
        self.finished = False  # read to its end by the reader (the worker may have ended earlier)
        self._future = pool.submit(self._generate)

    def _generate(self) -> None:
        pieces = iter(self.inner)
        try:
            for piece in pieces:
                if self._stop.is_set():
                    break  # the reader has gone: stop asking the server for more
                self._queue.put(piece)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it where reading would have
            self._queue.put(exc)
            return
        finally:
            pieces.close()  # type: ignore[attr-defined]
        self._queue.put(_DONE)

    def __iter__(self) -> Iterator[str]:
        while not self.finished:
            item = self._queue.get()
            if item is _DONE:
                self.finished = True
            elif isinstance(item, BaseException):
                raise item
            else:
                self._seen.append(item)
                yield item

    def stopped(self, reason: str) -> Answer:
        """The answer as far as its reader saw it when it stopped: marked incomplete."""
        if self.finished:
            return self.answer
        self._stop.set()
        if not self._future.cancel():
            # wait for the worker to leave the answer alone (it stops at its next piece), within reason
            try:
                self._future.result(timeout=STOP_WAIT_S)
            except FutureTimeout:
                # still waiting for the server: report what the reader saw on a copy the worker cannot change
                return replace(self.answer, text="".join(self._seen).strip(), incomplete=True, error=reason)
        self.answer.text = "".join(self._seen).strip()
        self.answer.incomplete = True
        self.answer.error = self.answer.error or reason
        return self.answer


@dataclass
class Comparison:
    """One question answered by several modes; iterate each stream (e.g. one per column), then read the answers."""

    question: str
    engine: str
    streams: list[AnswerStream]

    @property
    def answers(self) -> list[Answer]:
        """The answers, in the order of the modes (complete once every stream was iterated)."""
        return [s.answer for s in self.streams]

    def run(self) -> list[Answer]:
        """Generate every answer to the end, one mode after the other (the command line's way)."""
        for stream in self.streams:
            for _ in stream:
                pass
        return self.answers

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON: the question, the engine, and every mode's answer labelled with its mode."""
        return {
            "question": self.question,
            "engine": self.engine,
            "modes": [a.mode for a in self.answers],
            "answers": [{k: v for k, v in a.to_dict().items() if k != "question"} for a in self.answers],
        }


class ChatService:
    """Turns a question into a streamed answer in the chosen mode."""

    def __init__(
        self, settings: Settings, retriever: Searcher, engines: Engines, history: ChatHistory | None = None
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.engines = engines
        # a chat service that only answers (an evaluation job) needs no history of its own
        self.history = history if history is not None else ChatHistory(settings.data_dir)

    def confidence_note(self) -> str:
        """What the confidence threshold meant on the evaluation the calibration was fitted on, in words."""
        return threshold_note(load_calibration(), self.settings.confidence_threshold)

    def overview(self, engine: str | None = None) -> EngineOverview:
        """The engine a choice resolves to, its status, base models and the variants the fine-tuned modes may use."""
        return self.engines.overview(engine)

    def ask(self, question: Question, engine: str | Engine | None = None, *, keep_errors: bool = False) -> AnswerStream:
        """Retrieve (in the RAG modes), build the mode's prompt and start generating.

        `engine` is the user's choice (auto|ollama|embedded, default DOMAINCHAT_ENGINE) or an engine instance.
        """
        started = time.perf_counter()
        engine = self.engines.resolve(engine)
        model = self.model_for(question)
        answer = Answer(question.text, "", question.mode, engine.name, model)
        rewrite = self.standalone(question, engine)
        text = rewrite.text  # what is searched and asked: the model never sees the conversation
        if rewrite.method != "unchanged":
            answer.standalone, answer.rewritten_by = text, rewrite.method
        if rewrite.warning:
            answer.warnings.append(rewrite.warning)
        prompt = plain_prompt(text)
        read: list[str] = []
        second_look: Callable[[], Generation] | None = None
        if question.mode in RETRIEVAL_MODES:
            if not question.collection:
                raise VariantError(
                    "RAG needs a collection: create one and upload documents on the Documents page, "
                    "or switch the mode to base."
                )
            found = self.retriever.search(question.collection, text, question.top_k, question.retrieval)
            answer.timings["retrieval_ms"] = _round(found.ms)
            coverage = question_coverage(text, [c.text for c in found.chunks]) if found.chunks else 0.0
            # A page of form labels or table cells sits far from any question in MiniLM's space (a claim form:
            # 0.24 for "Who is the policy holder?") while it holds every word of it: those still get read.
            far = found.best_similarity < self.settings.min_similarity
            if not found.chunks or (far and not holds_every_word(text, coverage)):
                answer.text = (
                    f"{NOT_FOUND} Nothing in the collection '{question.collection}' is close enough to the question "
                    f"(best similarity {found.best_similarity:.2f}, threshold {self.settings.min_similarity:.2f}), "
                    "so no answer was generated rather than a guess."
                )
                return AnswerStream(answer, None, started)
            answer.sources = found.chunks
            answer.timings["question_coverage"] = round(coverage, 2)
            if coverage < self.settings.min_coverage:
                answer.text = (
                    f"{NOT_FOUND} The passages found do not mention most of what the question asks about "
                    f"(they cover {coverage:.0%} of its words), so no answer was generated rather than a guess: "
                    "see the sources."
                )
                return AnswerStream(answer, None, started)
            evidence = select_evidence(text, found.chunks)
            read = [c.text for _, c in evidence]
            prompt = rag_prompt(text, found.chunks, evidence)
            if getattr(engine, "bans_openings", False):
                again = GenerationRequest(
                    model,
                    prompt,
                    COMPLETION_STOPS,
                    question.temperature,
                    min(question.max_tokens, SECOND_LOOK_TOKENS),
                    banned_openings=REFUSAL_OPENINGS,
                )
                second_look = lambda: engine.generate(again)  # noqa: E731 - built here, run only after a refusal
        if question.mode in VARIANT_MODES and model == question.base_model:
            answer.warnings.append(
                f"The variant picked is the base model {model} itself: this is not a fine-tuned answer."
            )
        request = GenerationRequest(model, prompt, COMPLETION_STOPS, question.temperature, question.max_tokens)
        retry = replace(request, temperature=max(request.temperature, RETRY_TEMPERATURE), seed=(request.seed or 0) + 1)
        return AnswerStream(
            answer,
            engine.generate(request),
            started,
            keep_errors=keep_errors,
            read=read,
            second_look=second_look,
            retry=lambda: engine.generate(retry),
            confidence_threshold=self.settings.confidence_threshold,
        )

    def compare(self, question: Question, modes: Sequence[str], engine: str | Engine | None = None) -> Comparison:
        """The same question in several modes on one engine: one stream per mode, each labelled with what ran.

        A mode that cannot run (no variant, no collection, engine down) gets an answer carrying the error,
        so the other modes still answer.
        """
        chosen = list(dict.fromkeys(modes))  # unique, in the order given
        unknown = [m for m in chosen if m not in MODES]
        if unknown or not chosen:
            raise ConfigError(
                f"Modes {', '.join(unknown) or '(none)'} are not valid: compare some of {', '.join(MODES)}."
            )
        resolved = self.engines.resolve(engine)  # once: every mode runs on the same engine
        rewrite = self.standalone(question, resolved)  # once: every mode answers the same standalone question
        streams = []
        for mode in chosen:
            one = replace(question, mode=mode, history=(), follow_up=False, text=rewrite.text)  # type: ignore[arg-type]
            try:
                stream = self.ask(one, resolved, keep_errors=True)
            except AppError as exc:
                failed = Answer(
                    one.text,
                    "",
                    mode,
                    resolved.name,
                    (one.variant_model or "") if mode in VARIANT_MODES else one.base_model,
                    incomplete=True,
                    error=str(exc),
                )
                stream = AnswerStream(failed, None, time.perf_counter())
            _record_rewrite(stream.answer, question.text, rewrite)
            streams.append(stream)
        workers = min(compare_concurrency(resolved), len(streams))
        if workers > 1:
            # Retrieval is done above for every mode, so only generations overlap: at most `workers` at once.
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compare")
            streams = [AheadStream(stream, pool) for stream in streams]
            pool.shutdown(wait=False)  # the submitted generations still run; the threads end with the last
        return Comparison(question.text, resolved.name, streams)

    def turn(
        self,
        conversation: Conversation,
        question: Question,
        engine: str | Engine | None = None,
        modes: Sequence[str] | None = None,
        on_wait: Callable[[str], object] | None = None,
    ) -> TurnStream[AnswerStream]:
        """`question` as the next step of `conversation`, answered in its mode (or compared in `modes`), and saved.

        Use it as a context manager (the question is saved on entering, the answer on leaving) and iterate it or its
        `streams`; or call `run()` to answer to the end. `on_wait` hears, before it starts, of a wait for something
        retrieval loads once (the keyword index after a restart), so the reader is told rather than left waiting.
        """

        def ready() -> None:
            retrieving = any(m in RETRIEVAL_MODES for m in (modes if modes is not None else [question.mode]))
            if on_wait is None or not retrieving or not question.collection:
                return
            if isinstance(self.retriever, Retriever):  # a run's recorded retrieval loads nothing
                wait = self.retriever.keyword_wait(question.collection, question.retrieval)
                if wait:
                    on_wait(wait)
                    self.retriever.prepare(question.collection, question.retrieval)

        def answered() -> list[AnswerStream]:
            ready()
            return [self.ask(question, engine)]

        def compared() -> list[AnswerStream]:
            ready()
            return self.compare(question, modes or (), engine).streams

        if modes is None:
            return TurnStream(self.history, conversation, question.text, answered)
        return TurnStream(self.history, conversation, question.text, compared, comparing=True)

    def standalone(self, question: Question, engine: Engine) -> Rewrite:
        """The question to search and answer: a follow-up rewritten from the recent turns, unless switched off.

        The base model rewrites (a fine-tuned variant was trained to answer, not to rewrite); `core.chat.followup`
        decides whether it can, or a rule does.
        """
        if not question.follow_up or not question.history:
            return Rewrite(question.text)
        return standalone_question(question.text, question.history, engine, question.base_model)

    @staticmethod
    def model_for(question: Question) -> str:
        """The model a mode uses: the fine-tuned variant for `finetuned`/`hybrid`, else the base model."""
        if question.mode in VARIANT_MODES:
            if not question.variant_model:
                raise VariantError(
                    "There is no fine-tuned variant yet: build one on the Fine-tune page "
                    "(or `python -m core finetune …`), "
                    "or pick an existing model as the variant in the sidebar. Until then use the base or rag mode."
                )
            return question.variant_model
        return question.base_model


def _record_rewrite(answer: Answer, typed: str, rewrite: Rewrite) -> None:
    """Label a comparison's answer with the question as typed and the standalone form all modes answered."""
    answer.question = typed
    if rewrite.method != "unchanged":
        answer.standalone, answer.rewritten_by = rewrite.text, rewrite.method
    if rewrite.warning and rewrite.warning not in answer.warnings:
        answer.warnings.append(rewrite.warning)


def _as_refusal(text: str) -> str:
    """An answer (so far) as compared with the completion prompt's refusal: no markers, spacing, final dot or case."""
    return " ".join(_MARKER.sub("", text).split()).strip(" .").lower()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
