from __future__ import annotations

import json
from pathlib import Path

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
    store.write(walk(400, seed=5, symbol="BTC/USDT"))
    store.write(walk(400, seed=6, symbol="ETH/USDT"))


def _json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_strategies_list(capsys: pytest.CaptureFixture[str]) -> None:
    payload = _json(["strategies", "list", "--json"])
    names = [s["name"] for s in payload["strategies"]]  # type: ignore[attr-defined]
    assert names == ["sma_cross", "ema_cross", "rsi_reversion", "hybrid"]
    human = runner.invoke(app, ["strategies", "list"])
    assert human.exit_code == 0 and "rsi_reversion" in human.stdout


@pytest.mark.usefixtures("stored")
def test_backtest_json_has_metrics_and_trades(tmp_path: Path) -> None:
    report = tmp_path / "run.html"
    payload = _json(
        [
            "backtest",
            "--strategy",
            "sma_cross",
            "--param",
            "fast=5",
            "--param",
            "slow=15",
            "--symbols",
            "BTC/USDT,ETH/USDT",
            "--fees-bps",
            "10",
            "--slippage-bps",
            "1",
            "--cash",
            "50000",
            "--fill",
            "close",
            "--report",
            str(report),
            "--json",
        ]
    )
    assert payload["params"] == {"fast": 5, "slow": 15, "size": "equity"}
    assert payload["bars"] == 800
    trades = payload["trades"]
    assert isinstance(trades, list) and trades
    assert {"entry_ts", "exit_ts", "quantity", "pnl"} <= set(trades[0])
    metrics = payload["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["final_equity"] == pytest.approx(payload["final_equity"])
    assert metrics["trade_count"] == len(trades)
    assert report.is_file() and report.read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.usefixtures("stored")
def test_backtest_human_output_and_time_range() -> None:
    result = runner.invoke(
        app,
        [
            "backtest",
            "--symbol",
            "BTC/USDT",
            "--param",
            "size=1",
            "--start",
            "2023-11-14T22:20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sma_cross" in result.stdout and "trade count" in result.stdout
    args = ["backtest", "--symbol", "BTC/USDT", "--param", "size=1", "--json"]
    everything = _json(args)
    bars = walk(400, seed=5, symbol="BTC/USDT")
    start = 1_700_000_400 * 10**9  # 2023-11-14T22:20Z, the 7th bar of the stored walk
    assert (everything["bars"], everything["first_ts_ns"]) == (400, int(bars.ts[0]))
    since = _json([*args, "--start", "2023-11-14T22:20"])
    assert (since["bars"], since["first_ts_ns"], since["last_ts_ns"]) == (
        394, start, int(bars.ts[-1])
    )  # fmt: skip
    assert since["first_ts"] == "2023-11-14T22:20:00Z"  # ISO beside the exact ns
    window = _json([*args, "--start", "2023-11-14T22:20", "--end", "2023-11-14T23:00"])
    assert window["first_ts_ns"] == start and window["last_ts_ns"] <= 1_700_002_800 * 10**9
    assert window["bars"] == (window["last_ts_ns"] - start) // 60_000_000_000 + 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope", "--symbol", "BTC/USDT"], "unknown strategy 'nope'"),
        (["--param", "fast=x", "--symbol", "BTC/USDT"], "not a valid int"),
        (["--param", "fast", "--symbol", "BTC/USDT"], "name=value"),
        (["--fill", "later", "--symbol", "BTC/USDT"], "--fill"),
        (["--allocator", "magic", "--symbol", "BTC/USDT"], "unknown allocator 'magic'"),
        (["--risk", "limits.toml", "--symbol", "BTC/USDT"], "risk file limits.toml does not"),
        ([], "--symbols"),
        (["--symbol", "DOGE/USDT"], "DOGE/USDT"),
    ],
)
@pytest.mark.usefixtures("stored")
def test_backtest_errors_are_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["backtest", *args])
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0


def test_paper_on_the_simulated_feed() -> None:
    payload = _json(
        [
            "paper",
            "--strategy",
            "sma_cross",
            "--param",
            "size=1",
            "--feed",
            "simulated",
            "--cycles",
            "120",
            "--symbols",
            "BTC/USDT",
            "--json",
        ]
    )
    assert payload["bars"] == 120
    assert payload["stopped_by"] == "120 cycles"
    assert payload["strategy_failures"] == 0
    default = _json(["paper", "--feed", "simulated", "--cycles", "30", "--json"])
    assert list(default["positions"]) == ["BTC/USDT@sim"]  # a made-up market: BTC/USDT
    replay = runner.invoke(app, ["paper", "--feed", "replay", "--json"])
    assert replay.exit_code != 0 and "select what to trade" in replay.stderr


@pytest.mark.usefixtures("stored")
def test_paper_replays_the_store() -> None:
    result = runner.invoke(
        app, ["paper", "--feed", "replay", "--symbols", "BTC/USDT,ETH/USDT", "--speed", "1e6"]
    )
    assert result.exit_code == 0, result.output
    assert "bars: 800" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feed", "radio"], "unknown --feed"),
        (["--speed", "0"], "--speed must be > 0"),
        (["--model", "nope-1"], "no model 'nope-1'"),
    ],
)
def test_paper_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["paper", "--symbol", "BTC/USDT", *args])
    assert result.exit_code != 0
    assert message in result.stderr


@pytest.mark.usefixtures("stored")
def test_backtest_reads_walk_forward_predictions(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    bars = walk(400, seed=5, symbol="BTC/USDT")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(np.asarray(bars.ts), unit="ns", utc=True),
            "symbol": "BTC/USDT@sim",
            "prediction": rng.normal(size=len(bars)),
        }
    )
    path = tmp_path / "preds.csv"
    frame.iloc[50:].to_csv(path, index=False)
    args = ["backtest", "--strategy", "hybrid", "--symbol", "BTC/USDT", "--json"]
    with_forecasts = _json([*args, "--predictions", str(path), "--param", "trend=10"])
    assert with_forecasts["trades"], "forecasts should make the hybrid strategy trade"
    first_entry = min(t["entry_ts_ns"] for t in with_forecasts["trades"])  # type: ignore[union-attr]
    assert first_entry > int(bars.ts[50])  # no forecast, no trade, before row 50
    without = runner.invoke(app, [*args, "--param", "trend=10"])  # no forecasts: refused
    assert without.exit_code != 0 and "give --predictions FILE" in without.stderr
    parquet = tmp_path / "preds.parquet"
    frame.assign(symbol="BTC/USDT").to_parquet(parquet, index=False)
    assert _json([*args, "--predictions", str(parquet)])["orders"]
    # A `forecast` column (what `neo train` writes beside raw classifier output) wins over
    # `prediction`: read raw, a constant P(up) of 0.9 could never produce a short trade.
    signed = frame.assign(prediction=0.9, forecast=np.sign(rng.normal(size=len(bars))) * 0.5)
    signed_path = tmp_path / "signed.csv"
    signed.to_csv(signed_path, index=False)
    both = _json([*args, "--predictions", str(signed_path), "--param", "trend=0"])
    quantities = [t["quantity"] for t in both["trades"]]  # type: ignore[union-attr,index]
    assert any(q < 0 for q in quantities) and any(q > 0 for q in quantities)
    broken = tmp_path / "broken.csv"
    broken.write_text("when,what\n1,2\n")
    for bad, message in ((broken, "lacks columns"), (tmp_path / "none.csv", "does not exist")):
        result = runner.invoke(app, [*args, "--predictions", str(bad)])
        assert result.exit_code != 0 and message in result.stderr


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize("engine", ["event", "fast"])
def test_close_at_end_leaves_no_open_position(engine: str) -> None:
    args = ["backtest", "--symbols", "BTC/USDT,ETH/USDT", "--param", "size=1", "--engine", engine]
    kept = _json([*args, "--json"])
    assert kept["open_positions"] and kept["closed_at_end"] is False
    for lot in kept["open_positions"]:  # listed and marked to the last close
        assert lot["unrealized_pnl"] == pytest.approx(
            lot["quantity"] * (lot["mark_price"] - lot["entry_price"])
        )
    closed = _json([*args, "--close-at-end", "--json"])
    assert closed["open_positions"] == [] and closed["closed_at_end"] is True
    assert len(closed["trades"]) == len(kept["trades"]) + len(kept["open_positions"])
    last = max(t["exit_ts_ns"] for t in closed["trades"])  # type: ignore[union-attr]
    assert last == kept["last_ts_ns"]
    fees = closed["fees"] - kept["fees"]  # type: ignore[operator]
    assert fees >= 0.0


@pytest.mark.usefixtures("stored")
def test_close_at_end_is_the_same_on_both_engines() -> None:
    args = ["backtest", "--symbols", "BTC/USDT,ETH/USDT", "--param", "size=1", "--close-at-end"]
    event = _json([*args, "--fees-bps", "10", "--json"])
    fast = _json([*args, "--fees-bps", "10", "--engine", "fast", "--json"])
    assert event["trades"] == fast["trades"]
    assert event["final_equity"] == pytest.approx(fast["final_equity"], rel=1e-12)


def test_library_warnings_are_counted_not_flooded(monkeypatch: pytest.MonkeyPatch) -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    names = [f"A{k}/USD" for k in range(12)]
    for k, name in enumerate(names):
        store.write(walk(200, seed=10 + k, symbol=name))
    store.close()
    # a window shorter than the universe: the sample covariance is singular at every rebalance
    monkeypatch.setenv("NEO_PORTFOLIO__LOOKBACK", "8")
    monkeypatch.setenv("NEO_PORTFOLIO__MIN_HISTORY", "5")
    monkeypatch.setenv("NEO_PORTFOLIO__REBALANCE_EVERY", "5")
    args = ["backtest", "--symbols", ",".join(names), "--allocator", "min_variance", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    allocation = json.loads(result.stdout)["allocation"]
    (row,) = allocation["library_warnings"]
    assert "not positive definite" in row["message"] and row["count"] > 10
    assert allocation["library_warnings_count"] == row["count"]
    lines = [line for line in result.stderr.splitlines() if "positive definite" in line]
    assert len(lines) == 1 and f"{row['count']} times" in lines[0]
