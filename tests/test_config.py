"""Settings resolve their default paths from the app's folder, so `streamlit run` works from anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import APP_ROOT, Settings


def test_default_data_dir_is_in_the_app_folder_whatever_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env(env={}, dotenv=None).data_dir == APP_ROOT / "data"


def test_an_explicit_relative_data_dir_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env(env={"DOMAINCHAT_DATA_DIR": "mine"}, dotenv=None).data_dir == tmp_path / "mine"


def test_app_config_keeps_streamlit_on_loopback_without_usage_statistics() -> None:
    import tomllib

    config = tomllib.loads((APP_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False
