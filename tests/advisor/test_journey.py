"""The five steps' states, from what is on disk: the journey reads the real services of a data directory."""

from __future__ import annotations

from pathlib import Path

from core.advisor.journey import JourneyService, Sources
from core.library.service import UploadedFile
from core.services import Services

FACT = "Check and clean the filters once a week, and rinse them under running water."


def fixed(indexed: tuple[int, int] = (0, 0), answers: int = 0, variants: int = 0, runs: int = 0) -> Sources:
    return Sources(lambda: indexed, lambda: answers, lambda: variants, lambda: runs)


def test_a_fresh_data_directory_starts_at_documents_with_every_other_step_to_do(services: Services) -> None:
    progress = services.journey.progress()
    assert [(s.name, s.state) for s in progress.steps] == [
        ("Documents", "next"),
        ("Chat", "todo"),
        ("Fine-tune", "todo"),
        ("Evaluate", "todo"),
        ("Advisor", "todo"),
    ]
    assert progress.next is not None and progress.next.page == "pages/documents.py" and progress.done == 0
    assert progress.steps[0].detail == "no documents indexed yet"


def test_indexed_documents_and_an_answer_move_the_next_step_to_fine_tune(services: Services) -> None:
    services.library.ingest("manuals", [UploadedFile("filters.txt", FACT.encode())])
    chat = services.history.new("manuals")
    chat.add_question("How often are the filters cleaned?")
    chat.messages.append({"role": "assistant", "content": "Once a week."})
    services.history.save(chat)
    progress = services.journey.progress()
    assert [s.state for s in progress.steps] == ["done", "done", "next", "todo", "todo"]
    assert progress.steps[0].detail == "1 passage indexed in 1 collection"  # one short file: one chunk
    assert progress.steps[1].detail == "1 answer so far"
    assert progress.next is not None and progress.next.name == "Fine-tune"


def test_a_step_skipped_stays_next_and_advice_given_is_remembered(tmp_path: Path) -> None:
    journey = JourneyService(tmp_path, fixed(indexed=(2, 40), answers=3, runs=1))
    progress = journey.progress()
    assert [s.state for s in progress.steps] == ["done", "done", "next", "done", "todo"]  # no variant built yet
    assert progress.steps[0].detail == "40 passages indexed in 2 collections"
    assert not progress.complete and journey.advised_at() is None
    journey.note_advice()
    again = JourneyService(tmp_path, fixed(indexed=(2, 40), answers=3, variants=1, runs=1)).progress()
    assert again.complete and again.next is None and again.steps[4].detail.startswith("advice given ")


def test_a_damaged_advice_marker_reads_as_not_given(tmp_path: Path) -> None:
    (tmp_path / "journey.json").write_text("{not json")
    assert JourneyService(tmp_path, fixed()).advised_at() is None
