"""All-equity orders (the crossovers' default ``size``): a risk gate that lets every order pass
changes no trade, sizing pays the broker's fee, and an order that sizes to nothing is reported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from neo.domain import InstrumentId, Order, OrderCancelled, Side
from neo.domain.events import Event
from neo.engine.backtest import BacktestResult, run_backtest
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock
from neo.engine.instruments import default_instrument
from neo.engine.loop import ROUNDS_TO_NOTHING, AutonomousTradingLoop
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import Ledger
from neo.execution.simulated import INSUFFICIENT_EQUITY, SimulatedBroker
from neo.risk import PreTradeRiskGate
from neo.risk.base import PassThroughRiskGate
from neo.risk.config import RiskConfig
from neo.risk.sizing import FULL_EQUITY
from neo.strategies import create_strategy
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from tests.unit.engine.bars import walk


class DoNothingGate(PassThroughRiskGate):
    """Approves everything, but is not *the* pass-through gate, so the engine consults it."""

    def __init__(self) -> None:
        self.checked: list[Order] = []

    def check(self, order: Order, account: Any) -> Any:
        self.checked.append(order)
        return super().check(order, account)


def _fills(result: BacktestResult) -> list[tuple[Any, ...]]:
    return [(f.side, f.quantity, f.price, f.fee, f.ts) for f in result.fills]


GATES = [
    pytest.param(DoNothingGate, id="pass-through-subclass"),
    pytest.param(lambda: PreTradeRiskGate(RiskConfig()), id="pre-trade-gate-no-limits"),
]


@pytest.mark.parametrize("make_gate", GATES)
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_a_gate_that_binds_nothing_changes_no_trade(make_gate: Any, fill: str) -> None:
    batch = walk(3000, seed=4)
    config = ExecutionConfig(fill=fill, fees_bps=30.0, slippage_bps=2.0, cash=20_000.0)
    plain = run_backtest("sma_cross", batch, execution=config)
    gated = run_backtest("sma_cross", batch, execution=config, risk=make_gate())
    shorts = [t for t in plain.trades if t.quantity < 0]
    assert len(shorts) > 20, "the reversal must open short trades"
    assert gated.trades == plain.trades
    assert _fills(gated) == _fills(plain)
    assert gated.final_equity == plain.final_equity
    np.testing.assert_array_equal(gated.equity, plain.equity)
    assert gated.stats.unsized_orders == plain.stats.unsized_orders == 0


def test_the_gate_judges_the_size_the_order_will_get() -> None:
    batch = walk(1500, seed=9)
    config = ExecutionConfig(fees_bps=25.0, cash=10_000.0)
    gate = DoNothingGate()
    result = run_backtest("sma_cross", batch, execution=config, risk=gate)
    entries = {o.id: o for o in gate.checked if o.quantity > 1.0}
    filled = {f.order_id: f for f in result.fills if f.order_id in entries}
    assert len(filled) > 10
    for order_id, fill in filled.items():
        # estimated at the close, filled at the next open: the notional is the same equity
        bar = int(np.searchsorted(batch.ts, fill.ts)) - 1
        estimate = entries[order_id].quantity * batch.close[bar]
        assert estimate == pytest.approx(fill.quantity * fill.price, rel=0.02)


@pytest.mark.parametrize("impact", ["none", "volume"])
@pytest.mark.parametrize("gate", [None, DoNothingGate()])
def test_cash_never_goes_negative_with_all_equity_sizing_and_fees(gate: Any, impact: str) -> None:
    batch = walk(4000, seed=12)  # with impact a 5k buy is ~10 % of a bar's volume: ~1 % dearer
    config = ExecutionConfig(
        fees_bps=50.0, slippage_bps=5.0, cash=5_000.0, impact=impact, impact_coefficient=0.1
    )  # type: ignore[arg-type]
    result = run_backtest("sma_cross", batch, execution=config, risk=gate)
    longs = [t for t in result.trades if t.quantity > 0]
    assert len(longs) > 20
    # after every long entry (all the equity spent) cash is what the fee left over
    assert result.cash.min() >= 0.0
    for fill in result.fills:
        assert fill.fee == pytest.approx(50e-4 * fill.quantity * fill.price, rel=1e-12)


class BuyTwice(Strategy):
    """Spends all equity on bar 3, then asks for all equity again and for a dust-sized order."""

    name = "buy_twice"

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i in (3, 6):
            ctx.buy()
        if ctx.i == 8:
            assert ctx.buy(1e-12) is None


@pytest.mark.parametrize("gate", [None, DoNothingGate()])
def test_an_order_that_sizes_to_nothing_is_an_event_and_a_count(gate: Any) -> None:
    bus = MessageBus()
    seen: list[Event] = []
    bus.subscribe(OrderCancelled, seen.append)
    result = run_backtest(BuyTwice(), walk(20), risk=gate, bus=bus)
    assert len(result.fills) == 1
    assert result.stats.unsized_orders == 2
    unsized = [e for e in result.events if isinstance(e, OrderCancelled)]
    assert [e.reason.split(":")[0] for e in unsized] == [INSUFFICIENT_EQUITY, ROUNDS_TO_NOTHING]
    assert seen == unsized
    assert {o.status.value for o in result.orders} == {"filled", "cancelled"}


class ForeignBroker:
    """A broker that is not the simulated one (like a live adapter): it reads the size estimate.

    It delegates to a SimulatedBroker that charges 40 bps whatever the instrument says.
    """

    def __init__(self, inner: SimulatedBroker) -> None:
        self._inner = inner
        self.submitted: list[Order] = []

    def submit(self, order: Order) -> None:
        self.submitted.append(order)
        self._inner.submit(order)

    def fee_rate(self, instrument: InstrumentId) -> float:
        return self._inner.fee_rate(instrument)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _foreign_loop(cash: float) -> tuple[AutonomousTradingLoop, ForeignBroker, Ledger]:
    batch = walk(2500, seed=4)
    spec = default_instrument(batch.instrument)
    specs = {spec.id: spec}
    bus = MessageBus()
    ledger = Ledger(cash, specs)
    config = ExecutionConfig(fees_bps=40.0, cash=cash)
    broker = ForeignBroker(SimulatedBroker(specs, config, bus.publish, ledger))
    loop = AutonomousTradingLoop(
        strategy=create_strategy("sma_cross"),
        instruments=[spec],
        timeframe=batch.timeframe,
        broker=broker,  # type: ignore[arg-type]
        ledger=ledger,
        bus=bus,
        clock=SimulatedClock(0),
        mode="backtest",
    )
    loop.load_history(batch)
    loop.start()
    for i in range(len(batch)):
        loop.on_bar(0, i)
    loop.stop()
    return loop, broker, ledger


def test_another_broker_gets_orders_sized_after_the_close_at_its_own_fee() -> None:
    loop, broker, ledger = _foreign_loop(10_000.0)
    entries: Sequence[Order] = [o for o in broker.submitted if o.tag == "sma_cross"]
    sides = {o.side for o in entries if o.quantity > 1}
    assert sides == {Side.BUY, Side.SELL}, "both reversal legs must be sized, not dropped"
    curve = loop.equity_curve()
    close = np.asarray(curve.prices[loop.instruments[0]])
    step = {int(t): k for k, t in enumerate(curve.ts)}
    last_of_bar = {o.created_ns: o for o in entries}  # the entry follows the close on its bar
    sized = [o for o in last_of_bar.values() if o.quantity > 1]
    assert len(sized) > 20
    for order in sized:
        k = step[order.created_ns - 60 * 10**9]
        # the whole equity (less fees, in whole units) at that close, not what the long left
        gap = abs(order.quantity * close[k] - curve.equity[k])
        assert gap <= close[k] + 0.012 * curve.equity[k]
    for fill in ledger.fills():
        assert fill.fee == pytest.approx(40e-4 * fill.quantity * fill.price, rel=1e-12)
    assert loop.stats.risk_denials == 0


def test_another_broker_without_equity_cancels_the_order_as_an_event() -> None:
    """The order reaches the broker with its fraction (the broker sizes it); it sizes to nothing
    there and is cancelled, an event and a count, never dropped."""

    class Empty(Strategy):
        name = "empty"

        def on_bar(self, ctx: StrategyContext) -> None:
            if ctx.i == 2:
                ctx.buy()

    batch = walk(10)
    spec = default_instrument(batch.instrument)
    bus = MessageBus()
    ledger = Ledger(1.0, {spec.id: spec})  # less than one unit at ~100
    broker = ForeignBroker(
        SimulatedBroker({spec.id: spec}, ExecutionConfig(cash=1.0), bus.publish, ledger)
    )
    loop = AutonomousTradingLoop(
        strategy=Empty(),
        instruments=[spec],
        timeframe=batch.timeframe,
        broker=broker,  # type: ignore[arg-type]
        ledger=ledger,
        bus=bus,
        clock=SimulatedClock(0),
        mode="backtest",
    )
    loop.load_history(batch)
    loop.start()
    for i in range(len(batch)):
        loop.on_bar(0, i)
    assert [o.equity_fraction for o in broker.submitted] == [FULL_EQUITY]
    assert loop.stats.unsized_orders == 1
    assert isinstance(loop.notable[0], OrderCancelled)
    assert loop.notable[0].reason == INSUFFICIENT_EQUITY
