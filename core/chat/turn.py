"""One chat turn kept in a conversation: the question saved first, the answer streamed, then recorded whole,
partial (stopped half-way) or not at all (failed), and the conversation saved.

The Chat page and `python -m core ask` both answer through `ChatService.turn`, so a question asked either way
lands in the chat history the same way:

    with svc.chat.turn(conversation, question, engine) as turn:   # the question is saved here
        for piece in turn: ...                                     # the answer streams
    # on leaving: the answer recorded (full, or partial with INTERRUPTED when the reader stopped) and saved;
    # an AppError drops the unanswered question again (the conversation is deleted if nothing else is in it)

A failed save never stops the answer: `save_error` says what went wrong (the page keeps the conversation in the
session and saves it again later; the command line reports it).
"""

from __future__ import annotations

from types import TracebackType
from typing import Callable, Generic, Iterator, Protocol, Sequence, TypeVar

from core.chat.answers import Answer
from core.chat.history import INTERRUPTED, ChatHistory, Conversation
from core.errors import AppError


class AnswerStream(Protocol):
    """What a turn needs of a streamed answer (the chat service's AnswerStream): the service builds turns, so the
    turn names the shape instead of importing it back."""

    answer: Answer
    finished: bool

    def __iter__(self) -> Iterator[str]: ...

    def stopped(self, reason: str) -> Answer: ...


S = TypeVar("S", bound=AnswerStream)


class TurnStream(Generic[S]):
    """A question and its answer (or one answer per mode, compared) as one step of a conversation."""

    def __init__(
        self,
        history: ChatHistory,
        conversation: Conversation,
        question: str,
        start: Callable[[], Sequence[S]],
        comparing: bool = False,
    ) -> None:
        self.history = history
        self.conversation = conversation
        self.question = question
        self.comparing = comparing  # recorded as one comparison message, even when a mode failed
        self._start = start
        self.streams: Sequence[S] = []
        self.save_error: AppError | None = None  # the last save's failure (None: the conversation on disk is current)
        self.failed: AppError | None = None  # why the question got no answer (it was dropped from the conversation)

    def __enter__(self) -> TurnStream[S]:
        # Saved before the answer streams: a rerun, a closed tab or a kill mid-answer keeps the question.
        self.conversation.start_answer(self.question)
        self._save()
        try:
            self.streams = self._start()
        except AppError as exc:
            self._fail(exc)
            raise
        return self

    def __iter__(self) -> Iterator[str]:
        """The answer's text pieces (each mode's in turn when comparing)."""
        for stream in self.streams:
            yield from stream

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, AppError):
            self._fail(exc)
            return
        # Finished, or stopped by its reader (Streamlit ends a script by raising inside it): a stream not read to
        # its end is kept as far as it got, marked incomplete.
        answers = [s.answer if s.finished else s.stopped(INTERRUPTED) for s in self.streams]
        if self.comparing:
            self.conversation.add_comparison(answers)
        elif answers:
            self.conversation.add_answer(answers[0])
        self._save()

    def run(self) -> list[Answer]:
        """Save the question, generate every answer to its end, record and save them (the command line's way)."""
        with self:
            for _ in self:
                pass
        return self.answers

    @property
    def answers(self) -> list[Answer]:
        """The answers, one per mode (complete once the streams were read to the end)."""
        return [s.answer for s in self.streams]

    def _fail(self, exc: AppError) -> None:
        """The question got no answer: take it out again (the caller offers it again), keep the rest."""
        self.failed = exc
        self.conversation.drop_unanswered()
        if self.conversation.messages:
            self._save()
            return
        try:  # nothing left: no empty conversation stays behind
            self.history.delete(self.conversation.collection, self.conversation.id)
            self.save_error = None
        except AppError as error:
            self.save_error = error

    def _save(self) -> None:
        try:
            self.history.save(self.conversation)
            self.save_error = None
        except AppError as exc:
            self.save_error = exc
