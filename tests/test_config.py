"""Settings: the retrieval method's old name is still accepted, unknown values are refused with the fix."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.errors import ConfigError


def test_old_retrieval_name_hybrid_means_fused(tmp_path) -> None:
    assert Settings.from_env(env={"DOMAINCHAT_RETRIEVAL": "hybrid"}, dotenv=None, data_dir=tmp_path).retrieval == "fused"
    dotenv = tmp_path / ".env"
    dotenv.write_text("DOMAINCHAT_RETRIEVAL=hybrid\n")
    assert Settings.from_env(env={}, dotenv=dotenv, data_dir=tmp_path).retrieval == "fused"
    assert Settings.from_env(env={}, dotenv=None, data_dir=tmp_path).retrieval == "fused"
    assert Settings.from_env(env={"DOMAINCHAT_RETRIEVAL": "dense"}, dotenv=None, data_dir=tmp_path).retrieval == "dense"


def test_unknown_retrieval_method_is_refused_with_the_choices(tmp_path) -> None:
    with pytest.raises(ConfigError, match="DOMAINCHAT_RETRIEVAL='bm25'.*dense, fused"):
        Settings.from_env(env={"DOMAINCHAT_RETRIEVAL": "bm25"}, dotenv=None, data_dir=tmp_path)
