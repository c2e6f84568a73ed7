"""The stop manager places real stop orders at the (simulated) broker and moves them.

Bars are hand-made so each expectation can be computed by hand: a scripted strategy opens a
position, the manager protects it, and the fills follow the simulated broker's documented rule
(a sell stop fills at min(open, stop) once the low reaches it).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
import talib

from neo.domain import BarBatch, InstrumentId, Timeframe
from neo.domain.enums import OrderStatus, OrderType, Side
from neo.domain.instrument import Instrument
from neo.engine.backtest import run_backtest
from neo.engine.clock import SimulatedClock
from neo.engine.paper import TimeSteps, build_paper_loop, run_paper
from neo.execution.config import ExecutionConfig
from neo.risk import PreTradeRiskGate, RiskConfig, RiskLimits, StopsConfig
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from tests.unit.engine.bars import ListFeed

BTC = InstrumentId("sim", "BTC/USDT")
MINUTE = Timeframe.parse("1m")
SPEC = Instrument.simple("BTC/USDT", tick_size=0.01, lot_size=1.0)
START = 1_700_000_040 * 10**9


class Script(Strategy):
    """Holds ``plan[i]`` units from bar i on (a target), nothing else."""

    name: ClassVar[str] = "test_script"
    plan: ClassVar[dict[int, float]] = {}

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i in self.plan:
            ctx.target_position(self.plan[ctx.i])


def bars(opens: Sequence[float], highs: Sequence[float], lows: Sequence[float],
         closes: Sequence[float]) -> BarBatch:  # fmt: skip
    n = len(closes)
    return BarBatch.from_arrays(
        BTC,
        MINUTE,
        ts=START + np.arange(n, dtype=np.int64) * MINUTE.nanos,
        open=np.asarray(opens, float),
        high=np.asarray(highs, float),
        low=np.asarray(lows, float),
        close=np.asarray(closes, float),
        volume=np.full(n, 1_000.0),
    )


def gate(stops: StopsConfig, **limits: Any) -> PreTradeRiskGate:
    return PreTradeRiskGate(RiskConfig(limits=RiskLimits(**limits), stops=stops), None, {BTC: SPEC})


def run(batch: BarBatch, plan: dict[int, float], stops: StopsConfig, **limits: Any) -> Any:
    Script.plan = plan
    return run_backtest(
        Script(), batch, instruments={BTC: SPEC}, execution=ExecutionConfig(), risk=gate(stops)
    )


def rising_then_drop() -> BarBatch:
    closes = [100, 101, 102, 104, 106, 108, 110, 109, 100, 99]
    opens = [100, 100, 101, 102, 104, 106, 108, 110, 108.5, 100]
    highs = [max(o, c) + 0.5 for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) - 0.5 for o, c in zip(opens, closes, strict=True)]
    return bars(opens, highs, lows, closes)


def stops_of(result: Any) -> list[Any]:
    return [o for o in result.orders if o.tag == "stop_loss"]


def test_trailing_stop_ratchets_up_and_exits_at_its_price() -> None:
    batch = rising_then_drop()
    result = run(batch, {0: 10.0}, StopsConfig(kind="trailing", pct=0.02))
    entry = result.fills[0]
    assert (entry.side, entry.quantity, entry.price) == (Side.BUY, 10.0, 100.0)  # bar 1 open
    levels = [o.stop_price for o in stops_of(result)]
    # placed at the entry bar: 2 % under the entry; then 2 % under each new highest high
    best = np.maximum.accumulate(np.asarray(batch.high[2:8]))
    expected = [98.0, *dict.fromkeys(round(h * 0.98, 2) for h in best)]
    assert levels == expected
    assert all(b > a for a, b in itertools.pairwise(levels))  # only ever tighter
    assert all(o.type is OrderType.STOP and o.reduce_only for o in stops_of(result))
    exit_fill = result.fills[-1]
    # bar 8 opens at 108.5 above the stop 110.5 * 0.98 = 108.29 and trades through it
    assert exit_fill.side is Side.SELL and exit_fill.quantity == 10.0
    assert exit_fill.price == pytest.approx(round(110.5 * 0.98, 2))
    assert exit_fill.ts == int(batch.ts[8])
    assert result.positions[BTC][-1] == 0.0
    statuses = [o.status for o in stops_of(result)]
    assert statuses[-1] is OrderStatus.FILLED
    assert set(statuses[:-1]) == {OrderStatus.CANCELLED}  # each replaced one was cancelled


def test_stop_orders_rest_at_the_broker_as_stop_orders() -> None:
    batch = rising_then_drop()
    Script.plan = {0: 10.0}
    risk = gate(StopsConfig(kind="trailing", pct=0.02, take_profit_pct=0.2))
    loop = build_paper_loop(Script(), {BTC: SPEC}, MINUTE, risk=risk, clock=SimulatedClock(0))
    loop.start()
    steps = TimeSteps(loop)
    seen: list[list[tuple[OrderType, float | None, float | None]]] = []
    for bar in batch:
        steps.before(bar)
        loop.push_bar(bar)
        steps.after(bar)
        seen.append([(o.type, o.stop_price, o.limit_price) for o in loop.broker.open_orders(BTC)])
    assert seen[0] == [(OrderType.MARKET, None, None)]  # the entry, nothing to protect yet
    # after the entry fill: one STOP and one take-profit LIMIT, in one OCO group
    assert seen[1] == [(OrderType.STOP, 98.0, None), (OrderType.LIMIT, None, 120.0)]
    groups = {o.oco_group for o in loop.broker.open_orders(BTC)}
    assert [o for o in seen[7] if o[0] is OrderType.STOP] == [
        (OrderType.STOP, round(110.5 * 0.98, 2), None)
    ]
    assert seen[-1] == []  # stopped out: the take-profit was cancelled with it (OCO)
    assert len(groups) <= 1


def test_atr_stop_follows_wilders_average_true_range() -> None:
    batch = rising_then_drop()
    config = StopsConfig(kind="atr", atr_mult=2.0, atr_window=3)
    result = run(batch, {0: 10.0}, config)
    high, low, close = (np.asarray(getattr(batch, f)) for f in ("high", "low", "close"))
    atr = talib.ATR(high, low, close, timeperiod=3)  # the independent reference
    assert np.isnan(atr[:3]).all() and not np.isnan(atr[3:]).any()

    def level_at(reference: float, k: int) -> float:  # pct until the ATR has a value
        distance = 2 * atr[k] if k >= 3 else config.pct * reference
        return round(reference - distance, 2)

    # entry seen at bar 1 (filled at its open, 100): 2 % below it; then best high - 2 ATR
    expected = [level_at(100.0, 1)]
    level, best = expected[0], 100.0
    for k in range(2, 8):
        best = max(best, high[k])
        candidate = level_at(best, k)
        if candidate > level:
            level = candidate
            expected.append(level)
    assert [o.stop_price for o in stops_of(result)][: len(expected)] == expected
    assert len(expected) >= 5  # two pct steps before the ATR exists, then it trails on the ATR
    assert result.positions[BTC][-1] == 0.0


def test_time_stop_exits_after_n_bars() -> None:
    flat = bars([100] * 12, [101] * 12, [99] * 12, [100] * 12)
    result = run(flat, {0: 5.0}, StopsConfig(kind="fixed", pct=0.05, time_stop_bars=4))
    exits = [o for o in result.orders if o.tag == "time_stop"]
    assert len(exits) == 1 and exits[0].type is OrderType.MARKET and exits[0].reduce_only
    # entry seen at bar 1; the 4th bar after it (bar 5) sends the exit; it fills at bar 6's open
    assert exits[0].created_ns == int(flat.ts[5]) + MINUTE.nanos
    assert result.fills[-1].ts == int(flat.ts[6]) and result.fills[-1].side is Side.SELL
    assert all(o.status is OrderStatus.CANCELLED for o in stops_of(result))
    # the script does not re-enter, so it stays flat and nothing is left working
    assert result.positions[BTC][-1] == 0.0


def test_leftovers_are_cancelled_when_the_position_is_closed_or_reversed() -> None:
    flat = bars([100] * 10, [100.5] * 10, [99.5] * 10, [100] * 10)
    result = run(flat, {0: 5.0, 3: -5.0, 6: 0.0}, StopsConfig(kind="fixed", pct=0.03))
    stops = stops_of(result)
    assert [(o.side, o.stop_price) for o in stops] == [(Side.SELL, 97.0), (Side.BUY, 103.0)]
    assert all(o.status is OrderStatus.CANCELLED for o in stops)
    assert result.positions[BTC][-1] == 0.0


def test_a_stop_cancelled_by_the_kill_switch_is_placed_again() -> None:
    closes = [100, 100, 100, 94, 94, 94, 94]
    batch = bars(closes, [c + 0.5 for c in closes], [c - 0.5 for c in closes], closes)
    Script.plan = {0: 10.0}
    risk = PreTradeRiskGate(
        RiskConfig(
            limits=RiskLimits(max_drawdown_pct=0.0005),  # 10 × 6 = 60 of 100_000
            on_breach="reduce",
            reduce_fraction=0.5,
            stops=StopsConfig(kind="fixed", pct=0.2),
        ),
        None,
        {BTC: SPEC},
    )
    result = run_backtest(Script(), batch, instruments={BTC: SPEC}, risk=risk)
    assert risk.kill_switch.engaged
    stops = stops_of(result)
    assert stops[0].quantity == 10.0 and stops[0].status is OrderStatus.CANCELLED
    assert "drawdown" in stops[0].reason  # cancel_all of the kill switch
    # placed again for what is left after the reduction, and still working at the end
    assert stops[-1].quantity == 5.0 and stops[-1].status is OrderStatus.ACCEPTED
    assert result.positions[BTC][-1] == 5.0


def test_backtest_and_paper_place_the_same_stops() -> None:
    batch = rising_then_drop()
    config = StopsConfig(kind="atr", atr_mult=1.5, atr_window=2, take_profit_pct=0.08)
    Script.plan = {0: 10.0}
    backtest = run_backtest(Script(), batch, instruments={BTC: SPEC}, risk=gate(config))
    paper = asyncio.run(
        run_paper(
            Script(),
            ListFeed(batch),
            instruments={BTC: SPEC},
            risk=gate(config),
            clock=SimulatedClock(0),
            status=False,
        )
    )

    def key(orders: list[Any]) -> list[tuple[Any, ...]]:
        return [(o.tag, o.type, o.quantity, o.stop_price, o.limit_price, o.status) for o in orders]

    assert len(stops_of(backtest)) >= 2
    assert key(paper.orders) == key(backtest.orders)
    assert [(f.price, f.ts) for f in paper.fills] == [(f.price, f.ts) for f in backtest.fills]
