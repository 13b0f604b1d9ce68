"""The plain Streamlit way: `streamlit run /path/to/app.py` from another folder keeps the app's safe defaults.

Streamlit reads `.streamlit/config.toml` from the working directory *and* from the main script's folder
(script level wins), so the repository's config applies wherever the command is typed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.chroma_server import free_port
from tests.helpers.streamlit_app import CHROMIUM_ARGS, ROOT, listening_addresses, streamlit_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_streamlit_run_from_another_folder_listens_on_loopback_only_and_renders_offline(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    env = {**os.environ, "DOMAINCHAT_DATA_DIR": str(tmp_path / "data"), "DOMAINCHAT_ENGINE": "embedded"}
    # Only the port is given: address, headless mode and usage statistics must come from the app's own config.
    with streamlit_server(
        [str(ROOT / "app.py"), "--server.port", str(port)], elsewhere, env, tmp_path / "streamlit.log", port
    ):
        assert listening_addresses(port) == {"127.0.0.1"}
        chromium = shutil.which("chromium")
        if chromium is None:
            pytest.fail("Debian chromium is not installed: `apt-get install chromium` (.ci/run does it)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            page.goto(f"http://127.0.0.1:{port}/documents")
            page.get_by_role("heading", name="Documents", exact=True).wait_for(timeout=60_000)
            page.get_by_text("Start with a collection").wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # give a usage-statistics beacon time to fire, if one were enabled
            browser.close()
    off_machine = [u for u in requested if not u.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))]
    assert requested and off_machine == []
    # the app wrote its data where the environment said, not into the folder the command ran in
    assert (tmp_path / "data" / "catalog.sqlite3").is_file()
    assert list(elsewhere.iterdir()) == []
