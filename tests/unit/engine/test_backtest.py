"""The event-driven backtest: accounting identities, the fast path, several instruments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from neo.domain import BarBatch, Instrument, InstrumentId, Side, Timeframe
from neo.domain.errors import ConfigError, DataError, StrategyError
from neo.engine.backtest import run_backtest
from neo.engine.fast import fast_backtest, run_fast, strategy_targets
from neo.engine.instruments import default_instrument
from neo.execution.config import ExecutionConfig
from neo.strategies import create_strategy
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from tests.unit.engine.bars import walk

FAST_CASES = [
    ("sma_cross", {"size": 7}),
    ("sma_cross", {}),  # all available equity, reversed on every cross
    ("ema_cross", {"fast": 4, "slow": 9, "size": 3}),
    ("ema_cross", {"fast": 6, "slow": 25, "size": None}),
    ("rsi_reversion", {"period": 5, "lower": 40, "upper": 60, "size": 2}),
    ("rsi_reversion", {"period": 8, "allow_short": False}),
    ("hybrid", {}),
    ("hybrid", {"trend": 0, "size": 2.5}),
    ("hybrid", {"trend": 10, "vol_window": 20, "vol_ratio": 1.1, "allow_short": False}),
    ("hybrid", {"threshold": 0.8, "trend": 30, "size": 4}),
]


def _forecasts(n: int, seed: int = 3) -> np.ndarray:
    values = np.random.default_rng(seed).normal(0.0, 1.0, n)
    values[:25] = np.nan  # no model yet
    values[300:320] = np.nan  # a gap in the walk-forward predictions
    return values


@pytest.mark.parametrize(("name", "params"), FAST_CASES)
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_event_path_and_fast_path_agree(name: str, params: dict[str, Any], fill: str) -> None:
    batch = walk(700, seed=21)
    config = ExecutionConfig(fill=fill, fees_bps=7.0, slippage_bps=3.0, cash=50_000.0)
    preds = _forecasts(len(batch))
    event = run_backtest(
        name, batch, params=params, execution=config, predictions={batch.instrument: preds}
    )
    fast = run_fast(name, batch, params=params, execution=config, predictions=preds)
    assert len(event.fills) > 10
    assert [(f.side, f.quantity, f.price, f.fee, f.ts) for f in event.fills] == [
        (f.side, f.quantity, f.price, f.fee, f.ts) for f in fast.fills()
    ]
    assert event.trades == fast.trades()
    np.testing.assert_allclose(event.equity, fast.equity, rtol=1e-12)
    np.testing.assert_allclose(event.cash, fast.cash, rtol=1e-12)
    np.testing.assert_array_equal(event.positions[batch.instrument], fast.position)


def test_fast_path_refuses_what_it_cannot_run() -> None:
    class NoVector(Strategy):
        name = "no_vector"

        def on_bar(self, ctx: StrategyContext) -> None:
            ctx.buy(1)

    with pytest.raises(StrategyError, match="no vector form"):
        run_fast(NoVector(), walk(50))
    a = walk(60, seed=1, symbol="AAA/USD")
    b = walk(60, seed=2, symbol="BBB/USD")
    with pytest.raises(ConfigError, match="several instruments"):
        run_fast("sma_cross", {a.instrument: a, b.instrument: b})
    with pytest.raises(ConfigError, match="align them"):
        run_fast("hybrid", a, predictions=np.zeros(3))
    with pytest.raises(ConfigError, match="params only"):
        run_fast(create_strategy("sma_cross"), a, params={"fast": 3})
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
    config = ExecutionConfig(fees_bps=1.0, cash=20_000.0)
    result = run_backtest(
        "sma_cross", {a.instrument: a, b.instrument: b}, params={"size": 1}, execution=config
    )
    timeline = np.union1d(a.ts, b.ts)
    assert np.array_equal(result.ts, timeline)
    assert {f.instrument for f in result.fills} == {a.instrument, b.instrument}
    # Replay the fill list by hand: one cash balance, a position per instrument, each marked at
    # its own latest close (carried over the steps where it has no bar).
    cash = config.cash
    held = {a.instrument: 0.0, b.instrument: 0.0}
    fills = sorted(result.fills, key=lambda f: f.ts)
    closes = {
        batch.instrument: dict(zip(batch.ts.tolist(), batch.close.tolist(), strict=True))
        for batch in (a, b)
    }
    last = {a.instrument: 0.0, b.instrument: 0.0}
    k = 0
    for step, ts in enumerate(timeline.tolist()):
        while k < len(fills) and fills[k].ts <= ts:
            fill = fills[k]
            cash -= fill.signed_quantity * fill.price + fill.fee
            held[fill.instrument] += fill.signed_quantity
            k += 1
        for iid in held:
            last[iid] = closes[iid].get(ts, last[iid])
        expected = cash + sum(held[iid] * last[iid] for iid in held)
        assert result.cash[step] == pytest.approx(cash, rel=1e-12)
        assert result.positions[a.instrument][step] == held[a.instrument]
        assert result.positions[b.instrument][step] == held[b.instrument]
        assert result.equity[step] == pytest.approx(expected, rel=1e-12)
    assert k == len(fills)
    alone = run_backtest("sma_cross", a, params={"size": 1}, execution=config)
    assert [f.price for f in alone.fills] == [
        f.price for f in result.fills if f.instrument == a.instrument
    ]
    assert result.traded_notional == pytest.approx(sum(f.quantity * f.price for f in fills))


def test_progress_advances_in_about_a_hundred_steps() -> None:
    for batches in (
        {"one": walk(1234, seed=1)},
        {"a": walk(700, seed=1, symbol="AAA/USD"), "b": walk(500, seed=2, symbol="BBB/USD")},
    ):
        done: list[int] = []
        bars = {batch.instrument: batch for batch in batches.values()}
        run_backtest("sma_cross", bars, params={"size": 1}, progress=done.append)
        assert sum(done) == sum(len(batch) for batch in bars.values())
        assert 90 <= len(done) <= 101


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_several_instruments_on_the_fast_path_match_the_event_path(fill: str) -> None:
    a = walk(900, seed=1, symbol="AAA/USD")
    b = walk(900, seed=2, symbol="BBB/USD")
    c = walk(900, seed=3, symbol="CCC/USD")
    bars = {batch.instrument: batch for batch in (a, b, c)}
    preds = {iid: _forecasts(900, seed=k) for k, iid in enumerate(bars)}
    config = ExecutionConfig(fill=fill, fees_bps=9.0, slippage_bps=2.0, cash=30_000.0)
    for name, params in (("ema_cross", {"size": 3}), ("hybrid", {"trend": 20, "size": 2})):
        strategy = create_strategy(name, params)
        event = run_backtest(name, bars, params=params, execution=config, predictions=preds)
        fast = fast_backtest(strategy, bars, execution=config, predictions=preds)
        assert len(event.fills) > 30
        key = [(f.instrument, f.side, f.quantity, f.price, f.fee, f.ts) for f in event.fills]
        assert key == [(f.instrument, f.side, f.quantity, f.price, f.fee, f.ts) for f in fast.fills]
        assert event.trades == fast.trades
        np.testing.assert_array_equal(event.equity, fast.equity)
        np.testing.assert_array_equal(event.cash, fast.cash)
        for iid in bars:
            np.testing.assert_array_equal(event.positions[iid], fast.positions[iid])
        assert len(fast.orders) == len(fast.fills) == fast.stats.fills
        assert fast.fees == pytest.approx(event.fees, rel=1e-12)
        assert fast.extra["engine"] == "fast"


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
