"""What the browser tests share: one headless Debian chromium per test module, driven by Playwright."""

from __future__ import annotations

import shutil
from typing import Any, Iterator

import pytest

from tests.helpers.streamlit_app import CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium (`executable_path`; never `playwright install`), headless."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian chromium is not installed: `apt-get install chromium` (.ci/run does it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()
