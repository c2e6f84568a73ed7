"""Errors and outputs that say what to do (issue 10): a mistyped log level is a usage error
naming the valid levels, wherever it was set; ``NEO_CONFIG`` naming a missing file is an error
as ``--config`` is; when the risk gate denies orders, the text output of ``backtest`` and
``paper`` says how many and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.cli.trading import risk_note
from neo.data.store import HistoricalDataStore
from neo.domain.errors import ConfigError
from neo.logs import configure_logging
from neo.settings import load_settings
from tests.unit.engine.bars import walk

runner = CliRunner()
LEVELS = "DEBUG, INFO, WARNING, ERROR, CRITICAL"


def _usage_error(result: object) -> str:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "unexpected" not in lines[0] and "report" not in lines[0]
    line: str = lines[0]
    return line


def test_log_level_typo_in_the_flag(tmp_path: Path) -> None:
    line = _usage_error(runner.invoke(app, ["--log-level", "INFOO", "version"]))
    assert "'INFOO'" in line and LEVELS in line


def test_log_level_typo_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO_LOG_LEVEL", "verbose")
    line = _usage_error(runner.invoke(app, ["version"]))
    assert "'verbose'" in line and LEVELS in line


def test_log_level_typo_in_neo_toml(tmp_path: Path) -> None:
    config = tmp_path / "neo.toml"
    config.write_text('log_level = "WARN1"\n')
    line = _usage_error(runner.invoke(app, ["--config", str(config), "version"]))
    assert "'WARN1'" in line and LEVELS in line


def test_log_levels_are_case_insensitive() -> None:
    assert load_settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ConfigError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")


def test_neo_config_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("NEO_CONFIG", str(missing))
    line = _usage_error(runner.invoke(app, ["version"]))
    assert "NEO_CONFIG" in line and str(missing) in line and "does not exist" in line
    flag = _usage_error(runner.invoke(app, ["--config", str(missing), "version"]))
    assert str(missing) in flag and "does not exist" in flag


def test_neo_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "other.toml"
    config.write_text('log_level = "ERROR"\n')
    monkeypatch.setenv("NEO_CONFIG", str(config))
    assert load_settings().log_level == "ERROR"


def test_risk_note_counts_denials_by_reason() -> None:
    assert risk_note({"risk_denials": {}}) == ""
    note = risk_note(
        {"risk_denials": {"max_leverage": 2, "kill_switch": 5}, "kill_switch_engaged": True}
    )
    assert note.startswith("risk gate denied 7 orders (kill_switch 5, max_leverage 2)")
    assert "neo risk reset" in note
    assert (
        risk_note({"risk_denials": {"price_band": 1}}) == "risk gate denied 1 order (price_band 1)"
    )
    assert "during the run" in risk_note({"risk_denials": {}, "kill_switch_engagements": 1})


def test_paper_text_output_says_why_nothing_traded(tmp_path: Path) -> None:
    assert runner.invoke(app, ["risk", "engage", "--reason", "drill"]).exit_code == 0
    args = ["paper", "--param", "fast=2", "--param", "slow=4", "--cycles", "300"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "risk gate denied" in text and "(kill_switch " in text and "neo risk reset" in text


def test_backtest_text_output_says_how_many_orders_were_denied(tmp_path: Path) -> None:
    HistoricalDataStore.from_settings(load_settings()).write(walk(300, seed=5, symbol="BTC/USDT"))
    risk = tmp_path / "risk.toml"
    risk.write_text("[limits]\nmax_position_notional = 1.0\n")  # quote currency: nothing fits
    args = ["backtest", "--symbol", "BTC/USDT", "--param", "size=1", "--risk", str(risk)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "risk gate denied" in text and "(max_position_notional " in text
