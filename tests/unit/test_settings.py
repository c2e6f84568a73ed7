from __future__ import annotations

from pathlib import Path

import pytest

from neo.domain import ConfigError
from neo.settings import load_settings


def test_defaults(isolated_neo_env: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == isolated_neo_env
    assert settings.data.validation.max_jump == 0.10


def test_env_file_and_override_priority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "neo.toml"
    config.write_text('log_level = "DEBUG"\n[data.validation]\nmax_jump = 0.2\n')
    settings = load_settings(config)
    assert settings.log_level == "DEBUG" and settings.data.validation.max_jump == 0.2
    monkeypatch.setenv("NEO_DATA__VALIDATION__MAX_JUMP", "0.3")
    assert load_settings(config).data.validation.max_jump == 0.3
    assert load_settings(config, log_level="WARNING").log_level == "WARNING"


def test_bad_settings_say_which_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    monkeypatch.setenv("NEO_DATA__VALIDATION__MAX_JUMP", "-1")
    with pytest.raises(ConfigError, match=r"data\.validation\.max_jump"):
        load_settings()
    monkeypatch.delenv("NEO_DATA__VALIDATION__MAX_JUMP")
    bad = tmp_path / "bad.toml"
    bad.write_text("not = [valid toml")
    with pytest.raises(ConfigError, match="cannot read settings"):
        load_settings(bad)
