"""The paper-trading driver: the same loop on a live (or replayed) feed with a simulated broker
(or any :data:`~neo.execution.broker.BrokerFactory` given as ``broker``).

Bars come from ``feed.stream()`` as they complete; each one is pushed into the loop, which
extends indicators causally and runs the usual cycle. Time is the wall clock. A status line on
stderr (only when it is a terminal) shows bars, equity, positions, orders and failures.

Like the backtest, the portfolio and risk step (``loop.end_step``) runs once per timestamp
across all instruments, not after each instrument's bar: as soon as every instrument has
delivered its bar for that timestamp, or when a bar of a later timestamp arrives first (an
instrument skipped one), or when the feed ends. So the same bars give the same rebalances,
orders and fills in paper as in a backtest.

With ``timer_s`` a :class:`Ticker` also runs a timer cycle (``loop.on_timer``: ``TimerFired``,
then the portfolio and risk step) every ``timer_s`` seconds of wall time, so risk limits and the
kill switch are checked while the feed is quiet. A timer never cuts a timestamp's step in two:
when it comes due mid-step it waits for the step to close, unless the step has stayed open for a
whole further period (an instrument stopped delivering), which then closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.live import Live

from neo.domain.bar import Bar
from neo.domain.events import Event
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.domain.timeframe import Timeframe
from neo.domain.trade import Trade
from neo.engine.bus import MessageBus
from neo.engine.clock import Clock, WallClock
from neo.engine.config import EngineConfig
from neo.engine.instruments import default_instrument
from neo.engine.loop import AutonomousTradingLoop, LoopStats, Predictor
from neo.execution.broker import BrokerFactory
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import Ledger
from neo.execution.simulated import simulated_broker
from neo.portfolio.base import PortfolioConstructor
from neo.risk.base import RiskGate
from neo.strategies.base import Strategy
from neo.strategies.registry import create_strategy


class Feed(Protocol):
    """What the paper driver needs of a market data feed."""

    @property
    def instruments(self) -> Any: ...

    @property
    def timeframe(self) -> Timeframe: ...

    def stream(self) -> Any:
        """An async iterator of completed bars in time order."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class PaperResult:
    strategy: str
    bars: int
    equity: float
    cash: float
    positions: dict[InstrumentId, float]
    trades: list[Trade]
    fills: list[Fill]
    orders: list[Order]
    events: list[Event]
    stats: LoopStats
    stopped_by: str
    risk_events: list[dict[str, Any]] = field(default_factory=list)
    rebalances: int | None = None
    risk_denials: dict[str, int] = field(default_factory=dict)
    kill_switch_engaged: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "bars": self.bars,
            "equity": self.equity,
            "cash": self.cash,
            "positions": {str(k): v for k, v in self.positions.items()},
            "trades": len(self.trades),
            "orders": len(self.orders),
            "fills": self.stats.fills,
            "strategy_failures": self.stats.strategy_failures,
            "timer_cycles": self.stats.timer_cycles,
            "risk_denials": self.risk_denials,
            "risk_events": self.risk_events,
            "rebalances": self.rebalances,
            "kill_switch_engaged": self.kill_switch_engaged,
            "stopped_by": self.stopped_by,
        }


def status_text(loop: AutonomousTradingLoop) -> str:
    """One line: what the loop has done and where the account stands."""
    ledger = loop.ledger
    held = " ".join(
        f"{iid.symbol}={ledger.position(iid):g}" for iid in loop.instruments if ledger.position(iid)
    )
    return (
        f"{loop.state} | bars {loop.bars_seen} | equity {ledger.equity:,.2f} | "
        f"{held or 'flat'} | orders {loop.stats.orders_submitted} | "
        f"fills {loop.stats.fills} | failures {loop.stats.strategy_failures}"
    )


def build_paper_loop(
    strategy: Strategy,
    instruments: Mapping[InstrumentId, Instrument],
    timeframe: Timeframe,
    *,
    execution: ExecutionConfig | None = None,
    engine: EngineConfig | None = None,
    risk: RiskGate | None = None,
    portfolio: PortfolioConstructor | None = None,
    predictor: Predictor | None = None,
    clock: Clock | None = None,
    bus: MessageBus | None = None,
    broker: BrokerFactory | None = None,
) -> AutonomousTradingLoop:
    """A loop wired to a fresh ledger and a broker (the simulated one unless ``broker`` builds
    another), in paper mode.

    The loop does not step portfolio and risk after each bar: :func:`drive` steps once per
    timestamp, as the backtest does.
    """
    execution = execution or ExecutionConfig()
    bus = bus or MessageBus()
    ledger = Ledger(execution.cash, instruments)
    make_broker = broker or simulated_broker(execution)
    loop = AutonomousTradingLoop(
        strategy=strategy,
        instruments=list(instruments.values()),
        timeframe=timeframe,
        broker=make_broker(instruments, bus.publish, ledger),
        ledger=ledger,
        bus=bus,
        clock=clock or WallClock(),
        config=engine,
        risk=risk,
        portfolio=portfolio,
        predictor=predictor,
        mode="paper",
    )
    loop.step_per_bar = False
    return loop


class TimeSteps:
    """Ends the loop's step at ``ts`` once the step is complete (see the module docstring)."""

    def __init__(self, loop: AutonomousTradingLoop) -> None:
        self.loop = loop
        self.ts: int | None = None
        self.seen: set[InstrumentId] = set()
        self.expected = len(loop.instruments)

    def before(self, bar: Bar) -> None:
        """A bar of a later timestamp closes the open step (some instrument skipped it)."""
        if self.ts is not None and bar.ts > self.ts:
            self.close()

    def after(self, bar: Bar) -> None:
        """Count ``bar`` (if the loop took it) and close the step once every instrument has."""
        history = self.loop.context(bar.instrument).ts
        if not len(history) or history[-1] != bar.ts:
            return  # ignored (out of order)
        if self.ts is None:
            self.ts = bar.ts
        self.seen.add(bar.instrument)
        if len(self.seen) >= self.expected:
            self.close()

    def close(self) -> None:
        if self.ts is not None and self.loop.state.value in ("running", "paused"):
            self.loop.end_step(self.ts)
        self.ts = None
        self.seen.clear()


class Ticker:
    """Timer cycles every ``every_s`` seconds of wall time, at step boundaries only."""

    def __init__(self, loop: AutonomousTradingLoop, steps: TimeSteps, every_s: float) -> None:
        self.loop = loop
        self.steps = steps
        self.every_s = every_s
        self.due = False
        self.fired = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self.tick()

    def tick(self) -> None:
        """A period has passed: a cycle is due (a step open for a whole period is closed)."""
        if self.due and self.steps.ts is not None:
            self.steps.close()  # open a whole period: that instrument is not coming
        self.due = True
        self.fire_if_due()

    def fire_if_due(self) -> None:
        """Run the timer cycle now if one is due and no timestamp's step is half received."""
        if self.due and self.steps.ts is None:
            self.due = False
            self.fired += 1
            self.loop.on_timer("timer")


async def drive(
    loop: AutonomousTradingLoop,
    bars: Any,
    *,
    cycles: int | None = None,
    on_bar: Callable[[AutonomousTradingLoop], None] | None = None,
    timer_s: float | None = None,
) -> str:
    """Push bars from an async iterator into a started loop; returns why it stopped.

    Portfolio and risk step once per timestamp (:class:`TimeSteps`); the last, possibly
    incomplete step is closed when the feed ends or the cycle budget is spent. ``timer_s``
    adds timer cycles (:class:`Ticker`).
    """
    steps = TimeSteps(loop)
    if timer_s is None:
        return await _push(loop, bars, steps, None, cycles, on_bar)
    ticker = Ticker(loop, steps, timer_s)
    task = asyncio.create_task(ticker.run())
    try:
        return await _push(loop, bars, steps, ticker, cycles, on_bar)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _push(
    loop: AutonomousTradingLoop,
    bars: Any,
    steps: TimeSteps,
    ticker: Ticker | None,
    cycles: int | None,
    on_bar: Callable[[AutonomousTradingLoop], None] | None,
) -> str:
    seen = 0
    async for bar in bars:
        if loop.state.value == "stopped":
            return "loop stopped"
        steps.before(bar)
        loop.push_bar(bar)
        steps.after(bar)
        if ticker is not None:
            ticker.fire_if_due()
        seen += 1
        if on_bar is not None:
            on_bar(loop)
        if cycles is not None and seen >= cycles:
            steps.close()
            return f"{cycles} cycles"
    steps.close()
    return "feed ended"


async def run_paper(
    strategy: Strategy | str,
    feed: Feed,
    *,
    params: Mapping[str, Any] | None = None,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    execution: ExecutionConfig | None = None,
    engine: EngineConfig | None = None,
    risk: RiskGate | None = None,
    portfolio: PortfolioConstructor | None = None,
    predictor: Predictor | None = None,
    cycles: int | None = None,
    clock: Clock | None = None,
    bus: MessageBus | None = None,
    status: bool = True,
    timer_s: float | None = None,
    broker: BrokerFactory | None = None,
    on_loop: Callable[[AutonomousTradingLoop], None] | None = None,
) -> PaperResult:
    """Paper-trade ``strategy`` on ``feed`` until it ends, ``cycles`` bars, or the loop stops.

    ``timer_s`` adds a timer cycle (risk and portfolio step) every that many wall seconds.
    ``broker`` builds the broker (instruments, event sink, ledger); the simulated one with
    ``execution``'s fill model when omitted. ``on_loop`` is called with the built loop before
    it starts (e.g. to attach metrics)."""
    if isinstance(strategy, str):
        strategy = create_strategy(strategy, params)
    ids = list(feed.instruments)
    specs = {iid: (instruments or {}).get(iid) or default_instrument(iid) for iid in ids}
    loop = build_paper_loop(
        strategy,
        specs,
        feed.timeframe,
        execution=execution,
        engine=engine,
        risk=risk,
        portfolio=portfolio,
        predictor=predictor,
        clock=clock,
        bus=bus,
        broker=broker,
    )
    if on_loop is not None:
        on_loop(loop)
    loop.start()
    console = Console(stderr=True)
    reason = "feed ended"
    try:
        if status and console.is_terminal:
            every = loop.config.status_every
            with Live(status_text(loop), console=console, transient=True) as live:

                def refresh(current: AutonomousTradingLoop) -> None:
                    if current.bars_seen % every == 0:
                        live.update(status_text(current))

                reason = await drive(
                    loop, feed.stream(), cycles=cycles, on_bar=refresh, timer_s=timer_s
                )
        else:
            reason = await drive(loop, feed.stream(), cycles=cycles, timer_s=timer_s)
    except asyncio.CancelledError:
        reason = "cancelled"
        raise
    finally:
        loop.stop(reason)
    from neo.analytics.report import risk_event_rows

    ledger = loop.ledger
    return PaperResult(
        risk_events=risk_event_rows(loop.notable, risk, portfolio),
        rebalances=None if portfolio is None else len(getattr(portfolio, "history", ())),
        risk_denials=dict(getattr(risk, "counters", {})),
        kill_switch_engaged=bool(getattr(getattr(risk, "kill_switch", None), "engaged", False)),
        strategy=strategy.name,
        bars=loop.bars_seen,
        equity=ledger.equity,
        cash=ledger.cash,
        positions={iid: ledger.position(iid) for iid in ids},
        trades=ledger.trades(),
        fills=ledger.fills(),
        orders=list(loop.orders.values()),
        events=list(loop.notable),
        stats=loop.stats,
        stopped_by=reason,
    )


async def iterate(bars: list[Bar]) -> Any:
    """An async iterator over a list of bars (tests, replays of in-memory data)."""
    for bar in bars:
        yield bar
