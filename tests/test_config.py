"""Settings: default paths resolve from the app's folder (so `streamlit run` works from anywhere); the retrieval
method's old name is still accepted and unknown values are refused with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import APP_ROOT, Settings
from core.errors import ConfigError


def test_default_data_dir_is_in_the_app_folder_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env(env={}, dotenv=None).data_dir == APP_ROOT / "data"


def test_an_explicit_relative_data_dir_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env(env={"DOMAINCHAT_DATA_DIR": "mine"}, dotenv=None).data_dir == tmp_path / "mine"


def test_app_config_keeps_streamlit_on_loopback_without_usage_statistics() -> None:
    import tomllib

    config = tomllib.loads((APP_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False


def test_old_retrieval_name_hybrid_means_fused(tmp_path: Path) -> None:
    assert (
        Settings.from_env(env={"DOMAINCHAT_RETRIEVAL": "hybrid"}, dotenv=None, data_dir=tmp_path).retrieval == "fused"
    )
    dotenv = tmp_path / ".env"
    dotenv.write_text("DOMAINCHAT_RETRIEVAL=hybrid\n")
    assert Settings.from_env(env={}, dotenv=dotenv, data_dir=tmp_path).retrieval == "fused"
    assert Settings.from_env(env={}, dotenv=None, data_dir=tmp_path).retrieval == "fused"
    assert Settings.from_env(env={"DOMAINCHAT_RETRIEVAL": "dense"}, dotenv=None, data_dir=tmp_path).retrieval == "dense"


def test_unknown_retrieval_method_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DOMAINCHAT_RETRIEVAL='bm25'.*dense, fused"):
        Settings.from_env(env={"DOMAINCHAT_RETRIEVAL": "bm25"}, dotenv=None, data_dir=tmp_path)
