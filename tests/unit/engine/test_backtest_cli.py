"""`neo backtest` end to end: risk files that bind nothing, the engine choice, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.store import HistoricalDataStore
from neo.settings import load_settings
from tests.unit.engine.bars import walk

runner = CliRunner()


@pytest.fixture
def stored() -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    store.write(walk(2500, seed=5, symbol="BTC/USDT"))
    store.write(walk(2500, seed=6, symbol="ETH/USDT"))


def _json(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def _error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0, result.stderr
    return result.stderr


BASE = ["backtest", "--symbol", "BTC/USDT", "--fees-bps", "10", "--json"]


@pytest.mark.usefixtures("stored")
def test_a_risk_file_that_binds_nothing_gives_the_same_trades(tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text('on_breach = "flatten"\n')
    plain = _json(BASE)
    gated = _json([*BASE, "--risk", str(risk)])
    shorts = [t for t in plain["trades"] if t["quantity"] < 0]
    assert len(shorts) > 10, "the all-equity crossover must also go short"
    assert gated["trades"] == plain["trades"]
    assert gated["final_equity"] == plain["final_equity"]
    assert gated["fills"] == plain["fills"]
    assert gated["risk_denials"] == {}
