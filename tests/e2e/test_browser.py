"""End to end in a real browser: upload the sample manual, ask in RAG mode, see a streamed, cited answer.

Debian's chromium driven by Playwright (`executable_path`); the app runs as `streamlit run app.py`
on a free loopback port with the embedded engine and a fresh data directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.streamlit_app import ROOT, app_on_loopback

MANUAL = ROOT / "sample_docs" / "aquaflow-dishwasher-manual.pdf"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EMBEDDED = {"DOMAINCHAT_ENGINE": "embedded", "DOMAINCHAT_TOP_K": "3"}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with app_on_loopback(tmp_path_factory.mktemp("e2e") / "data", EMBEDDED) as url:
        yield url


# Every page's address and the heading it opens with. The first one runs against a fresh server: Streamlit's
# legacy pages/ mode must not take over.
PAGES = [
    ("finetune", "Fine-tune"),
    ("documents", "Documents"),
    ("chat", "Chat"),
    ("evaluate", "Evaluate"),
    ("advisor", "Advisor"),
    ("start", "Start"),
]


@pytest.mark.parametrize(("path", "heading"), PAGES, ids=[p for p, _ in PAGES])
def test_a_deep_link_opens_its_page_with_the_app_navigation(app_url: str, browser, path: str, heading: str) -> None:
    page = browser.new_page()
    page.goto(f"{app_url}/{path}")
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert all(title in nav for _, title in PAGES), nav
    # Only the five pages: none of the shared UI parts or the entry script shows up as a page.
    assert "common" not in nav and "app" not in nav.split() and "confirm" not in nav and "jobs" not in nav.lower()
    page.close()


def test_upload_then_ask_in_rag_mode_and_get_the_cited_answer(app_url: str, browser, output_dir: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{app_url}/documents")
    page.get_by_label("New collection").fill("manuals")
    page.get_by_role("button", name="Create collection").click()
    page.get_by_text("Collection: manuals").wait_for()

    page.locator("input[type=file]").set_input_files(str(MANUAL))
    page.get_by_role("button", name="Index 1 file").click()
    page.get_by_text("indexed: 8 pages", exact=False).wait_for(timeout=180_000)
    page.screenshot(path=str(output_dir / "documents.png"), full_page=True)
    assert page.get_by_role("cell", name=MANUAL.name).count() >= 1 or page.get_by_text(MANUAL.name).count() >= 1

    page.get_by_role("link", name="Chat", exact=True).click()
    page.get_by_role("heading", name="Chat", exact=True).wait_for()
    box = page.get_by_placeholder("Ask about your documents…")
    box.fill("How often should the filters be checked and cleaned?")
    box.press("Enter")
    # the answer streams in, then gets its label and its sources
    answer = page.locator("[data-testid='stChatMessage']").nth(1)
    answer.get_by_text("Sources").first.wait_for(
        timeout=300_000
    )  # the RAG answer (or its column, if Compare is still on) is done
    text = answer.inner_text()
    # The README's first try: the manual's answer, cited to the passage that holds it (never both cited and flagged).
    cited = any(f"[{n}]" in text for n in (1, 2, 3))
    flagged = "Not supported by the documents" in text
    assert "once a week" in text.lower() and cited and not flagged, text
    answer.get_by_text("Sources").click()
    page.get_by_text("page 6", exact=False).first.wait_for()
    page.screenshot(path=str(output_dir / "chat.png"), full_page=True)
    page.close()


def test_a_cited_source_shows_its_page_as_an_image(app_url: str, browser, output_dir: Path) -> None:
    # Runs after the RAG answer above: its conversation is saved, so the Chat page shows it again.
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.set_default_timeout(90_000)
    page.goto(f"{app_url}/chat")
    answer = page.locator("[data-testid='stChatMessage']").nth(1)
    answer.get_by_text("Sources").first.click()
    answer.get_by_role("button", name=re.compile(r"^Show page \d+$")).first.click()
    shown = answer.locator("[data-testid='stImage'] img").first
    shown.wait_for()
    assert shown.evaluate("img => img.naturalWidth") > 500  # a rendered page, not a placeholder
    answer.get_by_text(re.compile(r"page \d+ of 8 · the passage is highlighted")).first.wait_for()
    assert answer.get_by_role("button", name="Download the original").count() == 1
    assert page.locator("iframe, embed, object").count() == 0  # the PDF itself never reaches the browser
    shown.scroll_into_view_if_needed()
    page.screenshot(path=str(output_dir / "pageview.png"), full_page=True)


def test_compare_two_modes_side_by_side_each_labelled(app_url: str, browser, output_dir: Path) -> None:
    # runs after the upload test: the collection "manuals" holds the manual
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(60_000)
    page.goto(f"{app_url}/chat")
    page.get_by_role("heading", name="Chat", exact=True).wait_for()
    page.get_by_text("Compare modes").click()
    page.get_by_text("Modes to compare").wait_for()
    page.get_by_text("side by side", exact=False).first.wait_for()
    page.get_by_role("button", name="New chat").click()
    box = page.get_by_placeholder("Ask about your documents…")
    box.fill("How often should the filters be checked and cleaned?")
    box.press("Enter")
    # both answers stream into their columns, then each gets its label (first word, speed, what ran)
    page.get_by_text("Best answer").wait_for(timeout=300_000)
    columns = page.locator("[data-testid='stChatMessage']").last.locator("[data-testid='stColumn']")
    assert columns.count() == 2
    base, rag = columns.nth(0).inner_text(), columns.nth(1).inner_text()
    assert base.startswith("base") and rag.startswith("rag")
    assert "first word after" in base and "tokens/s" in rag and "no adapter" in base
    assert any(f"[{n}]" in rag for n in (1, 2, 3)) or "Not supported by the documents" in rag
    page.screenshot(path=str(output_dir / "compare.png"), full_page=True)
    page.close()


def test_evaluate_a_sample_question_and_see_the_charts(app_url: str, browser, output_dir: Path) -> None:
    # Runs after the upload test: the 'manuals' collection holds the dishwasher manual.
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.set_default_timeout(60_000)
    page.goto(f"{app_url}/evaluate")
    page.get_by_role("heading", name="Evaluate", exact=True).wait_for()
    page.get_by_text("Sample questions", exact=True).click()
    page.get_by_text("15 questions ·", exact=False).first.wait_for()  # the first sample set (the manual's) is loaded
    page.locator("[data-testid='stExpander'] summary").filter(has_text="Options").click()
    limit = page.get_by_role("spinbutton", name="Only the first N questions (of each half; 0: all)")
    limit.fill("2")
    limit.press("Enter")
    # the page has the limit before the run starts: what the run can show is now said of the first two questions
    page.get_by_text("With 2 answerable questions", exact=False).wait_for()
    page.get_by_role("button", name="Start evaluation").click()
    # starting records each question's retrieval in the app first: minutes, not seconds, on a loaded CI machine
    page.get_by_text("goes on in the background", exact=False).wait_for(timeout=300_000)
    page.get_by_role("tab", name="Results").click()
    # the page polls the run; when it ends the grid and its charts appear, down to the answers side by side
    page.get_by_role("heading", name="The grid", exact=True).wait_for(timeout=600_000)
    # the run asked the two questions, not the set's fifteen: once it has ended, each mode's cell in the grid counts
    # its correct answers of 2 (a grid drawn while the run went on may have held fewer)
    page.get_by_text(re.compile(r"^Run ev-\S+: done")).wait_for(timeout=600_000)
    grid = page.locator("[data-testid='stTable']").first
    grid.get_by_role("cell", name=re.compile(r"^\d+\/2 · ")).nth(1).wait_for()  # the slash escaped for Playwright
    shares = [t for t in grid.locator("td").all_inner_texts() if " · " in t]
    assert len(shares) == 2 and all(re.match(r"^\d+/2 · ", t) for t in shares), shares
    page.get_by_role("heading", name="Answers side by side", exact=True).wait_for()
    charts = page.locator("[data-testid='stVegaLiteChart']")
    charts.nth(2).wait_for()
    # the chosen measure with its intervals, the answer times, where the answers came from; and the reliability
    # diagram when some mode had both right and wrong answers to judge its confidence by
    assert charts.count() in (3, 4)
    page.screenshot(path=str(output_dir / "evaluate.png"), full_page=True)


@pytest.fixture(scope="module")
def server_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on the openai engine, pointed at llama-cpp-python's OpenAI-compatible server (the bundled model)."""
    from tests.helpers.openai_server import BASE_ALIAS, LlamaCppServer

    root = tmp_path_factory.mktemp("e2e-openai")
    with LlamaCppServer(root / "server") as server:
        env = {
            "DOMAINCHAT_ENGINE": "openai",
            "DOMAINCHAT_OPENAI_BASE_URL": server.url,
            "DOMAINCHAT_OPENAI_MODEL": BASE_ALIAS,
            "DOMAINCHAT_TOP_K": "3",
        }
        with app_on_loopback(root / "data", env) as url:
            yield url


def test_on_an_openai_compatible_server_a_rag_answer_is_cited_and_says_what_ran(
    server_app_url: str, browser, output_dir: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{server_app_url}/documents")
    page.get_by_label("New collection").fill("manuals")
    page.get_by_role("button", name="Create collection").click()
    page.get_by_text("Collection: manuals").wait_for()
    page.locator("input[type=file]").set_input_files(str(MANUAL))
    page.get_by_role("button", name="Index 1 file").click()
    page.get_by_text("indexed: 8 pages", exact=False).wait_for(timeout=180_000)

    page.get_by_role("link", name="Chat", exact=True).click()
    page.get_by_role("heading", name="Chat", exact=True).wait_for()
    page.get_by_text("OpenAI-compatible server at", exact=False).first.wait_for()  # the engine's status
    box = page.get_by_placeholder("Ask about your documents…")
    box.fill("How often should the filters be checked and cleaned?")
    box.press("Enter")
    answer = page.locator("[data-testid='stChatMessage']").nth(1)
    answer.get_by_text("Sources").first.wait_for(timeout=300_000)
    text = answer.inner_text()
    cited = any(f"[{n}]" in text for n in (1, 2, 3))
    assert "once a week" in text.lower() and cited and "Not supported by the documents" not in text, text
    # the label says the engine, the model the server ran and the prompt form it got
    assert "engine openai" in text and "what ran: server model gemma-3-270m, completion prompts" in text, text
    page.screenshot(path=str(output_dir / "chat-openai.png"), full_page=True)
    page.close()
