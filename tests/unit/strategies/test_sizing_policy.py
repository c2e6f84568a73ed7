"""Every strategy sizes by equity, units, fraction, volatility, ATR or Kelly (``size=…``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from neo.data.samples import load_sample
from neo.domain.bar import BarBatch
from neo.domain.errors import ConfigError, StrategyError
from neo.engine.backtest import check_job, run_backtest
from neo.engine.fast import run_fast
from neo.engine.parity import compare_paths
from neo.execution.config import ExecutionConfig
from neo.settings import load_settings
from neo.strategies import Strategy, StrategyContext, create_strategy
from neo.strategies.indicators import rolling_volatility
from neo.strategies.registry import configured_strategy
from tests.unit.engine.bars import walk

YEAR_NS = 365.25 * 86_400e9
ENTRY = 60
NO_FEES = ExecutionConfig(fees_bps=0.0)


def _momentum(batch: BarBatch, n: int = 20) -> np.ndarray:
    """A causal forecast: the last n bars' log return (known at each bar's close)."""
    close = np.asarray(batch.close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    out[n:] = np.log(close[n:] / close[:-n])
    return out


@pytest.mark.parametrize("data", ["GOOG daily", "simulated minutes"])
@pytest.mark.parametrize("name", ["rsi_reversion", "hybrid"])
def test_default_sizing_takes_real_exposure(name: str, data: str) -> None:
    """Fails on the old defaults: one unit, about 0.1 % exposure, final equity ~ initial."""
    batch = load_sample("GOOG") if data == "GOOG daily" else walk(20_000, seed=8)
    result = run_backtest(name, batch, predictions={batch.instrument: _momentum(batch)})
    exposure = result.exposure
    assert len(result.trades) >= 10
    assert exposure.max() > 0.9  # a position is worth about all of the equity
    assert exposure.mean() > 0.25  # and positions are held a good part of the time
    assert abs(result.final_equity / result.initial_cash - 1.0) > 0.05


class LongAt(Strategy):
    """Goes long at one bar through ``ctx.signal`` (sized by the run's sizing)."""

    at: int = ENTRY

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i == self.at:
            ctx.signal(1.0)


def _entry(size: str, batch: BarBatch, preds: np.ndarray | None = None, at: int = ENTRY) -> float:
    result = run_backtest(
        LongAt(size=size, at=at),
        batch,
        execution=NO_FEES,
        predictions=None if preds is None else {batch.instrument: preds},
    )
    assert len(result.fills) == 1
    return result.fills[0].quantity


def _wilder_atr(batch: BarBatch, at: int, window: int = 14) -> float:
    """Independent reference: pandas' Wilder smoothing of the true range up to bar ``at``."""
    frame = pd.DataFrame({"h": batch.high, "l": batch.low, "c": batch.close})[: at + 1]
    previous = frame["c"].shift()
    true_range = pd.concat(
        [frame["h"] - frame["l"], (frame["h"] - previous).abs(), (frame["l"] - previous).abs()],
        axis=1,
    ).max(axis=1)[1:]
    return float(true_range.ewm(alpha=1.0 / window, adjust=False).mean().iloc[-1])


def test_each_sizing_kind_sizes_the_entry_from_data_up_to_that_bar() -> None:
    batch = walk(200, seed=12)
    close, opens = np.asarray(batch.close), np.asarray(batch.open)
    equity = 100_000.0
    # fill-time kinds: a fraction of the equity at the next bar's open (backtesting.py's size)
    assert _entry("equity", batch) == math.floor(equity * (1 - 2**-52) / opens[ENTRY + 1])
    assert _entry("fraction:0.5", batch) == math.floor(0.5 * equity / opens[ENTRY + 1])
    assert _entry("units:7", batch) == _entry("7", batch) == 7.0
    # decision-time kinds: from the equity, close, volatility, ATR and forecast at ENTRY
    log_returns = np.diff(np.log(close[: ENTRY + 1]))[-20:]
    per_bar = float(np.std(log_returns, ddof=1))
    bars_per_year = ENTRY * YEAR_NS / (int(batch.ts[ENTRY]) - int(batch.ts[0]))
    notional = min(equity * 0.2 / (per_bar * math.sqrt(bars_per_year)), equity)
    assert _entry("vol:0.2", batch) == math.floor(notional / close[ENTRY])
    # late enough that the seeds of the two smoothings have decayed
    atr_units = 0.01 * equity / (3.0 * _wilder_atr(batch, 150))
    assert _entry("atr:0.01:3", batch, at=150) == pytest.approx(atr_units, rel=2e-3, abs=1.0)
    forecast = np.full(len(batch), 2e-6)
    share = min(0.5 * 2e-6 / per_bar**2, 0.25)
    assert 0 < share < 0.25  # the cap does not hide the formula
    assert _entry("kelly:0.5", batch, forecast) == math.floor(share * equity / close[ENTRY])
    assert _entry("kelly:0.5:0.1", batch, forecast * 100) == math.floor(0.1 * equity / close[ENTRY])
    assert rolling_volatility(close, 20)[ENTRY] == pytest.approx(per_bar, rel=1e-12)


def test_a_forecast_against_the_side_sizes_nothing() -> None:
    batch = walk(200, seed=12)
    result = run_backtest(
        LongAt(size="kelly:0.5"),
        batch,
        predictions={batch.instrument: np.full(len(batch), -1e-4)},
    )
    assert result.fills == []


class BuyOnce(Strategy):
    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i == ENTRY:
            ctx.buy()


@pytest.mark.parametrize(("size", "expected"), [("units:3", 3.0), ("fraction:0.25", None)])
def test_buy_without_quantity_uses_the_sizing(size: str, expected: float | None) -> None:
    batch = walk(100, seed=2)
    result = run_backtest(BuyOnce(size=size), batch, execution=NO_FEES)
    quantity = result.fills[0].quantity
    assert quantity == (expected or math.floor(0.25 * 100_000 / batch.open[ENTRY + 1]))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rsi_reversion", {"period": 6, "lower": 40, "upper": 60, "size": "fraction:0.3"}),
        ("rsi_reversion", {"period": 6, "lower": 40, "upper": 60}),
        ("ema_cross", {"fast": 4, "slow": 11, "size": "units:4"}),
        ("sma_cross", {"fast": 3, "slow": 8, "size": "fraction:0.7"}),
    ],
)
def test_the_fast_path_sizes_like_the_event_path(name: str, params: dict[str, Any]) -> None:
    batch = walk(3000, seed=21)
    comparison = compare_paths(
        create_strategy(name, params),
        {batch.instrument: batch},
        execution=ExecutionConfig(fees_bps=7.0),
    )
    assert comparison.agree, comparison.first_difference
    assert comparison.event["trades"] > 20


@pytest.mark.parametrize("size", ["vol:0.2", "atr:0.01", "kelly:0.5"])
def test_the_fast_path_refuses_sizing_it_does_not_model(size: str) -> None:
    strategy = create_strategy("rsi_reversion", {"size": size})
    with pytest.raises(StrategyError, match="--engine event"):
        run_fast(strategy, walk(100))
    with pytest.raises(ConfigError, match="--engine event"):
        check_job(strategy, "fast", 1, has_predictions=True)


def test_kelly_sizing_needs_forecasts() -> None:
    with pytest.raises(ConfigError, match="give --predictions"):
        check_job(
            create_strategy("sma_cross", {"size": "kelly:0.5"}), "event", 1, has_predictions=False
        )


def test_the_sizing_table_and_the_param_choose_the_size(tmp_path: Path) -> None:
    config = tmp_path / "neo.toml"
    config.write_text(
        '[sizing]\nsize = "fraction:0.5"\nstrategies = { rsi_reversion = "vol:0.15" }\n'
    )
    settings = load_settings(config)
    assert str(configured_strategy(settings, "sma_cross", None).sizing) == "fraction:0.5"
    assert str(configured_strategy(settings, "rsi_reversion", None).sizing) == "vol:0.15"
    chosen = configured_strategy(settings, "rsi_reversion", ["size=units:2"])
    assert str(chosen.sizing) == "units:2"  # --param wins
    assert str(configured_strategy(load_settings(None), "hybrid", None).sizing) == "equity"
    config.write_text('[sizing]\nsize = "fraction:3"\n')
    with pytest.raises(ConfigError, match=r"sizing\.size.*fraction of equity must be in"):
        load_settings(config)


def test_paper_refuses_kelly_sizing_without_a_model(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from neo.cli.main import app

    args = ["--data-dir", str(tmp_path), "paper", "--param", "size=kelly:0.5", "--cycles", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.output == "error: size=kelly:0.5 sizes by the model's forecast: give --model\n"


def test_dust_below_one_lot_counts_as_flat_for_a_signal() -> None:
    """A buy whose fee was taken in the coins bought leaves, after the exit sells every whole
    lot, dust no exchange takes: the next long signal must enter again (it was ignored as
    'already long'), and a flat signal sends nothing for the dust."""
    from neo.domain import Fill, Instrument, OrderId, Side, TradeId
    from neo.execution.ledger import Ledger

    spec = Instrument.simple("BTC/USDT", venue="binance", lot_size=1e-5)
    ledger = Ledger(100_000.0, {spec.id: spec})
    for n, (side, quantity, fee_base) in enumerate(
        [(Side.BUY, 0.01234, 0.00001234), (Side.SELL, 0.01232, 0.0)]
    ):
        ledger.apply_fill(
            Fill(order_id=OrderId("o"), trade_id=TradeId(f"t{n}"), instrument=spec.id,
                 side=side, quantity=quantity, price=40_000.0, fee=0.0, fee_base=fee_base, ts=n)
        )  # fmt: skip
    assert 0 < ledger.position(spec.id) < spec.lot_size  # 0.00000766 BTC of dust
    ctx = StrategyContext(spec, ledger, timeframe_ns=60 * 10**9)
    ctx.signal(0.0)
    assert math.isnan(ctx.target) and not ctx.deferred
    ctx.signal(1.0)
    ((side, tag, fraction),) = ctx.deferred  # all the equity, as the run's sizing says
    assert (side, tag, fraction) == (Side.BUY, "", pytest.approx(1.0))
