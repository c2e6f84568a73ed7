"""NEO's sma_cross against backtesting.py's canonical SmaCross, with matched settings.

backtesting.py: ``SmaCross(n1=10, n2=20)``, ``commission=0.002``, ``cash=10_000``, market orders
filled at the next bar's open, ``buy()``/``sell()`` sized with all available equity in whole
units, ``position.close()`` before each reversal. NEO: ``sma_cross(fast=10, slow=20, size=None)``
with ``fees_bps=20`` and the default ``next_open`` fill. Same trades (entry/exit bars, sizes,
prices) and the same final equity within 1e-6 relative.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from neo.domain import BarBatch, InstrumentId, Timeframe
from neo.engine.backtest import run_backtest
from neo.execution.config import ExecutionConfig
from tests.optional import require

backtesting = require("backtesting")
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402


def _sma(values: Any, n: int) -> Any:
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):  # type: ignore[misc]
    n1 = 10
    n2 = 20

    def init(self) -> None:
        close = self.data.Close
        self.sma1 = self.I(_sma, close, self.n1)
        self.sma2 = self.I(_sma, close, self.n2)

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


def _goog() -> pd.DataFrame:
    sampledata = require("bokeh_sampledata.stocks")
    frame = pd.DataFrame(sampledata.GOOG)
    index = pd.DatetimeIndex(pd.to_datetime(frame["date"]), name="ts").tz_localize("UTC")
    return pd.DataFrame(
        {
            "Open": frame["open"].to_numpy(float),
            "High": frame["high"].to_numpy(float),
            "Low": frame["low"].to_numpy(float),
            "Close": frame["close"].to_numpy(float),
            "Volume": frame["volume"].to_numpy(float),
        },
        index=index,
    )


def _random_walk(n: int = 3000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC", name="ts")
    volume = rng.uniform(1e5, 1e6, n)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index
    )


def _compare(frame: pd.DataFrame) -> None:
    bt = Backtest(frame.tz_localize(None), SmaCross, cash=10_000, commission=0.002)
    stats = bt.run()
    reference = stats["_trades"]

    batch = BarBatch.from_pandas(
        InstrumentId("sim", "X/USD"),
        Timeframe.parse("1d"),
        frame.rename(columns=str.lower),
    )
    result = run_backtest(
        "sma_cross",
        batch,
        params={"fast": 10, "slow": 20, "size": None},
        execution=ExecutionConfig(fees_bps=20.0, cash=10_000.0),
    )
    closed = result.trades
    assert len(reference) > 10, "the reference run should trade"
    assert len(closed) == len(reference)
    position = {int(t): k for k, t in enumerate(batch.ts)}
    for ours, (_, theirs) in zip(closed, reference.iterrows(), strict=True):
        assert ours.quantity == theirs["Size"]
        assert position[ours.entry_ts] == theirs["EntryBar"]
        assert position[ours.exit_ts] == theirs["ExitBar"]
        assert ours.entry_price == pytest.approx(theirs["EntryPrice"], rel=1e-12)
        assert ours.exit_price == pytest.approx(theirs["ExitPrice"], rel=1e-12)
        assert ours.pnl == pytest.approx(theirs["PnL"], rel=1e-9, abs=1e-6)
    final = float(stats["Equity Final [$]"])
    assert result.final_equity == pytest.approx(final, rel=1e-6)
    assert result.equity == pytest.approx(stats["_equity_curve"]["Equity"].to_numpy(), rel=1e-6)


# backtesting.py warns that the last position is still open (NEO keeps it open too)
_OPEN_AT_END = "ignore:Some trades remain open at the end of backtest:UserWarning"


@pytest.mark.filterwarnings(_OPEN_AT_END)
def test_same_trades_as_backtesting_py_on_goog_daily() -> None:
    _compare(_goog())


@pytest.mark.filterwarnings(_OPEN_AT_END)
def test_same_trades_as_backtesting_py_on_a_seeded_random_walk() -> None:
    _compare(_random_walk())


def _finalized(frame: pd.DataFrame, engine: str) -> None:
    """``--close-at-end`` against ``finalize_trades=True``: the position still open at the end
    is closed on the last bar at the same price, so every trade and the final equity agree."""
    bt = Backtest(
        frame.tz_localize(None), SmaCross, cash=10_000, commission=0.002, finalize_trades=True
    )
    stats = bt.run()
    reference = stats["_trades"]
    batch = BarBatch.from_pandas(
        InstrumentId("sim", "X/USD"), Timeframe.parse("1d"), frame.rename(columns=str.lower)
    )
    config = ExecutionConfig(fees_bps=20.0, cash=10_000.0)
    if engine == "fast":
        from neo.engine.fast import fast_backtest
        from neo.strategies.registry import create_strategy

        strategy = create_strategy("sma_cross", {"fast": 10, "slow": 20, "size": None})
        result = fast_backtest(strategy, batch, execution=config, close_at_end=True)
    else:
        result = run_backtest(
            "sma_cross",
            batch,
            params={"fast": 10, "slow": 20, "size": None},
            execution=config,
            close_at_end=True,
        )
    assert len(result.trades) == len(reference) > 10
    position = {int(t): k for k, t in enumerate(batch.ts)}
    for ours, (_, theirs) in zip(result.trades, reference.iterrows(), strict=True):
        assert ours.quantity == theirs["Size"]
        assert position[ours.entry_ts] == theirs["EntryBar"]
        assert position[ours.exit_ts] == theirs["ExitBar"]
        assert ours.entry_price == pytest.approx(theirs["EntryPrice"], rel=1e-12)
        assert ours.exit_price == pytest.approx(theirs["ExitPrice"], rel=1e-12)
        assert ours.pnl == pytest.approx(theirs["PnL"], rel=1e-9, abs=1e-6)
    assert reference["ExitBar"].iloc[-1] == len(batch) - 1  # the last one was closed at the end
    assert result.final_equity == pytest.approx(float(stats["Equity Final [$]"]), rel=1e-9)
    assert result.positions[batch.instrument][-1] == 0.0


@pytest.mark.parametrize("engine", ["event", "fast"])
def test_close_at_end_matches_finalize_trades_on_goog_daily(engine: str) -> None:
    _finalized(_goog(), engine)


@pytest.mark.parametrize("engine", ["event", "fast"])
def test_close_at_end_matches_finalize_trades_on_a_seeded_random_walk(engine: str) -> None:
    _finalized(_random_walk(), engine)
