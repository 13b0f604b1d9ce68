"""The reusable parser process: one start for many files, and a hang, crash or memory hog still costs only
its own file, with the same reasons as the one-process-per-file parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.library.parsing.loaders import ParseFailure, load
from core.library.parsing.parse_pool import ParseWorker
from core.services import Services


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_many_files_are_parsed_by_one_process_with_the_loaders_result(tmp_path: Path) -> None:
    files = [write(tmp_path, f"f{i}.txt", f"File {i} says the filter is cleaned every {i} weeks.") for i in range(30)]
    with ParseWorker(timeout_s=60, memory_mb=1536) as worker:
        for path in files:
            assert worker.parse(path, "txt") == load(path, "txt")
        assert worker.starts == 1


@pytest.mark.slow
def test_a_hang_a_crash_a_hog_and_a_printer_each_cost_only_their_own_file(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", "The drain pump is cleaned monthly.")
    with ParseWorker(timeout_s=5, memory_mb=1536, parser="tests.helpers.mixed_parser:parse") as worker:
        assert worker.parse(good, "txt") == load(good, "txt")
        with pytest.raises(ParseFailure) as hang:
            worker.parse(write(tmp_path, "hang.txt", "HANG"), "txt")
        assert hang.value.code == "timeout" and "DOMAINCHAT_PARSE_TIMEOUT_S" in str(hang.value)
        assert worker.parse(good, "txt") == load(good, "txt")
        assert worker.starts == 2  # the first, and one after the hang
    # A slow machine needs seconds to fill the memory limit: no short timeout for these.
    with ParseWorker(timeout_s=300, memory_mb=1536, parser="tests.helpers.mixed_parser:parse") as worker:
        with pytest.raises(ParseFailure) as crash:
            worker.parse(write(tmp_path, "crash.txt", "CRASH"), "txt")
        assert crash.value.code == "crash" and "re-export" in str(crash.value)
        with pytest.raises(ParseFailure) as hog:
            worker.parse(write(tmp_path, "hog.txt", "HOG"), "txt")
        assert hog.value.code == "memory" and "DOMAINCHAT_PARSE_MEMORY_MB" in str(hog.value)
        printer = write(tmp_path, "print.txt", "PRINT then the real text.")
        assert worker.parse(printer, "txt") == load(printer, "txt")
        assert worker.parse(good, "txt") == load(good, "txt")
        assert worker.starts == 3  # the first, and one after each of crash and hog


def test_the_worker_is_renewed_after_max_files(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "Short text.")
    with ParseWorker(timeout_s=60, memory_mb=1536, max_files=3) as worker:
        for _ in range(7):
            worker.parse(path, "txt")
        assert worker.starts == 3


def test_an_upload_uses_the_parser_process_started_ahead_and_keeps_it_for_the_next(services: Services) -> None:
    from core.library.types import UploadedFile

    services.library.parsers.warm()
    spare = services.library.parsers._idle[0]
    pid = spare.pid
    assert pid is not None
    for i in range(2):
        files = [
            UploadedFile(f"u{i}-{j}.txt", f"Upload {i} file {j}: descale every {j + 2} months.".encode())
            for j in range(3)
        ]
        results = services.library.ingest("docs", files)
        assert [r.status for r in results] == ["indexed"] * 3
        assert services.library.parsers._idle == [spare] and spare.pid == pid and spare.starts == 1
    services.close()
    assert spare.pid is None  # closing the services stops the kept process


@pytest.mark.slow
def test_a_worker_stopped_by_a_hang_is_not_kept_and_the_next_upload_gets_a_running_one(tmp_path: Path) -> None:
    from core.library.parsing.parse_pool import SpareWorkers

    spares = SpareWorkers(timeout_s=2, memory_mb=1536, parser="tests.helpers.mixed_parser:parse")
    worker = spares.take()
    with pytest.raises(ParseFailure):
        worker.parse(write(tmp_path, "hang.txt", "HANG"), "txt")
    assert not worker.running
    spares.give_back(worker)
    assert spares._idle == []
    fresh = spares.take()
    good = write(tmp_path, "good.txt", "The drain pump is cleaned monthly.")
    assert fresh is not worker and fresh.parse(good, "txt") == load(good, "txt")
    spares.give_back(fresh)
    second = spares.take()
    spares.give_back(second)
    spares.give_back(spares._make())  # a second idle worker beyond KEEP is stopped, not kept
    assert spares._idle == [fresh]
    spares.close()
    assert not fresh.running
