"""The broker seam (issue 12): the trading loop speaks the ``Broker`` protocol alone.

Two fakes implement only the protocol (neither subclasses nor wraps itself as a SimulatedBroker):
``Recorder`` forwards every call to an inner broker and records the orders it was asked for;
``QuietVenue`` is a venue shown no bars, which accepts every order and fills none (an exchange
whose market did not reach the prices). Through both drivers they must receive exactly the orders
the simulated broker receives, and a run through ``Recorder(simulated)`` must be the simulated run.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neo.engine
from neo.domain import InstrumentId, Order, OrderId, OrderStatus
from neo.domain.events import OrderAccepted, OrderCancelled, OrderSubmitted
from neo.domain.instrument import Instrument
from neo.engine.backtest import BacktestResult, run_backtest
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock
from neo.engine.paper import PaperResult, run_paper
from neo.execution.broker import BarHooks, Broker, BrokerFactory, EventSink
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import Ledger
from neo.execution.simulated import SimulatedBroker
from neo.risk import PreTradeRiskGate
from neo.risk.config import RiskConfig
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from tests.unit.engine.bars import ListFeed, walk


class Recorder:
    """Protocol only: records the orders, forwards everything to ``inner``."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.submitted: list[Order] = []

    def submit(self, order: Order) -> None:
        self.submitted.append(order)
        self.inner.submit(order)

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        self.inner.cancel(order_id, reason)

    def cancel_all(self, instrument: InstrumentId | None = None, reason: str = "") -> None:
        self.inner.cancel_all(instrument, reason)

    def open_orders(self, instrument: InstrumentId | None = None) -> Sequence[Order]:
        return self.inner.open_orders(instrument)

    def fee_rate(self, instrument: InstrumentId, *, maker: bool = False) -> float:
        return self.inner.fee_rate(instrument, maker=maker)

    def bar_hooks(self) -> BarHooks | None:
        return self.inner.bar_hooks()


class QuietVenue:
    """Protocol only, shown no bars: accepts every order, fills none, cancels on request."""

    def __init__(self, instruments: Mapping[InstrumentId, Instrument], sink: EventSink) -> None:
        self.instruments = dict(instruments)
        self.sink = sink
        self.submitted: list[Order] = []
        self.working: dict[OrderId, Order] = {}

    def submit(self, order: Order) -> None:
        self.submitted.append(order)
        now = order.created_ns
        order = order.transition(OrderStatus.SUBMITTED, now)
        self.sink(OrderSubmitted(ts=now, order=order))
        order = order.transition(OrderStatus.ACCEPTED, now)
        self.working[order.id] = order
        self.sink(OrderAccepted(ts=now, order=order))

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        order = self.working.pop(order_id, None)
        if order is not None:
            done = order.transition(OrderStatus.CANCELLED, order.updated_ns, reason or "cancel")
            self.sink(OrderCancelled(ts=done.updated_ns, order=done, reason=done.reason))

    def cancel_all(self, instrument: InstrumentId | None = None, reason: str = "") -> None:
        for order in list(self.open_orders(instrument)):
            self.cancel(order.id, reason)

    def open_orders(self, instrument: InstrumentId | None = None) -> Sequence[Order]:
        return [o for o in self.working.values() if instrument in (None, o.instrument)]

    def fee_rate(self, instrument: InstrumentId, *, maker: bool = False) -> float:
        spec = self.instruments[instrument]
        return spec.maker_fee if maker else spec.taker_fee

    def bar_hooks(self) -> BarHooks | None:
        return None


class Scripted(Strategy):
    """Orders that do not depend on fills: an all-equity buy first, then fixed-size market,
    limit, stop and bracket orders on a schedule."""

    name = "scripted"

    def on_bar(self, ctx: StrategyContext) -> None:
        i = ctx.i
        close = ctx.close[i]
        if i == 3:
            ctx.buy()  # sized by the broker (equity_fraction); the estimate is the quantity
        elif i % 9 == 4:
            ctx.buy(2.0)
        elif i % 13 == 6:
            ctx.sell(1.0, limit=close * 1.01)
        elif i % 17 == 8:
            ctx.buy(1.0, stop=close * 1.02)
        elif i % 23 == 10:
            ctx.buy(1.0, sl=close * 0.98, tp=close * 1.02)


def _shape(orders: Sequence[Order]) -> list[tuple[Any, ...]]:
    """What was asked for, ids left out (they come from one process-wide counter); a bracket
    leg is named by the position of its entry in the list."""
    position = {o.id: k for k, o in enumerate(orders)}
    return [
        (
            o.side,
            o.type,
            o.quantity,
            o.limit_price,
            o.stop_price,
            o.time_in_force,
            o.reduce_only,
            o.tag,
            o.created_ns,
            o.equity_fraction,
            None if o.parent_id is None else position[o.parent_id],
        )
        for o in orders
    ]


def _submitted_to_simulated(bus: MessageBus) -> list[Order]:
    seen: list[Order] = []
    bus.subscribe(OrderSubmitted, lambda event: seen.append(event.order))  # type: ignore[attr-defined]
    return seen


def _quiet() -> tuple[list[QuietVenue], BrokerFactory]:
    made: list[QuietVenue] = []

    def factory(
        instruments: Mapping[InstrumentId, Instrument], sink: EventSink, ledger: Ledger
    ) -> QuietVenue:
        made.append(QuietVenue(instruments, sink))
        return made[-1]

    return made, factory


def _recording(config: ExecutionConfig) -> tuple[list[Recorder], BrokerFactory]:
    made: list[Recorder] = []

    def factory(
        instruments: Mapping[InstrumentId, Instrument], sink: EventSink, ledger: Ledger
    ) -> Recorder:
        made.append(Recorder(SimulatedBroker(instruments, config, sink, ledger)))
        return made[-1]

    return made, factory


def test_a_protocol_only_venue_gets_the_orders_the_simulated_broker_gets() -> None:
    batch = walk(300, seed=5)
    bus = MessageBus()
    simulated = _submitted_to_simulated(bus)
    run = run_backtest(Scripted(), batch, bus=bus)
    assert len(run.fills) > 5, "the simulated run must trade"
    kinds = {(o.type.value, o.equity_fraction is not None, o.parent_id is None) for o in simulated}
    assert len(kinds) == 6, kinds  # market, all-equity, limit, stop, and both bracket legs
    venues, factory = _quiet()
    quiet = run_backtest(Scripted(), batch, broker=factory)
    paper_venues, paper_factory = _quiet()
    paper = asyncio.run(
        run_paper(
            Scripted(), ListFeed(batch), broker=paper_factory, clock=SimulatedClock(0), status=False
        )
    )
    expected = _shape(simulated)
    assert _shape(venues[0].submitted) == expected
    assert _shape(paper_venues[0].submitted) == expected
    assert quiet.fills == [] and paper.fills == []
    assert quiet.stats.orders_submitted == paper.stats.orders_submitted == len(expected)
    first = venues[0].submitted[0]
    assert first.equity_fraction is not None and first.quantity > 1.0  # the engine's estimate


def _key(result: BacktestResult | PaperResult) -> list[tuple[Any, ...]]:
    return [(f.side, f.quantity, f.price, f.fee, f.ts) for f in result.fills]


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("gated", [False, True])
def test_a_run_through_a_protocol_only_wrapper_is_the_simulated_run(fill: str, gated: bool) -> None:
    """With the old loop (``isinstance(broker, SimulatedBroker)``, bar methods by ``getattr``)
    the wrapper got no bars and no equity fractions: no fill at all."""
    batch = walk(1500, seed=8)
    config = ExecutionConfig(fill=fill, fees_bps=20.0, slippage_bps=2.0, cash=10_000.0)

    def gate() -> PreTradeRiskGate | None:
        return PreTradeRiskGate(RiskConfig()) if gated else None

    bus = MessageBus()
    simulated = _submitted_to_simulated(bus)
    plain = run_backtest(
        "sma_cross", batch, execution=config, risk=gate(), bus=bus, close_at_end=True
    )
    made, factory = _recording(config)
    wrapped = run_backtest(
        "sma_cross", batch, execution=config, risk=gate(), broker=factory, close_at_end=True
    )
    assert len(plain.trades) > 20
    assert any(o.equity_fraction is not None for o in made[0].submitted)
    assert _shape(made[0].submitted) == _shape(simulated)
    assert _key(wrapped) == _key(plain)
    assert wrapped.trades == plain.trades
    np.testing.assert_array_equal(wrapped.equity, plain.equity)
    assert wrapped.positions[batch.instrument][-1] == 0.0  # closed at the end through the hooks
    paper_made, paper_factory = _recording(config)
    paper = asyncio.run(
        run_paper(
            "sma_cross",
            ListFeed(batch),
            execution=config,
            risk=gate(),
            broker=paper_factory,
            clock=SimulatedClock(0),
            status=False,
        )
    )
    paper_plain = asyncio.run(
        run_paper(
            "sma_cross",
            ListFeed(batch),
            execution=config,
            risk=gate(),
            clock=SimulatedClock(0),
            status=False,
        )
    )
    assert paper.trades == paper_plain.trades
    assert _key(paper) == _key(paper_plain)
    assert len(paper_made[0].submitted) == paper.stats.orders_submitted > 20


def _engine_modules() -> list[Path]:
    root = Path(neo.engine.__file__).parent
    return sorted(root.glob("*.py"))


def test_the_engine_names_no_concrete_broker() -> None:
    """No module of neo.engine names SimulatedBroker (the drivers default to the factory
    ``simulated_broker``), and none asks ``isinstance`` about a broker."""
    for path in _engine_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            if isinstance(node, ast.alias):
                name = node.name
            assert name != "SimulatedBroker", f"{path.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                assert "broker" not in ast.unparse(node).lower(), f"{path.name}:{node.lineno}"
    for info in pkgutil.iter_modules(neo.engine.__path__):
        module = importlib.import_module(f"neo.engine.{info.name}")
        assert not hasattr(module, "SimulatedBroker"), info.name


def test_the_loop_calls_the_broker_only_through_the_protocol() -> None:
    """Every ``broker.<name>`` the loop uses is a member of the Broker protocol, with no
    ``getattr`` on the broker and no ``type: ignore`` on a broker call."""
    members = {name for name in vars(Broker) if not name.startswith("_")}
    path = Path(neo.engine.__file__).parent / "loop.py"
    source = path.read_text()
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute | ast.Name):
            owner = node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id
            if owner == "broker":
                used.add(node.attr)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr":
            assert "broker" not in ast.unparse(node.args[0]), ast.unparse(node)
    assert used and used <= members, used - members
    for line in source.splitlines():
        assert not ("broker" in line and "type: ignore" in line), line
