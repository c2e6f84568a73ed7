"""The trading loop: lifecycle, strategy failures, order kinds, risk and portfolio hooks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from neo.domain import (
    Fill,
    Instrument,
    InstrumentId,
    Order,
    OrderStatus,
    OrderType,
    RiskDenied,
    StrategyFailed,
)
from neo.domain.account import AccountView
from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError, InvalidOrderError
from neo.domain.events import Event, OrderCancelled, OrderFilled, TargetSet, TimerFired
from neo.engine.backtest import run_backtest
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock
from neo.engine.config import EngineConfig
from neo.engine.loop import LoopState, get_autonomous_trading_loop, strategy_instances
from neo.execution.config import ExecutionConfig
from neo.risk.base import NO_ACTIONS, RiskActions, RiskVerdict
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from neo.strategies.indicators import sma
from tests.unit.engine.bars import walk


class Flaky(Strategy):
    """Buys one unit every bar, but raises on every fifth bar after queueing an order."""

    name = "flaky"

    def on_bar(self, ctx: StrategyContext) -> None:
        ctx.buy(1)
        if ctx.i % 5 == 4:
            raise RuntimeError(f"bad bar {ctx.i}")


def test_a_failing_strategy_is_counted_and_its_cycle_skipped() -> None:
    batch = walk(50)
    result = run_backtest(Flaky(), batch, execution=ExecutionConfig())
    failures = [e for e in result.events if isinstance(e, StrategyFailed)]
    assert result.stats.strategy_failures == 10 == len(failures)
    assert failures[0].error == "RuntimeError: bad bar 4"
    assert failures[0].strategy == "flaky"
    # the orders queued in a failing cycle were never sent
    assert len(result.orders) == 40
    assert result.stats.bars == 50


def test_too_many_failures_stop_the_loop() -> None:
    result = run_backtest(
        Flaky(), walk(50), engine=EngineConfig(max_strategy_failures=2), execution=ExecutionConfig()
    )
    assert result.stats.strategy_failures == 2
    assert result.stats.bars == 10  # stopped after the second failure (bar 9)


class Recorder(Strategy):
    name = "recorder"
    kind: str = "market"

    def on_start(self, ctx: StrategyContext) -> None:
        self.seen: list[int] = []
        self.fills: list[Fill] = []
        self.stopped = False
        self.avg = ctx.indicator(sma, "close", 3)

    def on_bar(self, ctx: StrategyContext) -> None:
        self.seen.append(ctx.i)
        if ctx.i != 5:
            return
        price = ctx.price
        if self.kind == "limit":
            ctx.buy(2, limit=price * 0.999)
        elif self.kind == "stop":
            ctx.sell(2, stop=price * 0.999)
        elif self.kind == "stop_limit":
            ctx.buy(2, stop=price * 1.001, limit=price * 1.01)
        elif self.kind == "bracket":
            ctx.buy(2, sl=price * 0.99, tp=price * 1.01)
        else:
            ctx.buy(2)

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        self.fills.append(fill)

    def on_stop(self, ctx: StrategyContext) -> None:
        self.stopped = True


def _loop(strategy: Strategy, **kwargs: Any) -> Any:
    batch = kwargs.pop("batch", walk(60))
    loop = get_autonomous_trading_loop(
        strategy,
        symbols=[batch.instrument.symbol],
        venue=batch.instrument.venue,
        clock=SimulatedClock(0),
        mode="backtest",
        **kwargs,
    )
    loop.load_history(batch)
    return loop, batch


@pytest.mark.parametrize(
    ("kind", "order_type"),
    [
        ("market", OrderType.MARKET),
        ("limit", OrderType.LIMIT),
        ("stop", OrderType.STOP),
        ("stop_limit", OrderType.STOP_LIMIT),
        ("bracket", OrderType.MARKET),
    ],
)
def test_order_kinds_reach_the_broker(kind: str, order_type: OrderType) -> None:
    strategy = Recorder(kind=kind)
    loop, batch = _loop(strategy)
    events: list[Event] = []
    loop.bus.subscribe(Event, events.append)
    loop.start()
    for i in range(len(batch)):
        loop.on_bar(0, i)
    loop.stop("done")
    entry = min(loop.orders.values(), key=lambda o: int(o.id.split("-")[1]))
    assert entry.type is order_type
    assert entry.created_ns == int(batch.ts[5]) + batch.timeframe.nanos
    assert strategy.seen == list(range(len(batch)))
    assert strategy.stopped
    assert loop.state is LoopState.STOPPED
    assert strategy.fills, "the entry should fill on this data"
    assert strategy.fills[0].order_id == entry.id
    if kind == "bracket":
        legs = [o for o in loop.orders.values() if o.parent_id == entry.id]
        assert {o.type for o in legs} == {OrderType.STOP, OrderType.LIMIT}
        statuses = sorted(o.status for o in legs)
        assert statuses == sorted([OrderStatus.FILLED, OrderStatus.CANCELLED])
        assert any(isinstance(e, OrderCancelled) for e in events)
    assert any(isinstance(e, OrderFilled) for e in events)
    assert len(strategy.avg) == len(batch)


def test_pause_skips_strategies_and_resume_continues() -> None:
    strategy = Recorder()
    loop, batch = _loop(strategy)
    loop.on_bar(0, 0)  # before start: ignored
    loop.start()
    with pytest.raises(ConfigError, match="only start once"):
        loop.start()
    loop.on_bar(0, 0)
    loop.pause()
    assert loop.state is LoopState.PAUSED
    loop.on_bar(0, 1)
    loop.resume()
    loop.on_bar(0, 2)
    loop.stop()
    loop.stop()  # idempotent
    loop.on_bar(0, 3)
    assert strategy.seen == [0, 2]
    assert loop.stats.bars == 3
    with pytest.raises(ConfigError, match="before the loop starts"):
        loop.load_history(batch)


def test_context_accessors_read_the_current_bar_only() -> None:
    class Probe(Strategy):
        name = "probe"

        def on_start(self, ctx: StrategyContext) -> None:
            self.rows: list[tuple[Any, ...]] = []

        def on_bar(self, ctx: StrategyContext) -> None:
            self.rows.append(
                (ctx.price, ctx.last(3).tolist(), ctx.volatility, ctx.prediction, ctx.position)
            )
            assert ctx.equity == pytest.approx(ctx.cash)

    batch = walk(30)
    strategy = Probe()
    preds = np.arange(30.0)
    run_backtest(
        strategy,
        batch,
        predictions={batch.instrument: preds},
        engine=EngineConfig(volatility_window=5),
    )
    rows = strategy.rows
    assert rows[0][1] == [batch.close[0]]
    assert rows[10][0] == batch.close[10]
    assert rows[10][1] == list(batch.close[8:11])
    assert math.isnan(rows[4][2]) and not math.isnan(rows[5][2])
    assert rows[7][3] == 7.0
    assert all(r[4] == 0.0 for r in rows)


def test_context_refuses_bad_intents() -> None:
    loop, _ = _loop(Recorder())
    ctx = loop.context(loop.instruments[0])
    with pytest.raises(InvalidOrderError, match="finite"):
        ctx.target_position(math.nan)
    with pytest.raises(InvalidOrderError, match="plain market order"):
        ctx.buy(limit=10.0)
    with pytest.raises(ConfigError, match="unknown price field"):
        ctx.last(3, "vwap")
    with pytest.raises(ConfigError, match="source"):
        ctx.indicator(sma, np.zeros(3), 2)
    with pytest.raises(ConfigError, match="one value per bar"):
        ctx.indicator(lambda values: values[:2], "close")
    assert ctx.buy(1e-12) is None  # rounds to nothing
    with pytest.raises(ConfigError, match="not in this loop"):
        loop.context(InstrumentId("sim", "NOPE/USD"))


class DenyBuys:
    def __init__(self) -> None:
        self.fills = 0
        self.bars = 0

    def check(self, order: Order, account: AccountView) -> RiskVerdict:
        if order.side.value == "buy":
            return RiskVerdict(False, "no_buys", "buying is off")
        return RiskVerdict(True)

    def on_fill(self, fill: Fill, account: AccountView) -> None:
        self.fills += 1

    def on_bar(self, account: AccountView) -> RiskActions:
        self.bars += 1
        if self.bars == 100:
            return RiskActions(cancel_all=True, reason="test")
        return NO_ACTIONS


def test_risk_gate_denials_are_recorded_and_actions_carried_out() -> None:
    batch = walk(300, seed=5)
    gate = DenyBuys()
    result = run_backtest("sma_cross", batch, params={"size": 1}, risk=gate)
    denied = [e for e in result.events if isinstance(e, RiskDenied)]
    assert denied and all(e.order.side.value == "buy" for e in denied)
    assert denied[0].code == "no_buys" and denied[0].reason == "buying is off"
    assert result.stats.risk_denials == len(denied)
    assert {f.side.value for f in result.fills} == {"sell"}
    assert gate.fills == len(result.fills)
    assert gate.bars == len(batch)


class FollowForecast:
    def __init__(self) -> None:
        self.calls = 0
        self.longest = 0

    def rebalance(
        self,
        forecasts: Mapping[InstrumentId, float],
        account: AccountView,
        returns: Mapping[InstrumentId, FloatArray],
    ) -> Mapping[InstrumentId, float] | None:
        self.calls += 1
        for series in returns.values():
            assert not np.isnan(series).any()
            self.longest = max(self.longest, len(series))
        return {iid: 3.0 if value > 0 else -3.0 for iid, value in forecasts.items()}


def test_portfolio_constructor_turns_forecasts_into_orders() -> None:
    a = walk(200, seed=1, symbol="AAA/USD")
    b = walk(200, seed=2, symbol="BBB/USD")
    rng = np.random.default_rng(0)
    preds = {a.instrument: rng.normal(size=200), b.instrument: rng.normal(size=200)}
    portfolio = FollowForecast()
    bus = MessageBus()
    targets: list[Event] = []
    bus.subscribe(TargetSet, targets.append)
    result = run_backtest(
        "hybrid",
        {a.instrument: a, b.instrument: b},
        params={"trend": 0},
        predictions=preds,
        portfolio=portfolio,
        bus=bus,
    )
    assert portfolio.calls > 0
    assert portfolio.longest == 199  # returns up to the current bar, never later
    assert targets
    for iid in (a.instrument, b.instrument):
        assert set(np.unique(result.positions[iid][5:])) <= {-3.0, 3.0}


def test_factory_builds_a_configured_replaceable_loop() -> None:
    loop = get_autonomous_trading_loop(symbols=["ETH/USDT"], timeframe="5m")
    assert loop.instruments == [InstrumentId("sim", "ETH/USDT")]
    assert loop.timeframe.nanos == 300 * 10**9
    assert loop.ledger.cash == ExecutionConfig().cash
    assert loop.mode == "paper"
    spec = Instrument.simple("X/Y", venue="v")
    custom = get_autonomous_trading_loop(
        "rsi_reversion", params={"period": 3}, instruments=[spec], mode="backtest"
    )
    assert next(iter(strategy_instances(custom).values())).param_values()["period"] == 3


def test_timer_cycles_publish_and_run_the_risk_step() -> None:
    gate = DenyBuys()
    loop, _ = _loop(Recorder(), risk=gate)
    fired: list[Event] = []
    loop.bus.subscribe(TimerFired, fired.append)
    loop.on_timer("early")  # not started: ignored
    loop.start()
    loop.clock.set(123)
    loop.on_timer("rebalance")
    assert [(e.ts, e.name) for e in fired] == [(123, "rebalance")]  # type: ignore[attr-defined]
    assert gate.bars == 1
