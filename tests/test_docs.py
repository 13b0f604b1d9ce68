"""The documentation stays true: the settings reference matches the code, and every link leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from core.config import settings_reference

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = (
    '.venv/bin/python -c "from core.config import settings_reference; '
    "print(settings_reference(), end='')\" > docs/settings.md"
)
README_MAX_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
TRACKER_NUMBER = re.compile(r"\b(issue|goal) \d+\b", re.IGNORECASE)


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _link_targets(text: str) -> list[str]:
    """Link and image targets of a Markdown text, outside code blocks and inline code."""
    prose = INLINE_CODE.sub("", FENCE.sub("", text))
    return LINK.findall(prose)


def test_settings_reference_is_generated_from_the_code() -> None:
    written = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert written == settings_reference(), f"docs/settings.md is out of date: regenerate it with\n    {REGENERATE}"


def test_readme_and_docs_links_resolve_and_read_for_users() -> None:
    pages = _pages()
    assert len(pages) > 10, "the docs/ pages are missing"
    broken: list[str] = []
    tracker: list[str] = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in _link_targets(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue  # a URL (http:, mailto:) or an anchor in the same page
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
        for number, line in enumerate(text.splitlines(), start=1):
            if TRACKER_NUMBER.search(line):
                tracker.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)
    assert not tracker, "users do not know issue or goal numbers; say what is meant instead:\n" + "\n".join(tracker)
    readme_lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert readme_lines <= README_MAX_LINES, (
        f"README.md has {readme_lines} lines; keep it at most {README_MAX_LINES} and move detail to docs/"
    )
