"""The event-driven backtest: accounting identities, the fast path, several instruments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from neo.domain import BarBatch, Instrument, InstrumentId, Side, Timeframe
from neo.domain.errors import ConfigError, DataError
from neo.engine.backtest import run_backtest
from neo.engine.fast import run_fast, strategy_targets
from neo.engine.instruments import default_instrument
from neo.execution.config import ExecutionConfig
from neo.strategies import create_strategy
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from tests.unit.engine.bars import walk

FAST_CASES = [
    ("sma_cross", {"size": 7}),
    ("ema_cross", {"fast": 4, "slow": 9, "size": 3}),
    ("rsi_reversion", {"period": 5, "lower": 40, "upper": 60, "size": 2}),
    ("rsi_reversion", {"period": 8, "allow_short": False}),
]


@pytest.mark.parametrize(("name", "params"), FAST_CASES)
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_event_path_and_fast_path_agree(name: str, params: dict[str, Any], fill: str) -> None:
    batch = walk(700, seed=21)
    config = ExecutionConfig(fill=fill, fees_bps=7.0, slippage_bps=3.0, cash=50_000.0)
    event = run_backtest(name, batch, params=params, execution=config)
    fast = run_fast(name, batch, params=params, execution=config)
    assert len(event.fills) > 10
    assert [(f.side, f.quantity, f.price, f.fee, f.ts) for f in event.fills] == [
        (f.side, f.quantity, f.price, f.fee, f.ts) for f in fast.fills()
    ]
    assert event.trades == fast.trades()
    np.testing.assert_allclose(event.equity, fast.equity, rtol=1e-12)
    np.testing.assert_allclose(event.cash, fast.cash, rtol=1e-12)
    np.testing.assert_array_equal(event.positions[batch.instrument], fast.position)


def test_fast_path_needs_precomputed_targets() -> None:
    with pytest.raises(Exception, match="event path"):
        run_fast("sma_cross", walk(50), params={"size": None})
    targets = strategy_targets(
        create_strategy("sma_cross", {"size": 2.7}),
        walk(300),
        Instrument.simple("BTC/USDT", lot_size=0.5),
    )
    assert set(np.unique(np.abs(targets[~np.isnan(targets)]))) == {2.5}


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_equity_is_cash_plus_positions_at_every_bar_and_fees_add_up(fill: str) -> None:
    batch = walk(800, seed=2)
    config = ExecutionConfig(fill=fill, fees_bps=10.0, cash=10_000.0)
    result = run_backtest("sma_cross", batch, params={"size": None}, execution=config)
    iid = batch.instrument
    # rebuild cash and position bar by bar from the fills alone
    cash = np.full(len(batch), config.cash)
    position = np.zeros(len(batch))
    index = {int(t): k for k, t in enumerate(batch.ts)}
    for fill_ in result.fills:
        k = index[fill_.ts]
        cash[k:] -= fill_.signed_quantity * fill_.price + fill_.fee
        position[k:] += fill_.signed_quantity
    np.testing.assert_allclose(result.cash, cash, rtol=1e-12)
    np.testing.assert_array_equal(result.positions[iid], position)
    np.testing.assert_allclose(result.equity, cash + position * batch.close, rtol=1e-12)
    assert result.fees == pytest.approx(sum(f.fee for f in result.fills), rel=1e-12)
    closed_pnl = sum(t.pnl for t in result.trades)
    open_lots = position[-1] * batch.close[-1]
    # every fee belongs to a closed trade except the entry fee of the position still open
    open_fee = result.fees - sum(t.fees for t in result.trades)
    assert result.final_equity == pytest.approx(
        config.cash + closed_pnl + open_lots - _open_cost(result, iid) - open_fee, rel=1e-9
    )
    assert all(f.quantity == int(f.quantity) for f in result.fills)  # whole units


def _open_cost(result: Any, iid: InstrumentId) -> float:
    """Cost of the open position: quantity × average entry (it is one lot after a reversal)."""
    held = result.positions[iid][-1]
    if held == 0:
        return 0.0
    last = result.fills[-1]
    return float(held * last.price)


def test_several_instruments_share_one_account() -> None:
    a = walk(300, seed=1, symbol="AAA/USD")
    b = walk(250, seed=2, symbol="BBB/USD", start_ns=int(a.ts[40]))
    done: list[int] = []
    result = run_backtest(
        "sma_cross",
        {a.instrument: a, b.instrument: b},
        params={"size": 1},
        execution=ExecutionConfig(fees_bps=1.0),
        progress=done.append,
    )
    assert sum(done) == len(a) + len(b)
    assert len(result.ts) == len(np.union1d(a.ts, b.ts))
    traded = {f.instrument for f in result.fills}
    assert traded == {a.instrument, b.instrument}
    values = sum(
        result.positions[i] * np.nan_to_num(result.prices[i]) for i in (a.instrument, b.instrument)
    )
    np.testing.assert_allclose(result.equity, result.cash + values, rtol=1e-12)
    alone = run_backtest(
        "sma_cross", a, params={"size": 1}, execution=ExecutionConfig(fees_bps=1.0)
    )
    assert [f.price for f in alone.fills] == [
        f.price for f in result.fills if f.instrument == a.instrument
    ]
    assert result.exposure.shape == result.equity.shape
    assert result.traded_notional > 0


def test_bad_inputs_become_clear_errors() -> None:
    batch = walk(30)
    with pytest.raises(DataError, match="no bars"):
        run_backtest("sma_cross", {})
    with pytest.raises(DataError, match="no bars for"):
        run_backtest("sma_cross", batch.slice(0, 0))
    hourly = BarBatch.from_arrays(
        InstrumentId("sim", "X/Y"),
        Timeframe.parse("1h"),
        ts=batch.ts,
        open=batch.open,
        high=batch.high,
        low=batch.low,
        close=batch.close,
        volume=batch.volume,
    )
    with pytest.raises(ConfigError, match="one timeframe"):
        run_backtest("sma_cross", {batch.instrument: batch, hourly.instrument: hourly})
    with pytest.raises(ConfigError, match="params only"):
        run_backtest(create_strategy("sma_cross"), batch, params={"fast": 3})
    with pytest.raises(ConfigError, match="align them"):
        run_backtest("hybrid", batch, predictions={batch.instrument: np.zeros(3)})


def test_instrument_fees_apply_when_no_override() -> None:
    batch = walk(400, seed=8)
    spec = Instrument(
        id=batch.instrument, taker_fee=0.001, maker_fee=0.0, lot_size=1.0, tick_size=1e-8
    )
    result = run_backtest(
        "sma_cross", batch, params={"size": 5}, instruments={batch.instrument: spec}
    )
    assert result.fills
    for fill in result.fills:
        assert fill.fee == pytest.approx(0.001 * fill.quantity * fill.price)
    assert default_instrument(batch.instrument).lot_size == 1.0
    assert {f.side for f in result.fills} == {Side.BUY, Side.SELL}


def test_the_garbage_collector_is_paused_only_during_the_run() -> None:
    import gc

    from neo.engine.backtest import gc_paused

    states: list[bool] = []

    class Probe(Strategy):
        name = "probe"

        def on_bar(self, ctx: StrategyContext) -> None:
            states.append(gc.isenabled())

    assert gc.isenabled()
    run_backtest(Probe(), walk(5))
    assert states == [False] * 5 and gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
