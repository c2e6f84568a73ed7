"""The one trading loop that backtest, paper and live share.

Each completed bar of an instrument runs one cycle, in this order::

    hooks.on_open  →  ledger.update_price  →  strategy.on_bar(ctx)
      →  intents (orders, target diffs, all-equity orders, forecasts)  →  risk.check
      →  broker.submit  →  hooks.on_close  →  risk.on_bar / portfolio (end of step)

The broker is reached through the :class:`~neo.execution.broker.Broker` protocol only;
``hooks`` are its :meth:`~neo.execution.broker.Broker.bar_hooks` (none for a real venue).

The drivers differ only in what they inject: the backtest driver pre-fills each instrument's
history buffers and calls :meth:`AutonomousTradingLoop.on_bar` in a tight loop over indices; the
paper driver appends bars from a feed with :meth:`AutonomousTradingLoop.push_bar` (which calls the
same ``on_bar``). A strategy that raises is logged, counted and published as ``StrategyFailed``;
its cycle is skipped (nothing it asked for is sent) and the loop goes on.

The hot path allocates nothing per bar: prices are read from ``array('d')`` buffers, events are
published only when something changes, and the broker is only called at a bar's open while this
instrument has working orders. Equity is not sampled per bar but rebuilt at the end from the
fill log (cash and positions change only on fills) and the closes, which is exact.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import pairwise
from typing import Any, Protocol

import msgspec
import numpy as np

from neo.domain.bar import Bar, BarBatch, FloatArray, IntArray
from neo.domain.enums import OrderStatus, OrderType, Side
from neo.domain.errors import ConfigError
from neo.domain.events import (
    BarClosed,
    EngineStarted,
    EngineStopped,
    Event,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    PredictionMade,
    RiskDenied,
    StrategyFailed,
    TargetSet,
    TimerFired,
)
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.domain.timeframe import Timeframe
from neo.engine.bus import MessageBus
from neo.engine.clock import Clock, SimulatedClock
from neo.engine.config import EngineConfig
from neo.execution.broker import INSUFFICIENT_EQUITY, Broker
from neo.execution.ledger import Ledger
from neo.execution.simulated import bracket, equity_units
from neo.logs import get_logger
from neo.portfolio.base import PortfolioConstructor
from neo.risk.base import PassThroughRiskGate, RiskGate
from neo.risk.sizing import FULL_EQUITY
from neo.risk.stop_manager import StopManager
from neo.strategies.base import Strategy
from neo.strategies.context import Series, StrategyContext
from neo.strategies.indicators import rolling_volatility

log = get_logger("engine.loop")


ROUNDS_TO_NOTHING = "quantity rounds to zero lots"
"""Why an explicit order smaller than one lot was cancelled (never silently)."""
_UNSIZED = (INSUFFICIENT_EQUITY, ROUNDS_TO_NOTHING)


class Predictor(Protocol):
    """Paper/live forecasts: the latest model on incrementally updated features."""

    def predict(self, bar: Bar) -> float:
        """Forecast after ``bar`` completed (NaN when there is no model yet)."""
        ...


class LoopState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(slots=True)
class LoopStats:
    bars: int = 0
    orders_submitted: int = 0
    fills: int = 0
    strategy_failures: int = 0
    risk_denials: int = 0
    rejections: int = 0
    unsized_orders: int = 0
    """Orders cancelled because they sized to less than one lot (see ``OrderCancelled``)."""
    timer_cycles: int = 0


def _on_tick(order: Order, spec: Instrument) -> Order:
    """A strategy's order with its limit and stop prices rounded to the nearest tick, as the
    exchange (and the simulated broker, and the risk gate) require; quantities the context
    already rounded down to whole lots."""
    limit, stop = order.limit_price, order.stop_price
    if limit is None and stop is None:
        return order
    return msgspec.structs.replace(
        order,
        limit_price=None if limit is None else spec.round_price(limit),
        stop_price=None if stop is None else spec.round_price(stop),
    )


@dataclass(slots=True, eq=False)
class _Slot:
    index: int
    instrument: Instrument
    ctx: StrategyContext
    strategy: Strategy
    working: set[OrderId] = field(default_factory=set)
    fill_bars: array[int] = field(default_factory=lambda: array("q"))
    fill_positions: array[float] = field(default_factory=lambda: array("d"))


@dataclass(frozen=True, slots=True, eq=False)
class EquityCurve:
    """Per-step account state rebuilt from the fill log (exact: state changes only on fills)."""

    ts: IntArray
    equity: FloatArray
    cash: FloatArray
    positions: dict[InstrumentId, FloatArray]
    prices: dict[InstrumentId, FloatArray]


class AutonomousTradingLoop:
    """Data → strategy → portfolio/risk → execution → accounting, one bar at a time.

    Parameters
    ----------
    strategy:
        The strategy; every further instrument gets its own instance, made as this one was
        (:meth:`~neo.strategies.base.Strategy.clone`: its own ``__init__``, same arguments).
    instruments:
        What is traded, each with its own context (history, indicators, position).
    timeframe:
        Bar length (orders are stamped at the bar's close, ``ts + timeframe``).
    broker, ledger, bus:
        Execution and accounting; the broker must report its events to ``bus.publish`` and book
        fills in ``ledger`` (see :mod:`neo.execution.broker`). The loop speaks only the
        :class:`~neo.execution.broker.Broker` protocol: its bar hooks are read once, here.
    clock:
        Simulated (backtest) or wall (paper/live); a simulated one is moved to each bar's
        close whenever the loop acts.
    risk, portfolio, predictor:
        Optional layers; risk defaults to a pass-through gate.
    """

    def __init__(
        self,
        *,
        strategy: Strategy,
        instruments: Sequence[Instrument],
        timeframe: Timeframe,
        broker: Broker,
        ledger: Ledger,
        bus: MessageBus,
        clock: Clock,
        config: EngineConfig | None = None,
        risk: RiskGate | None = None,
        portfolio: PortfolioConstructor | None = None,
        predictor: Predictor | None = None,
        mode: str = "backtest",
    ) -> None:
        if not instruments:
            raise ConfigError("the trading loop needs at least one instrument")
        self.config = config or EngineConfig()
        self.timeframe = timeframe
        self.broker = broker
        self.ledger = ledger
        self.bus = bus
        self.clock = clock
        self.mode = mode
        self.risk: RiskGate = risk or PassThroughRiskGate()
        self.portfolio = portfolio
        self.predictor = predictor
        self.stats = LoopStats()
        self.notable: list[Event] = []
        self.orders: dict[OrderId, Order] = {}
        self._state = LoopState.IDLE
        self._live = False  # running or paused: bars are processed
        self._running = False  # strategies are called
        self._quiet = False  # running, and a bar without working orders needs only the strategy
        self._tf_ns = timeframe.nanos
        self._sim_clock = clock if isinstance(clock, SimulatedClock) else None
        self._check_risk = type(self.risk) is not PassThroughRiskGate
        # protective stops configured with the risk gate (risk config [stops]); see on_bar
        self._stops: StopManager | None = getattr(self.risk, "stops", None)
        self._auto_step = self._check_risk or portfolio is not None
        # Marks only matter to readers of equity between fills (risk, portfolio, paper status);
        # otherwise an instrument is marked when it has working orders or acts, which gives the
        # same fills and the same rebuilt equity curve at a fraction of the cost.
        self._mark_every_bar = self._auto_step or mode != "backtest"
        self._bus_targets = False
        self._bus_bars = False  # someone listens to BarClosed / PredictionMade (see _listeners)
        self._bus_predictions = False
        self._bus_positions = False
        self._model_id = "preloaded" if predictor is None else getattr(predictor, "model_id", "")
        self.step_per_bar = True
        """Run risk/portfolio after every bar; multi-instrument backtests call end_step."""
        self._forecasts: dict[InstrumentId, float] = {}
        hooks = broker.bar_hooks()
        self._bar_open = None if hooks is None else hooks.on_open
        self._bar_close = None if hooks is None else hooks.on_close
        self._set_time = None if hooks is None else hooks.set_time
        self._close_mode = self._bar_close is not None
        # a broker may need every bar's open (close mode reads each bar's volume there); one
        # that is not shown bars (a real venue) gets every bar marked in the ledger instead
        self._always_open = hooks is None or hooks.every_bar
        self._fill_cash: array[float] = array("d")
        self._fill_slot: array[int] = array("q")
        self._slots: list[_Slot] = []
        self._by_id: dict[InstrumentId, _Slot] = {}
        for k, instrument in enumerate(instruments):
            instance = strategy if k == 0 else strategy.clone()
            ctx = StrategyContext(
                instrument,
                ledger,
                timeframe_ns=self._tf_ns,
                strategy_name=strategy.name,
                refresh=self._mark_all,
            )
            ctx.sizing = instance.sizing
            slot = _Slot(k, instrument, ctx, instance)
            self._slots.append(slot)
            self._by_id[instrument.id] = slot
        for kind in (OrderAccepted, OrderFilled, OrderCancelled, OrderExpired, OrderRejected):
            bus.subscribe(kind, self._on_order_event)
        bus.watch(self._listeners)
        self._listeners()

    # ------------------------------------------------------------------ lifecycle
    @property
    def state(self) -> LoopState:
        return self._state

    @property
    def bars_seen(self) -> int:
        return sum(slot.ctx.i + 1 for slot in self._slots)

    @property
    def instruments(self) -> list[InstrumentId]:
        return [slot.instrument.id for slot in self._slots]

    def context(self, instrument: InstrumentId) -> StrategyContext:
        return self._slot_of(instrument).ctx

    def start(self) -> None:
        """Let strategies set up their indicators, then accept bars."""
        if self._state is not LoopState.IDLE:
            raise ConfigError(f"the loop can only start once (it is {self._state})")
        for slot in self._slots:
            slot.strategy.on_start(slot.ctx)
        self._set_state(LoopState.RUNNING)
        self._publish(EngineStarted(ts=self.clock.now_ns(), mode=self.mode))

    def _set_state(self, state: LoopState) -> None:
        self._state = state
        self._live = state in (LoopState.RUNNING, LoopState.PAUSED)
        self._running = state is LoopState.RUNNING
        self._quiet = self._running and not (
            self._always_open
            or self._mark_every_bar
            or self._close_mode
            or self._auto_step
            or self._bus_bars
        )

    def _listeners(self) -> None:
        """The bus's subscribers changed: note which optional events anyone wants, so nobody
        listening costs the per-bar path nothing (not even building the event)."""
        bus = self.bus
        self._bus_targets = bus.has_subscribers(TargetSet)
        self._bus_predictions = bus.has_subscribers(PredictionMade)
        self._bus_bars = bus.has_subscribers(BarClosed) or self._bus_predictions
        self._bus_positions = bus.has_subscribers(PositionChanged)
        self._set_state(self._state)

    def pause(self) -> None:
        """Stop calling strategies; working orders still fill and prices still update."""
        if self._state is LoopState.RUNNING:
            self._set_state(LoopState.PAUSED)

    def resume(self) -> None:
        if self._state is LoopState.PAUSED:
            self._set_state(LoopState.RUNNING)

    def stop(self, reason: str = "") -> None:
        """End the run: strategies' ``on_stop``, then ``EngineStopped``. Idempotent."""
        if self._state is LoopState.STOPPED:
            return
        self._set_state(LoopState.STOPPED)
        self.stats.bars = self.bars_seen
        self._mark_all()
        for slot in self._slots:
            try:
                slot.strategy.on_stop(slot.ctx)
            except Exception as exc:
                self._strategy_failed(slot, exc)
        self._publish(EngineStopped(ts=self.clock.now_ns(), reason=reason))

    def close(self) -> None:
        """Stop, then break the loop's reference cycles (bus handlers, contexts) so a finished
        run's memory is freed at once rather than at the next garbage collection."""
        self.stop("closed")
        for kind in (OrderAccepted, OrderFilled, OrderCancelled, OrderExpired, OrderRejected):
            self.bus.unsubscribe(kind, self._on_order_event)
        self.bus.unwatch(self._listeners)
        for slot in self._slots:
            slot.ctx.detach()

    # ------------------------------------------------------------------ data in
    def load_history(self, batch: BarBatch, predictions: FloatArray | None = None) -> None:
        """Backtest: pre-fill an instrument's buffers with every bar it will see.

        Strategies may only read up to ``ctx.i``; indicators registered in ``on_start`` are
        computed over the whole array by causal functions, which equals extending them bar by
        bar.
        """
        if self._state is not LoopState.IDLE:
            raise ConfigError("load history before the loop starts")
        ctx = self._slot_of(batch.instrument).ctx
        values = None if predictions is None else aligned_predictions(batch, predictions)
        ctx.load(
            {
                "ts": batch.ts,
                "open": batch.open,
                "high": batch.high,
                "low": batch.low,
                "close": batch.close,
                "volume": batch.volume,
                "volatility": partial(
                    rolling_volatility, batch.close, self.config.volatility_window
                ),
                "predictions": values,
            }
        )

    def push_bar(self, bar: Bar) -> None:
        """Paper/live: append a completed bar, extend indicators causally, run the cycle."""
        if self._state is LoopState.STOPPED:
            return
        slot = self._slot_of(bar.instrument)
        ctx = slot.ctx
        if len(ctx.ts) and bar.ts <= ctx.ts[-1]:
            log.warning("ignoring out-of-order bar", extra={"instrument": str(bar.instrument)})
            return
        window = self.config.volatility_window
        volatility = last_volatility(ctx.close, bar.close, window)
        forecast = self.predictor.predict(bar) if self.predictor is not None else math.nan
        ctx.append(
            bar.ts,
            (bar.open, bar.high, bar.low, bar.close, bar.volume),
            float(volatility),
            float(forecast),
        )
        if self._sim_clock is not None:
            self._sim_clock.set(bar.ts + self._tf_ns)
        self.on_bar(slot.index, len(ctx.ts) - 1)

    # ------------------------------------------------------------------ the cycle
    def on_bar(self, k: int, i: int) -> None:
        """One cycle for bar ``i`` of instrument number ``k`` (its data already buffered)."""
        slot = self._slots[k]
        if self._quiet and not slot.working:
            # The common backtest bar: nothing working at the broker, no per-bar marks or
            # hooks, so the cycle below reduces to exactly this.
            ctx = slot.ctx
            ctx.i = i
            try:
                slot.strategy.on_bar(ctx)
            except Exception as exc:
                self._strategy_failed(slot, exc)
            else:
                if ctx.dirty:
                    self._handle_intents(slot, i)
            return
        self._cycle(slot, i)

    def _cycle(self, slot: _Slot, i: int) -> None:
        if not self._live:
            return
        ctx = slot.ctx
        ctx.i = i
        self._open_bar(slot, i)
        if self._running:
            try:
                slot.strategy.on_bar(ctx)
            except Exception as exc:
                self._strategy_failed(slot, exc)
            else:
                if ctx.dirty:
                    self._handle_intents(slot, i)
        if self._bar_close is not None and slot.working:
            self._bar_close(ctx.instrument_id, ctx.ts[i], ctx.close[i])
        if self._stops is not None:
            close_ns = ctx.ts[i] + self._tf_ns
            self._stops.on_bar(
                self, ctx.instrument_id, ctx.high[i], ctx.low[i], ctx.close[i], close_ns
            )
        if self._auto_step and self.step_per_bar:
            self.end_step(ctx.ts[i])

    def submit(self, order: Order) -> bool:
        """Send ``order`` through the pre-trade checks to the broker; False when risk denied
        it (the stop manager's way in, so its orders meet the same checks as any other)."""
        self._submit(order)
        return order.id in self.orders

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        self.broker.cancel(order_id, reason)

    def _open_bar(self, slot: _Slot, i: int) -> None:
        """The bar arrives: working orders fill against it, the ledger marks its close, and
        listeners hear ``BarClosed``."""
        ctx = slot.ctx
        if slot.working or self._always_open:
            if self._bar_open is not None:
                self._bar_open(
                    ctx.instrument_id,
                    ctx.ts[i],
                    ctx.open[i],
                    ctx.high[i],
                    ctx.low[i],
                    ctx.close[i],
                    ctx.volume[i],
                )
            self.ledger.update_price(ctx.instrument_id, ctx.close[i], ctx.ts[i])
        elif self._mark_every_bar:
            self.ledger.update_price(ctx.instrument_id, ctx.close[i], ctx.ts[i])
        if self._bus_bars:
            self._publish_bar(slot, i)

    def _publish_bar(self, slot: _Slot, i: int) -> None:
        """``BarClosed`` (and ``PredictionMade`` when the bar has a forecast) for listeners."""
        ctx = slot.ctx
        now = ctx.ts[i] + self._tf_ns
        if self.bus.has_subscribers(BarClosed):
            bar = Bar(
                instrument=ctx.instrument_id,
                timeframe=self.timeframe,
                ts=ctx.ts[i],
                open=ctx.open[i],
                high=ctx.high[i],
                low=ctx.low[i],
                close=ctx.close[i],
                volume=ctx.volume[i],
            )
            self._publish(BarClosed(ts=now, bar=bar))
        forecast = ctx.prediction
        if self._bus_predictions and forecast == forecast:
            self._publish(
                PredictionMade(
                    ts=now, instrument=ctx.instrument_id, model_id=self._model_id, value=forecast
                )
            )

    def on_timer(self, name: str) -> None:
        """A timer cycle (paper/live): ``TimerFired``, then the portfolio and risk step now."""
        if not self._live:
            return
        now = self.clock.now_ns()
        self.stats.timer_cycles += 1
        self._publish(TimerFired(ts=now, name=name))
        self.end_step(now)

    def end_step(self, ts: int) -> None:
        """After every instrument's bar at ``ts``: portfolio rebalance, then risk's bar check."""
        if self.portfolio is not None:
            self._rebalance(self.portfolio, ts)
        if self._check_risk:
            actions = self.risk.on_bar(self.ledger)
            if actions.cancel_all:
                self.broker.cancel_all(reason=actions.reason or "risk")
            for order in actions.orders:
                self.broker.submit(order)
                self.stats.orders_submitted += 1

    # ------------------------------------------------------------------ intents → orders
    def _handle_intents(self, slot: _Slot, i: int) -> None:
        ctx = slot.ctx
        ts = ctx.ts[i]
        now = ts + self._tf_ns
        self.ledger.update_price(ctx.instrument_id, ctx.close[i], ts)
        if self._sim_clock is not None and now > self._sim_clock.now_ns():
            self._sim_clock.set(now)
        if self._set_time is not None:
            self._set_time(ts)  # the broker skipped this bar's open while nothing was working
        if self.portfolio is not None:
            self._record_forecast(ctx)
        elif ctx.target == ctx.target:
            self._target(slot, ctx.target, now)
        brackets = ctx.brackets
        spec = slot.instrument
        for order in ctx.orders:
            order = _on_tick(order, spec)
            legs = brackets.get(order.id)
            if legs is None:
                self._submit(order)
            else:
                stop_loss = None if legs.stop_loss is None else spec.round_price(legs.stop_loss)
                take = None if legs.take_profit is None else spec.round_price(legs.take_profit)
                for part in bracket(order, stop_loss=stop_loss, take_profit=take):
                    self._submit(part)
        if self.portfolio is None:
            for side, tag, fraction in ctx.deferred:
                self._submit_all_equity(slot, side, tag, now, fraction)
        for side, quantity, tag in ctx.unsized:
            lot = slot.instrument.lot_size
            reason = f"{ROUNDS_TO_NOTHING}: {abs(quantity):g} < lot size {lot:g}"
            self._cancel_unsized(slot, side, tag, now, reason)
        ctx.reset_intents()
        ctx.forecast = math.nan

    def _record_forecast(self, ctx: StrategyContext) -> None:
        """With a portfolio configured, strategies say *what* they want and the allocator says
        how much: an explicit forecast wins, else the side of an all-equity buy/sell (the
        portfolio sizes it instead of the strategy), else the sign of a target position.
        ``close_position(); buy()`` (a reversal) is a long wish: the flat target is only the
        first half of it, and taking it as the forecast left a Kelly allocator with nothing."""
        forecast = ctx.forecast
        if forecast != forecast and ctx.deferred:
            forecast = float(ctx.deferred[-1][0].sign)
        if forecast != forecast and ctx.target == ctx.target:
            forecast = math.copysign(1.0, ctx.target) if ctx.target else 0.0
        if forecast == forecast:
            self._forecasts[ctx.instrument_id] = forecast

    def _target(self, slot: _Slot, target: float, now: int) -> None:
        iid = slot.instrument.id
        held = self.ledger.position(iid) + self._pending_market(slot)
        diff = target - held
        if diff == 0.0:
            return
        lot = slot.instrument.lot_size
        if not (diff / lot).is_integer():  # whole lots already (the usual case) need no rounding
            diff = slot.instrument.round_quantity(diff)
            if diff == 0.0:
                return
        if slot.instrument.min_notional and target != 0.0 and self._below_minimum(slot, diff):
            return  # the exchange would refuse it; closing a whole position is always sent
        if self._bus_targets:
            self._publish(
                TargetSet(ts=now, instrument=iid, quantity=target, strategy=self._name(slot))
            )
        order = Order(
            id=next_order_id(),
            instrument=iid,
            side=Side.BUY if diff > 0 else Side.SELL,
            quantity=abs(diff),
            created_ns=now,
            updated_ns=now,
            tag=self._name(slot),
        )
        self._submit(order)

    @staticmethod
    def _below_minimum(slot: _Slot, quantity: float) -> bool:
        """``quantity`` at the last close is worth less than the instrument's min notional."""
        spec = slot.instrument
        price = slot.ctx.close[slot.ctx.i]
        return abs(quantity) * price * spec.contract_multiplier < spec.min_notional

    def _submit_all_equity(
        self, slot: _Slot, side: Side, tag: str, now: int, fraction: float = FULL_EQUITY
    ) -> None:
        """An order for all (or ``fraction`` of the) available equity (backtesting.py's
        ``buy()``, ``buy(size=fraction)``).

        The order carries ``equity_fraction``: the broker sizes it when it executes (the simulated
        one against the fill price), gate or no gate, so a risk gate that lets it pass changes
        nothing. The gate judges the size the order is expected to get (:meth:`_equity_units`:
        after this cycle's close of the position, at the broker's fee), which becomes the order's
        quantity (one lot when it comes to none: the broker then cancels it, as
        ``INSUFFICIENT_EQUITY``, unless the fill price affords a lot); its notional, which the
        exposure limits weigh, is the available equity whatever the fill price.
        """
        spec = slot.instrument
        estimate = self._equity_units(slot, fraction)
        order = Order(
            id=next_order_id(),
            instrument=spec.id,
            side=side,
            quantity=estimate or max(spec.lot_size, spec.min_quantity),
            created_ns=now,
            updated_ns=now,
            tag=tag or self._name(slot),
            equity_fraction=fraction,
        )
        self._submit(order)

    def _equity_units(self, slot: _Slot, fraction: float = FULL_EQUITY) -> float:
        """Whole lots an all-equity order would get now: the broker's rule (equity less gross
        exposure, over price plus fee) applied to the account as it will be once this
        instrument's working market orders (the close of the position) have traded at the last
        close, paying the broker's fee rate."""
        ctx = slot.ctx
        spec = slot.instrument
        ledger = self.ledger
        price = ctx.close[ctx.i]
        rate = self._fee_rate(spec)
        held = ledger.position(spec.id)
        pending = self._pending_market(slot)
        value = price * spec.contract_multiplier
        gross = ledger.gross_exposure + (abs(held + pending) - abs(held)) * value
        budget = ledger.equity - rate * abs(pending) * price - gross
        return equity_units(max(0.0, budget) * fraction, price, rate, spec)

    def _fee_rate(self, spec: Instrument) -> float:
        return self.broker.fee_rate(spec.id)

    def _pending_market(self, slot: _Slot) -> float:
        """Signed quantity of this instrument's working plain market orders (not bracket legs)."""
        pending = 0.0
        if slot.working:
            for order in self.broker.open_orders(slot.instrument.id):
                if order.type is OrderType.MARKET and order.parent_id is None:
                    pending += order.side.sign * order.remaining_quantity
        return pending

    def _cancel_unsized(self, slot: _Slot, side: Side, tag: str, now: int, reason: str) -> None:
        """An order that sized to nothing is never dropped silently: it becomes a cancelled
        order, an ``OrderCancelled`` event and a count in ``stats.unsized_orders``."""
        order = Order(
            id=next_order_id(),
            instrument=slot.instrument.id,
            side=side,
            quantity=max(slot.instrument.lot_size, slot.instrument.min_quantity),
            created_ns=now,
            updated_ns=now,
            tag=tag or self._name(slot),
        )
        cancelled = order.transition(OrderStatus.CANCELLED, now, reason)
        self._publish(OrderCancelled(ts=now, order=cancelled, reason=reason))

    def _submit(self, order: Order) -> None:
        if self._check_risk:
            verdict = self.risk.check(order, self.ledger)
            if not verdict.approved:
                denied = RiskDenied(
                    ts=order.created_ns, order=order, code=verdict.code, reason=verdict.reason
                )
                self.stats.risk_denials += 1
                self.notable.append(denied)
                self._publish(denied)
                return
        self.orders[order.id] = order
        self.stats.orders_submitted += 1
        self.broker.submit(order)

    def _rebalance(self, portfolio: PortfolioConstructor, ts: int) -> None:
        returns: dict[InstrumentId, FloatArray] = {}
        lookback = getattr(portfolio, "lookback", None)  # bars it reads: keeps each step O(1)
        for slot in self._slots:
            ctx = slot.ctx
            first = 0 if lookback is None else max(0, ctx.i - int(lookback))
            closes = np.array(ctx.close[first : ctx.i + 1], dtype=np.float64)
            returns[slot.instrument.id] = np.diff(closes) / closes[:-1]
        self._mark_all()
        targets = portfolio.rebalance(dict(self._forecasts), self.ledger, returns)
        if targets is None:
            return
        now = ts + self._tf_ns
        for iid, quantity in targets.items():
            target_slot = self._by_id.get(iid)
            if target_slot is not None and math.isfinite(quantity):
                self._target(target_slot, quantity, now)

    # ------------------------------------------------------------------ events back
    def _on_order_event(self, event: Event) -> None:
        kind = type(event)
        if kind is OrderFilled:
            self._on_fill(event)  # type: ignore[arg-type]
            return
        order: Order = event.order  # type: ignore[attr-defined]
        self.orders[order.id] = order
        slot = self._by_id.get(order.instrument)
        if slot is None:
            return
        if kind is OrderAccepted:
            slot.working.add(order.id)
            return
        slot.working.discard(order.id)
        if kind is OrderRejected:
            self.stats.rejections += 1
            self.notable.append(event)
        elif kind is OrderCancelled and event.reason.startswith(_UNSIZED):  # type: ignore[attr-defined]
            self.stats.unsized_orders += 1
            self.notable.append(event)

    def _on_fill(self, event: OrderFilled) -> None:
        order = event.order
        fill = event.fill
        self.orders[order.id] = order
        self.stats.fills += 1
        slot = self._by_id.get(order.instrument)
        if slot is None:
            return
        if order.status.is_terminal:
            slot.working.discard(order.id)
        ledger = self.ledger
        self._fill_slot.append(slot.index)
        self._fill_cash.append(ledger.cash)
        slot.fill_bars.append(slot.ctx.i)
        slot.fill_positions.append(ledger.position(order.instrument))
        if self._bus_positions:
            self._publish(
                PositionChanged(ts=fill.ts, position=ledger.position_of(order.instrument))
            )
        if self._check_risk:
            self.risk.on_fill(fill, ledger)
        try:
            slot.strategy.on_fill(slot.ctx, fill)
        except Exception as exc:
            self._strategy_failed(slot, exc)

    # ------------------------------------------------------------------ helpers
    def _strategy_failed(self, slot: _Slot, exc: Exception) -> None:
        self.stats.strategy_failures += 1
        slot.ctx.reset_intents()
        ts = slot.ctx.now_ns if slot.ctx.i >= 0 else self.clock.now_ns()
        error = f"{type(exc).__name__}: {exc}"
        log.error(
            "strategy failed; cycle skipped",
            extra={"strategy": self._name(slot), "instrument": str(slot.instrument.id)},
            exc_info=exc,
        )
        event = StrategyFailed(ts=ts, strategy=self._name(slot), error=error)
        self.notable.append(event)
        self._publish(event)
        limit = self.config.max_strategy_failures
        if limit and self.stats.strategy_failures >= limit:
            self.stop(reason=f"{self.stats.strategy_failures} strategy failures")

    def _publish(self, event: Event) -> None:
        self.bus.publish(event)

    def _mark_all(self) -> None:
        """Mark every instrument at its latest close (multi-instrument equity reads)."""
        for slot in self._slots:
            ctx = slot.ctx
            if ctx.i >= 0:
                self.ledger.update_price(slot.instrument.id, ctx.close[ctx.i], ctx.ts[ctx.i])

    def _slot_of(self, instrument: InstrumentId) -> _Slot:
        slot = self._by_id.get(instrument)
        if slot is None:
            known = ", ".join(str(s.instrument.id) for s in self._slots)
            raise ConfigError(f"instrument {instrument} is not in this loop (it has {known})")
        return slot

    @staticmethod
    def _name(slot: _Slot) -> str:
        return slot.strategy.name

    # ------------------------------------------------------------------ results
    def equity_curve(self) -> EquityCurve:
        """Cash, positions and equity at the close of every step seen so far.

        Steps are the union of all instruments' bar times; a price is carried forward between
        an instrument's bars. With one instrument the step times and prices are views of its
        bars (no copies), which keeps a long backtest's peak memory low.
        """
        seen = [_view(s.ctx.ts, np.int64, s.ctx.i + 1) for s in self._slots]
        single = len(seen) == 1
        timeline = seen[0] if single else np.unique(np.concatenate(seen))
        steps = len(timeline)
        equity = np.zeros(steps)
        positions: dict[InstrumentId, FloatArray] = {}
        prices: dict[InstrumentId, FloatArray] = {}
        fill_slots = _copy(self._fill_slot, np.int64)
        fill_steps = np.zeros(len(fill_slots), dtype=np.int64)
        for slot, ts in zip(self._slots, seen, strict=True):
            closes = _view(slot.ctx.close, np.float64, len(ts))
            bars = _copy(slot.fill_bars, np.int64)
            if single:
                where, price = None, closes
            else:
                where = np.searchsorted(timeline, ts)
                bars = where[bars]
                price = np.full(steps, np.nan)
                price[where] = closes
                price = _forward_fill(price)
            fill_steps[fill_slots == slot.index] = bars
            position = _step_values(bars, _copy(slot.fill_positions, np.float64), steps)
            positions[slot.instrument.id] = position
            prices[slot.instrument.id] = price
            value = position * price
            if not single:
                np.nan_to_num(value, copy=False)
            value *= slot.instrument.contract_multiplier
            equity += value
        initial = self.ledger.initial_cash
        cash = _step_values(fill_steps, _copy(self._fill_cash, np.float64), steps, initial)
        equity += cash
        return EquityCurve(timeline, equity, cash, positions, prices)


def last_volatility(history: Series, close: float, window: int) -> float:
    """The newest value of :func:`~neo.strategies.indicators.rolling_volatility` over the last
    ``window`` closes of ``history`` and ``close``: NaN until there are ``window`` returns.

    A paper or live bar needs only that one value; computed on scalars, with the same IEEE
    operations in the same order as the array function (returns by :func:`math.log`, sums
    oldest first, then the squared deviations), it is the same value bit for bit without forty
    numpy calls on twenty numbers inside the bar's cycle. A zero close or a window below two
    takes the array function (its division by zero is numpy's)."""
    if len(history) < window:
        return math.nan
    prices = [*history[len(history) - window :], close]
    if window < 2 or 0.0 in prices[:-1]:
        return float(rolling_volatility(np.asarray(prices, dtype=np.float64), window)[-1])
    returns = []
    for previous, current in pairwise(prices):
        ratio = current / previous
        returns.append(math.log(ratio) if ratio > 0.0 else math.nan)
    total = 0.0
    for value in returns:
        total += value
    mean = total / window
    acc = 0.0
    for value in returns:
        deviation = value - mean
        acc += deviation * deviation
    return math.sqrt(acc / (window - 1))


def aligned_predictions(batch: BarBatch, predictions: FloatArray) -> FloatArray:
    """``predictions`` as float64, one per bar of ``batch`` (a ConfigError otherwise): the
    event and fast paths read forecasts in this one shape."""
    values: FloatArray = np.ascontiguousarray(predictions, dtype=np.float64)
    if values.shape != (len(batch),):
        raise ConfigError(
            f"predictions for {batch.instrument} have {values.shape[0]} values for "
            f"{len(batch)} bars: align them to the bars (NaN where there is none)"
        )
    return values


def _copy(buffer: Any, dtype: type[np.generic], stop: int | None = None) -> Any:
    """A numpy copy of (the first ``stop`` items of) a buffer, leaving the buffer resizable."""
    return np.frombuffer(buffer, dtype=dtype)[:stop].copy() if len(buffer) else np.empty(0, dtype)


def _view(buffer: Any, dtype: type[np.generic], stop: int) -> Any:
    """A read-only view of a fixed (memoryview) history, or a copy of a growing one."""
    if isinstance(buffer, memoryview):
        return np.frombuffer(buffer, dtype=dtype)[:stop]
    return _copy(buffer, dtype, stop)


def _step_values(steps: IntArray, values: FloatArray, length: int, initial: float = 0.0) -> Any:
    """Per-step series from (step, value) change records: the last value at or before each step.

    ``steps`` is sorted; several records on one step keep the last.
    """
    if not len(steps):
        return np.full(length, initial)
    last = np.append(steps[1:] != steps[:-1], True)
    where = steps[last]
    counts = np.diff(np.concatenate(([0], where, [length])))
    return np.repeat(np.concatenate(([initial], values[last])), counts)


def _forward_fill(values: FloatArray) -> FloatArray:
    index = np.where(np.isnan(values), 0, np.arange(len(values)))
    np.maximum.accumulate(index, out=index)
    filled: FloatArray = values[index]
    return filled


def strategy_instances(loop: AutonomousTradingLoop) -> Mapping[InstrumentId, Strategy]:
    """Each instrument's strategy instance (tests and reports read their state)."""
    return {slot.instrument.id: slot.strategy for slot in loop._slots}


def get_autonomous_trading_loop(
    strategy: Strategy | str | None = None,
    *,
    symbols: Sequence[str] = ("BTC/USDT",),
    venue: str | None = None,
    timeframe: Timeframe | str = "1m",
    params: Mapping[str, Any] | None = None,
    settings: Any = None,
    instruments: Sequence[Instrument] | None = None,
    broker: Broker | None = None,
    ledger: Ledger | None = None,
    clock: Clock | None = None,
    bus: MessageBus | None = None,
    risk: RiskGate | None = None,
    portfolio: PortfolioConstructor | None = None,
    predictor: Predictor | None = None,
    mode: str = "paper",
) -> AutonomousTradingLoop:
    """A configured loop, ready to ``start()``; every component can be replaced by argument.

    Defaults come from the settings (``strategies.default``, ``execution``, ``engine``): a
    ledger with the configured cash, a simulated broker with the configured fill model, the wall
    clock and a fresh bus. Pass ``broker``/``ledger``/``bus`` together to wire your own (the
    broker must publish to ``bus`` and book fills in ``ledger``).
    """
    from neo.engine.clock import WallClock
    from neo.engine.instruments import default_instrument
    from neo.execution.simulated import simulated_broker
    from neo.settings import load_settings
    from neo.strategies.registry import create_strategy

    settings = settings or load_settings()
    if strategy is None or isinstance(strategy, str):
        strategy = create_strategy(strategy or settings.strategies.default, params)
    frame = Timeframe.parse(timeframe)
    if instruments is None:
        where = venue or settings.data.default_venue
        instruments = [default_instrument(InstrumentId(where, s)) for s in symbols]
    specs = {spec.id: spec for spec in instruments}
    bus = bus or MessageBus()
    ledger = ledger or Ledger(settings.execution.cash, specs)
    if broker is None:
        broker = simulated_broker(settings.execution)(specs, bus.publish, ledger)
    return AutonomousTradingLoop(
        strategy=strategy,
        instruments=list(specs.values()),
        timeframe=frame,
        broker=broker,
        ledger=ledger,
        bus=bus,
        clock=clock or WallClock(),
        config=settings.engine,
        risk=risk,
        portfolio=portfolio,
        predictor=predictor,
        mode=mode,
    )
