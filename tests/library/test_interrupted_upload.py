"""An upload cut off between files keeps the finished files indexed and says which to upload again (issue 10, item
5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.library.types import Progress, UploadedFile
from core.services import Services, build_services

ROOT = Path(__file__).resolve().parents[2]


class ClickedElsewhere(BaseException):
    """What Streamlit raises in the script thread when a click reruns the page during an upload (a BaseException)."""


def _files() -> list[UploadedFile]:
    return [
        UploadedFile(f"part-{i}.txt", (f"Part {i}: the descaler is added every {i + 2} months. " * 40).encode())
        for i in range(3)
    ]


def _upload_cut_off_after_first_file(services: Services) -> None:
    def progress(event: Progress) -> None:
        if event.name == "part-1.txt" and event.stage == "storing":  # part-0 stored and recorded just before
            raise ClickedElsewhere()

    with pytest.raises(ClickedElsewhere):
        services.library.ingest("manuals", _files(), progress=progress)


def test_an_upload_cut_off_between_files_keeps_the_finished_ones_and_reports_the_rest(services: Services) -> None:
    _upload_cut_off_after_first_file(services)
    lib = services.library
    rows = {r.name: r.status for r in lib.list_documents("manuals")}
    assert rows == {"part-0.txt": "indexed"}  # the finished file whole, the others absent (not half-indexed)
    assert lib.collection_info("manuals").chunks == lib.list_documents("manuals")[0].chunks
    (cut,) = lib.interrupted_uploads("manuals")
    assert (cut.indexed, cut.missing) == (["part-0.txt"], ["part-1.txt", "part-2.txt"])
    assert lib.interrupted_uploads("other") == []

    lib.dismiss_interrupted_upload(cut.id)
    assert lib.interrupted_uploads("manuals") == []
    lib.ingest("manuals", _files()[1:])  # uploading the rest again
    assert lib.interrupted_uploads("manuals") == []  # an upload that ends leaves no report behind
    assert {r.name for r in lib.list_documents("manuals")} == {"part-0.txt", "part-1.txt", "part-2.txt"}


def test_the_documents_page_lists_what_an_interrupted_upload_indexed_and_what_to_upload_again(
    tmp_path: Path, settings: Settings, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = build_services(settings, embedder=embedder)
    _upload_cut_off_after_first_file(svc)
    svc.close()
    monkeypatch.setenv("DOMAINCHAT_DATA_DIR", str(settings.data_dir))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/documents.py").run()
    assert not at.exception
    warning = next(w.value for w in at.warning if "was cut off" in w.value).replace(
        "\\", ""
    )  # names are shown Markdown-escaped
    assert "part-0.txt" in warning.split("Not indexed")[0] and "part-1.txt" in warning.split("Not indexed")[1]
    at.button(key="dismiss-upload-0").click().run()
    assert not any("was cut off" in w.value for w in at.warning)
