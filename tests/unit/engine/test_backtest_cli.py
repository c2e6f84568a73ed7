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


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize(
    "extra",
    [
        [],  # all-equity crossover
        ["--param", "size=3", "--fill", "close", "--slippage-bps", "2"],
        ["--strategy", "rsi_reversion", "--param", "period=6"],
    ],
)
def test_the_fast_engine_gives_the_event_engines_result(extra: list[str]) -> None:
    event = _json([*BASE, *extra])
    fast = _json([*BASE, *extra, "--engine", "fast"])
    assert (event["engine"], fast["engine"]) == ("event", "fast")
    assert fast["trades"] == event["trades"] and event["trades"]
    assert fast["final_equity"] == pytest.approx(event["final_equity"], rel=1e-12)
    assert fast["fills"] == event["fills"]
    assert fast["metrics"]["sharpe"] == pytest.approx(event["metrics"]["sharpe"], rel=1e-9)


@pytest.mark.usefixtures("stored")
def test_the_fast_engine_runs_several_instruments_and_hybrid_forecasts(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    two = ["backtest", "--symbols", "BTC/USDT,ETH/USDT", "--param", "size=2", "--json"]
    assert _json([*two, "--engine", "fast"])["trades"] == _json(two)["trades"]
    rows = []
    for seed, symbol in ((5, "BTC/USDT"), (6, "ETH/USDT")):
        bars = walk(2500, seed=seed, symbol=symbol)
        values = np.random.default_rng(seed).normal(size=len(bars))
        stamps = pd.to_datetime(np.asarray(bars.ts), unit="ns", utc=True)
        rows.append(pd.DataFrame({"ts": stamps, "symbol": symbol, "prediction": values}))
    path = tmp_path / "preds.parquet"
    pd.concat(rows).to_parquet(path, index=False)
    hybrid = [*two[:-1], "--strategy", "hybrid", "--predictions", str(path), "--json"]
    event, fast = _json(hybrid), _json([*hybrid, "--engine", "fast"])
    assert fast["trades"] == event["trades"] and len(event["trades"]) > 20


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "warp"], "unknown --engine 'warp'"),
        (["--engine", "fast", "--symbols", "BTC/USDT,ETH/USDT"], "event path only"),
        (["--strategy", "hybrid"], "give --predictions FILE"),
        (["--param", "slow=1e30"], "'slow' must be <= 1e+07"),
        (["--param", "fast=30"], "fast (30) must be shorter than slow (20)"),
        (["--param", "fast=2.5"], "'fast': '2.5' is not a valid int"),
        (["--strategy", "hybrid", "--param", "vol_ratio=0"], "vol_ratio must be > 0"),
        (["--fees-bps", "nan"], "--fees-bps: Input should be a finite number"),
        (["--cash", "inf"], "--cash: Input should be a finite number"),
    ],
)
def test_bad_backtests_are_refused_with_one_clear_line(args: list[str], message: str) -> None:
    assert message in _error(["backtest", "--symbol", "BTC/USDT", *args])


@pytest.mark.usefixtures("stored")
def test_predictions_that_match_no_bar_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("ts,symbol,prediction\n2001-01-01T00:00:00Z,BTC/USDT,0.5\n")
    args = ["backtest", "--symbol", "BTC/USDT", "--strategy", "hybrid"]
    assert "no forecast for the selected bars" in _error([*args, "--predictions", str(path)])


@pytest.mark.usefixtures("stored")
def test_risk_or_allocator_need_the_event_engine(tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text('on_breach = "flatten"\n')
    message = _error([*BASE, "--engine", "fast", "--risk", str(risk)])
    assert "--engine fast has no risk gate or allocator" in message
