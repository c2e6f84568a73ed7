"""Cross-check against an independent engine: backtesting.py with matched settings.

Fixed-size long/short reversal on every crossover, commission a fraction of notional on both
legs, fills at the next bar's open: the fast path and the event path must list the same trades
and end with the same equity (1e-9 relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from neo.execution import ExecutionConfig
from neo.execution.fastpath import run_fast_path
from tests.optional import require

from .helpers import EventPathRun, instrument, random_walk

backtesting = require("backtesting")
Strategy: Any = backtesting.Strategy

SIZE = 100.0
COMMISSION = 0.001


def _signals(close: np.ndarray) -> np.ndarray:
    """+1 / -1 on the bar a 5/12 moving-average crossover happens, else 0."""
    fast = pd.Series(close).rolling(5).mean().to_numpy()
    slow = pd.Series(close).rolling(12).mean().to_numpy()
    above = fast > slow
    signal = np.zeros(len(close))
    valid = ~np.isnan(slow)
    for i in range(1, len(close)):
        if valid[i - 1] and above[i] != above[i - 1]:
            signal[i] = 1.0 if above[i] else -1.0
    return signal


# backtesting.py warns (attributed to the caller) that the last trade is still open: intended.
@pytest.mark.filterwarnings("ignore:Some trades remain open:UserWarning")
def test_same_trades_and_equity_as_backtesting_py() -> None:
    batch = random_walk(600, seed=11)
    close = np.asarray(batch.close)
    signal = _signals(close)
    frame = pd.DataFrame(
        {
            "Open": np.asarray(batch.open),
            "High": np.asarray(batch.high),
            "Low": np.asarray(batch.low),
            "Close": close,
            "Volume": np.asarray(batch.volume),
        },
        index=pd.date_range("2024-01-01", periods=len(batch), freq="1min"),
    )

    class Reversal(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            s = signal[len(self.data) - 1]
            if s > 0:
                self.position.close()
                self.buy(size=int(SIZE))
            elif s < 0:
                self.position.close()
                self.sell(size=int(SIZE))

    stats = backtesting.Backtest(
        frame, Reversal, cash=1_000_000, commission=COMMISSION, finalize_trades=False
    ).run()
    reference = stats._trades

    targets = np.where(signal > 0, SIZE, np.where(signal < 0, -SIZE, np.nan))
    spec = instrument(taker_fee=COMMISSION)
    config = ExecutionConfig(cash=1_000_000)
    fast = run_fast_path(batch, targets, spec, config)
    event = EventPathRun(batch, targets, spec, config)
    for trades in (fast.trades(), event.ledger.trades()):
        assert len(trades) == len(reference) > 10
        np.testing.assert_array_equal([t.quantity for t in trades], reference["Size"])
        np.testing.assert_allclose([t.entry_price for t in trades], reference["EntryPrice"])
        np.testing.assert_allclose([t.exit_price for t in trades], reference["ExitPrice"])
        np.testing.assert_allclose([t.pnl for t in trades], reference["PnL"], rtol=1e-9)
        np.testing.assert_allclose([t.fees for t in trades], reference["Commission"], rtol=1e-9)
        entry_bars = np.searchsorted(np.asarray(batch.ts), [t.entry_ts for t in trades])
        np.testing.assert_array_equal(entry_bars, reference["EntryBar"])
    final = float(stats["Equity Final [$]"])
    assert fast.final_equity == pytest.approx(final, rel=1e-9)
    assert event.ledger.equity == pytest.approx(final, rel=1e-9)


@pytest.mark.filterwarnings("ignore:Some trades remain open:UserWarning")
def test_equity_sizing_matches_backtesting_py_default_size() -> None:
    """backtesting.py's canonical SmaCross (close, then buy/sell with all available equity,
    whole units) against orders with ``equity_fraction=0.9999``, its default size."""
    from neo.domain import Event, Order, Side
    from neo.domain.order import next_order_id
    from neo.execution import Ledger, SimulatedBroker

    batch = random_walk(500, seed=5)
    close = np.asarray(batch.close)
    signal = _signals(close)
    frame = pd.DataFrame(
        {"Open": np.asarray(batch.open), "High": np.asarray(batch.high),
         "Low": np.asarray(batch.low), "Close": close, "Volume": np.asarray(batch.volume)},
        index=pd.date_range("2024-01-01", periods=len(batch), freq="1min"),
    )  # fmt: skip

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            s = signal[len(self.data) - 1]
            if s > 0:
                self.position.close()
                self.buy()
            elif s < 0:
                self.position.close()
                self.sell()

    stats = backtesting.Backtest(
        frame, SmaCross, cash=10_000, commission=COMMISSION, finalize_trades=False
    ).run()
    reference = stats._trades

    spec = instrument(taker_fee=COMMISSION)
    ledger = Ledger(10_000.0, {spec.id: spec})
    events: list[Event] = []
    broker = SimulatedBroker({spec.id: spec}, ExecutionConfig(cash=10_000.0), events.append, ledger)
    for i in range(len(batch)):
        ts = int(batch.ts[i])
        o, h, lo, c = (float(x[i]) for x in (batch.open, batch.high, batch.low, close))
        broker.on_bar_open(spec.id, ts, o, h, lo, c, float(batch.volume[i]))
        ledger.update_price(spec.id, float(close[i]), ts)
        if signal[i] == 0:
            continue
        held = ledger.position(spec.id)
        if held:
            side = Side.SELL if held > 0 else Side.BUY
            broker.submit(Order(id=next_order_id(), instrument=spec.id, side=side,
                                quantity=abs(held), reduce_only=True))  # fmt: skip
        side = Side.BUY if signal[i] > 0 else Side.SELL
        broker.submit(
            Order(
                id=next_order_id(),
                instrument=spec.id,
                side=side,
                quantity=1.0,
                equity_fraction=0.9999,
            )
        )
    trades = ledger.trades()
    assert len(trades) == len(reference) > 10
    fast = run_fast_path(batch, np.where(signal == 0, np.nan, signal), spec,
                         ExecutionConfig(cash=10_000.0), equity_fraction=0.9999)  # fmt: skip
    assert [t.quantity for t in fast.trades()] == [t.quantity for t in trades]
    assert fast.final_equity == pytest.approx(float(stats["Equity Final [$]"]), rel=1e-9)
    np.testing.assert_array_equal([t.quantity for t in trades], reference["Size"])
    np.testing.assert_allclose([t.pnl for t in trades], reference["PnL"], rtol=1e-9)
    assert ledger.equity == pytest.approx(float(stats["Equity Final [$]"]), rel=1e-9)
