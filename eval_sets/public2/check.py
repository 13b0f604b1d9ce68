"""Verify a public evaluation set (default: this folder, eval_sets/public2) against its PDFs.

    .venv/bin/python eval_sets/public2/check.py [--dir eval_sets/public] [--docs DIR]

The PDFs are not committed; they are looked for in `<set>/docs/` (or `--docs`). The page text is the app's own
(core.library.parsing.loaders: pypdf, whitespace tidied), read through sample_docs/check_samples.py, and compared with
case and runs of whitespace ignored. It checks:

* every document of the README's table is there, with the listed sha256 prefix and page count;
* the question file is read by the app (core.base.questions.read_questions) and each row has the set's fields;
* every answerable question's reference (1-6 words) is on its stated page, and `pages` lists exactly the pages
  of that file where the reference occurs;
* every unanswerable question has an empty answer, and the key facts listed for it below occur in no document
  (or not in the document it is about).

Prints each reference's pages, the questions per domain and a pass count; exits non-zero on any problem.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sample_docs"))

from check_samples import document_pages, normalise  # noqa: E402  (the sample checker's reading of a page)

ANSWERABLE_KEYS = {"question", "answer", "source", "page", "pages", "domain", "unanswerable"}
UNANSWERABLE_KEYS = {"question", "answer", "domain", "unanswerable"}
MAX_REFERENCE_WORDS = 6
TABLE_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*(\d+)\s*\|.*\|\s*([0-9a-f]{16})\s*\|[^|]*\|\s*$")

# Unanswerable questions of public2: (the document the question is about, or None for all of them, and patterns
# on the lower-cased page text that would give the answer away). None of them may match.
ABSENT: dict[str, tuple[str | None, list[str]]] = {
    "What is the maximum noise level, in decibels, that a jackhammer operator may be exposed to without hearing protection?":
        (None, [r"decibel", r"\b\d+\s?db\b"]),
    "How often must portable electric tools be tested for ground continuity?":
        (None, [r"continuity test", r"ground(ing)? continuity", r"tested (for|every)"]),
    "How much was Gift Surplus fined for operating its sweepstakes kiosks?":
        ("nc-gift-surplus-v-state.pdf", [r"\bfined\b", r"\bpenalt", r"\bfine of\b"]),
    "How much in damages was Experian awarded against Esteban Leon?":
        ("cacd-experian-v-leon-injunction.pdf", [r"\bdamages\b", r"\$", r"\baward"]),
    "What daily dose of enoxaparin does the trauma DVT review recommend?":
        ("jtmo-dvt-prophylaxis-trauma-review.pdf", [r"\d\s?mg\b", r"\bunits\b", r"enoxaparin \d"]),
    "What was the average age of the heart failure focus group participants?":
        ("rrp-heart-failure-programmes.pdf", [r"(mean|average|median) age", r"\baged \d", r"\d+ years old"]),
    "What was the average waiting time, in minutes, at the OPD II outpatient clinic of Kamuzu Central Hospital?":
        ("bmc-hsr-malawi-quality-improvement.pdf", [r"\bminutes?\b", r"waiting times? (of|was|were)\b", r"\bwaited\b"]),
    "What is the 2025 social security wage base limit?":
        (None, [r"wage base (limit|is|of|for)", r"176,100", r"\$176"]),
    "How many withholding allowances can I claim on the 2025 Form W-4?":
        ("irs-form-w4-2025.pdf", [r"\ballowances?\b"]),
    "What is the Medicare Part B annual deductible amount?":
        (None, [r"part b deductible (is|of|amount)", r"deductible (amount )?(is|of) \$"]),
}


def read_table(readme: Path) -> dict[str, tuple[str, int, str]]:
    """file -> (domain, pages, sha256 prefix) from the README's documents table."""
    rows = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = TABLE_ROW.match(line)
        if match:
            rows[match[1]] = (match[2], int(match[3]), match[4])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE, help="the set's folder (README.md and *.questions.jsonl)")
    parser.add_argument("--docs", type=Path, default=None, help="folder holding the PDFs (default <dir>/docs)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # pypdf's notes on odd fonts are not problems of the set
    set_dir = args.dir.resolve()
    docs = (args.docs or set_dir / "docs").resolve()
    problems: list[str] = []

    table = read_table(set_dir / "README.md")
    if not table:
        print(f"FAILED: no documents table in {set_dir / 'README.md'}")
        return 1
    pages: dict[str, list[str]] = {}
    for name, (domain, count, sha) in table.items():
        path = docs / name
        if not path.is_file():
            problems.append(f"{name}: missing from {docs} (the README says where it comes from)")
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        if digest != sha:
            problems.append(f"{name}: sha256 {digest}, the README lists {sha}")
        pages[name] = [normalise(text) for text in document_pages(path)]
        if len(pages[name]) != count:
            problems.append(f"{name}: {len(pages[name])} pages, the README lists {count}")
    print(f"documents: {len(pages)}/{len(table)} present, {sum(len(p) for p in pages.values())} pages")

    qfiles = sorted(set_dir.glob("*.questions.jsonl"))
    if len(qfiles) != 1:
        print(f"FAILED: expected one *.questions.jsonl in {set_dir}, found {len(qfiles)}")
        return 1
    from core.base.questions import read_questions  # the app's reader: the file must load as an evaluation set

    read_questions(qfiles[0])
    records = [json.loads(line) for line in qfiles[0].read_text(encoding="utf-8").splitlines() if line.strip()]

    found_ok = absent_ok = 0
    answerable = unanswerable = 0
    domains: Counter[str] = Counter()
    for number, record in enumerate(records, 1):
        where = f"line {number}"
        domains[(record.get("domain", "?"), bool(record.get("unanswerable")))] += 1
        if record.get("unanswerable"):
            unanswerable += 1
            if set(record) != UNANSWERABLE_KEYS:
                problems.append(f"{where}: keys {sorted(record)}, expected {sorted(UNANSWERABLE_KEYS)}")
            if record.get("answer"):
                problems.append(f"{where}: an unanswerable question with an answer")
            about, patterns = ABSENT.get(record["question"], (None, []))
            if not patterns:
                print(f"  {where}: unanswerable, no key facts listed to check")
                continue
            hits = [f"{name} p{n}: {pattern}" for name, texts in pages.items() if about in (None, name)
                    for n, text in enumerate(texts, 1) for pattern in patterns if re.search(pattern, text)]
            if hits:
                problems.append(f"{where}: unanswerable, yet {'; '.join(hits[:3])}")
            else:
                absent_ok += 1
            continue
        answerable += 1
        if set(record) != ANSWERABLE_KEYS:
            problems.append(f"{where}: keys {sorted(record)}, expected {sorted(ANSWERABLE_KEYS)}")
            continue
        name, page, answer = record["source"], record["page"], record["answer"]
        if not 1 <= len(answer.split()) <= MAX_REFERENCE_WORDS:
            problems.append(f"{where}: reference {answer!r} is not 1-{MAX_REFERENCE_WORDS} words")
        if name not in table:
            problems.append(f"{where}: source {name!r} is not in the README's table")
            continue
        if record["domain"] != table[name][0]:
            problems.append(f"{where}: domain {record['domain']!r}, the README lists {table[name][0]!r} for {name}")
        if name not in pages:
            continue
        on = [n for n, text in enumerate(pages[name], 1) if normalise(answer) in text]
        status = "ok"
        if page not in on:
            problems.append(f"{where}: {answer!r} is not on page {page} of {name} (found on {on})")
            status = "NOT ON PAGE"
        elif on != record["pages"]:
            problems.append(f"{where}: pages {record['pages']}, but {answer!r} is on {on} of {name}")
            status = "PAGES DIFFER"
        else:
            found_ok += 1
        print(f"  {number:2} {name[:36]:36} p{page:<3} {answer!r:34} on {on} {status}")

    print("questions per domain (answerable / unanswerable):")
    for domain in sorted({d for d, _ in domains}):
        print(f"  {domain:8} {domains[(domain, False)]:3} / {domains[(domain, True)]}")
    print(f"references on their page(s): {found_ok}/{answerable} passed")
    print(f"unanswerable with their key facts absent: {absent_ok}/{unanswerable} passed")
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)")
        print("\n".join(f"  - {p}" for p in problems))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
