"""A click that reruns the Chat page while an answer streams keeps the question and the partial answer (issue 10, item
6).

A real browser against `streamlit run` on the Ollama protocol (the in-test HTTP server, streaming slowly).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.fakes.ollama_server import FakeOllamaServer
from tests.helpers.chroma_server import free_port
from tests.helpers.streamlit_app import CHROMIUM_ARGS, streamlit_server

ROOT = Path(__file__).resolve().parents[2]
REPLY = " ".join(f"Step {i}: rinse the filter under running water." for i in range(1, 40))

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_clicking_a_sidebar_switch_mid_answer_keeps_the_question_and_the_partial_answer(
    tmp_path: Path, ollama_server: FakeOllamaServer, output_dir: Path
) -> None:
    from playwright.sync_api import sync_playwright

    model = ollama_server.find("gemma3:270m")
    model.reply = REPLY
    ollama_server.chunk_delay_s = 0.25
    data = tmp_path / "data"
    port = free_port()
    env = {
        **os.environ,
        "DOMAINCHAT_DATA_DIR": str(data),
        "DOMAINCHAT_ENGINE": "ollama",
        "OLLAMA_HOST": ollama_server.url,
    }
    args = [
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    url = f"http://127.0.0.1:{port}"
    with streamlit_server(args, ROOT, env, tmp_path / "streamlit.log", port), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{url}/chat")
        page.get_by_text("base — ", exact=False).first.click()  # the model alone: no collection needed
        box = page.get_by_placeholder("Ask about your documents…")
        box.wait_for(timeout=60_000)
        box.fill("How is the filter cleaned?")
        box.press("Enter")
        page.get_by_text("Step 3:", exact=False).first.wait_for(timeout=60_000)  # streaming, far from done
        page.get_by_text("Understand follow-up questions").click()  # a rerun while the answer streams
        try:
            page.get_by_text("Incomplete answer", exact=False).first.wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(output_dir / "chat-rerun-mid-answer.png"), full_page=True)
        browser.close()
    (saved,) = [json.loads(f.read_text()) for f in (data / "chats").rglob("*.json")]
    question, answer = saved["messages"]
    assert question["content"] == "How is the filter cleaned?"
    assert answer["incomplete"] and "stopped before it finished" in answer["error"]
    assert answer["content"].startswith("Step 1: rinse") and len(answer["content"]) < len(REPLY)
