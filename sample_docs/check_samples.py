"""Verify the sample documents against their question files.

    .venv/bin/python sample_docs/check_samples.py [--rebuild]

For every document in sample_docs/ it extracts the text of each page with the app's own
loaders (core.library.parsing.loaders: pypdf for PDFs, explicit page breaks for DOCX) and checks:

* the page count is 6 to 8 and every page has roughly 1500-2500 characters of text;
* the question file has 15 well-formed lines whose ``source`` is the document;
* every answer appears (case-insensitively, whitespace-normalised) on its stated page,
  and on no other page of the document, so each question has exactly one source page.

With ``--rebuild`` it also rebuilds everything into a temporary directory and checks that
the committed files are byte-identical to a fresh build (i.e. up to date and deterministic).
Exits non-zero and lists the problems if any check fails. The helpers are importable by tests.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script from anywhere: the app's loaders are the reference
DOCUMENTS = (
    "aquaflow-dishwasher-manual.pdf",
    "software-license-agreement.docx",
    "diabetes-patient-guide.pdf",
)
QUESTIONS_PER_DOCUMENT = 15
PAGE_RANGE = (6, 8)
# Extracted text also holds the running footer and table line breaks, so allow a margin
# around the 1500-2500 characters of content each page is written to.
CHARS_RANGE = (1400, 2700)

def normalise(text: str) -> str:
    """Lower-case and collapse all whitespace to single spaces."""
    return re.sub(r"\s+", " ", text).strip().lower()


def document_pages(path: Path) -> list[str]:
    """Per-page text of a PDF or DOCX file, exactly as the app's loaders extract it."""
    from core.library.parsing.loaders import load

    return [page.text for page in load(path, "pdf" if path.suffix.lower() == ".pdf" else "docx")]


def questions_path(doc_path: Path) -> Path:
    """``x.pdf`` -> ``x.questions.jsonl`` next to it."""
    return doc_path.with_name(doc_path.stem + ".questions.jsonl")


def load_questions(path: Path) -> list[dict]:
    """Parse a questions JSONL file (one JSON object per non-empty line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_document(doc_path: Path) -> tuple[list[str], list[str]]:
    """Return (problems, report lines) for one document and its questions."""
    problems: list[str] = []
    report: list[str] = []
    name = doc_path.name
    pages = [normalise(text) for text in document_pages(doc_path)]
    sizes = [len(text) for text in pages]
    report.append(f"{name}: {len(pages)} pages, characters per page {sizes}")

    if not PAGE_RANGE[0] <= len(pages) <= PAGE_RANGE[1]:
        problems.append(f"{name}: {len(pages)} pages, expected {PAGE_RANGE[0]}-{PAGE_RANGE[1]}")
    for number, size in enumerate(sizes, start=1):
        if not CHARS_RANGE[0] <= size <= CHARS_RANGE[1]:
            problems.append(f"{name} page {number}: {size} characters, expected {CHARS_RANGE[0]}-{CHARS_RANGE[1]}")

    questions = load_questions(questions_path(doc_path))
    if len(questions) != QUESTIONS_PER_DOCUMENT:
        problems.append(f"{name}: {len(questions)} questions, expected {QUESTIONS_PER_DOCUMENT}")
    used_pages = set()
    for index, record in enumerate(questions, start=1):
        where = f"{name} question {index}"
        if set(record) != {"question", "answer", "page", "source"}:
            problems.append(f"{where}: keys {sorted(record)}")
            continue
        if record["source"] != name:
            problems.append(f"{where}: source {record['source']!r} is not {name!r}")
        page, answer = record["page"], normalise(record["answer"])
        if not (isinstance(page, int) and 1 <= page <= len(pages)):
            problems.append(f"{where}: page {page!r} out of range")
            continue
        used_pages.add(page)
        found_on = [n for n, text in enumerate(pages, start=1) if answer in text]
        if page not in found_on:
            problems.append(f"{where}: answer {record['answer']!r} not found on page {page}")
        if len(found_on) == len(pages):
            problems.append(f"{where}: answer {record['answer']!r} appears on every page")
        elif set(found_on) - {page}:
            problems.append(f"{where}: answer {record['answer']!r} also appears on pages {sorted(set(found_on) - {page})}")
    report.append(f"  {len(questions)} questions, answers located on pages {sorted(used_pages)}")
    return problems, report


UPDATE_DIR = "update"
UPDATE_QUESTIONS = "changed-facts.questions.jsonl"


def check_update_pair(directory: Path) -> tuple[list[str], list[str]]:
    """The update pair: each changed fact's old answer is on its page of the old version only, the new answer
    on its page of the new version only, and neither version holds the other's figure."""
    problems: list[str] = []
    update = directory / UPDATE_DIR
    questions = load_questions(update / UPDATE_QUESTIONS)
    for record in questions:
        old_pages = [normalise(t) for t in document_pages(directory / record["source"])]
        new_pages = [normalise(t) for t in document_pages(update / record["source"])]
        where = f"{UPDATE_DIR}/{UPDATE_QUESTIONS}: {record['question']!r}"
        for label, pages, present, absent in (("old", old_pages, record["old_answer"], record["answer"]),
                                              ("new", new_pages, record["answer"], record["old_answer"])):
            found_on = [n for n, text in enumerate(pages, start=1) if normalise(present) in text]
            if found_on != [record["page"]]:
                problems.append(f"{where}: {present!r} is on pages {found_on} of the {label} version, expected only {record['page']}")
            if any(normalise(absent) in text for text in pages):
                problems.append(f"{where}: the {label} version also holds {absent!r}")
    return problems, [f"{UPDATE_DIR}/: {len(questions)} changed facts between the two versions of the manual"]


def check_rebuild(directory: Path) -> list[str]:
    """Rebuild into a temporary directory and compare bytes with the files in directory."""
    sys.path.insert(0, str(HERE))
    import build_samples

    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        build_samples.build_all(Path(tmp))
        fresh_files = [Path(tmp) / name for name in DOCUMENTS] + [questions_path(Path(tmp) / name) for name in DOCUMENTS]
        fresh_files += sorted((Path(tmp) / UPDATE_DIR).iterdir())
        for fresh in fresh_files:
            committed = directory / fresh.relative_to(tmp)
            if not committed.exists() or committed.read_bytes() != fresh.read_bytes():
                problems.append(f"{fresh.relative_to(tmp)}: differs from a fresh build; run build_samples.py")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE, help="directory holding the samples")
    parser.add_argument("--rebuild", action="store_true", help="also check that a fresh build is byte-identical")
    args = parser.parse_args()

    problems: list[str] = []
    for name in DOCUMENTS:
        doc_problems, report = check_document(args.dir / name)
        problems += doc_problems
        print("\n".join(report))
    update_problems, report = check_update_pair(args.dir)
    problems += update_problems
    print("\n".join(report))
    if args.rebuild:
        problems += check_rebuild(args.dir)
        print("rebuild: " + ("identical" if not problems else "see problems"))
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)")
        print("\n".join(f"  - {p}" for p in problems))
        return 1
    print("OK: all answers found on their stated page only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
