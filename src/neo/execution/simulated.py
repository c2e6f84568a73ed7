"""The simulated broker: orders filled against bars by a configurable, documented fill model.

How the engine drives it, per bar of an instrument::

    broker.on_bar_open(iid, bar.ts, o, h, l, c, v)   # working orders fill against this bar
    ledger.update_price(iid, c, bar.ts)               # mark to the bar's close
    strategy.on_bar(...)  -> broker.submit(order)     # decisions at the bar's close
    broker.on_bar_close(iid, bar.ts, c)               # "close" fill mode only
    recorder.record_ledger(bar.ts, ledger)            # equity curve row (EquityRecorder)

With several instruments sharing a timestamp, show every instrument's bar (``on_bar_open`` and
``update_price``) before any strategy runs. The broker books fills in the ledger itself; the
engine must not apply ``OrderFilled`` fills again.

Fill model (``ExecutionConfig``)
--------------------------------
* **Refusals.** An order is rejected at submit when its quantity or its limit/stop price is
  not one the exchange would take: :meth:`Instrument.is_valid_quantity` and
  :meth:`Instrument.is_valid_price`, the same rule the risk gate applies.
* **Market orders.** ``fill="next_open"`` (default): an order submitted during bar *i*'s cycle
  fills at bar *i + 1*'s open. ``fill="close"``: it fills at bar *i*'s close, in
  :meth:`SimulatedBroker.on_bar_close`.
* **Limit orders** (buy; sells mirror): fill when the bar's low <= limit, at ``min(open, limit)``
  (a gap through the limit gives the better open). **Stop orders** trigger when high >= stop and
  fill at ``max(open, stop)``. **Stop-limit** orders become a limit once triggered; they fill in
  the trigger bar only if ``max(open, stop) <= limit`` (at that price), else rest as a limit.
* **Price adjustments** for taker fills: slippage moves the price against the taker by
  ``slippage_bps`` and, with ``impact="volume"``, by a further fraction
  ``impact_coefficient * quantity / bar_volume``: ``price * (1 ± (slippage_bps·1e-4 + impact))``.
  A limit order's price is never made worse than its limit.
* **Fees** are ``rate × quantity × price`` per fill (both legs of a round trip), the rate being
  ``fees_bps`` when set, else the instrument's maker fee for a limit order that rested (was not
  marketable at the first price it met) and its taker fee otherwise.
* **Participation cap**: one order takes at most ``cap × bar volume`` (rounded down to the lot
  size) per bar; the remainder stays working (``partially_filled``) on later bars. IOC orders
  cancel whatever did not fill at their first bar; FOK orders cancel unless all of it could.
* **Expiry**: GTD orders expire at the first bar with ``ts >= expire_ns``; DAY orders at the
  first bar of a later UTC day than the one they were submitted on.
* **Reduce-only** orders are clipped to the position they reduce at fill time, and cancelled
  when there is nothing left to reduce (what remains once the position is flat is cancelled).
* **Order of fills inside one bar**: market orders at the open first (in submission order),
  then stop-triggered orders, then limits. So when a bracket's stop-loss and take-profit both lie
  inside one bar, the STOP is assumed to have filled first — the conservative choice, since the
  path inside a bar is unknown — and its fill cancels the take-profit (one cancels the other).
* **Brackets**: legs carry ``parent_id`` = the entry's id (and share an ``oco_group``); they are
  accepted at once but stay inactive until the entry fills (cancelled if it never does). Legs of
  a market entry filled at the open are checked against the rest of that same bar; legs of a
  limit/stop entry start with the next bar (the order of prices inside the bar is unknown).
  :func:`bracket` builds such a set of orders.
* **Sizing to equity** (to match backtesting.py's default ``size``): an order with
  ``equity_fraction=f`` (:class:`~neo.domain.order.Order`) is sized at fill time to
  ``floor(f × max(0, equity − gross exposure) / (price + fee_rate × price))`` lots.

Fills go to the ledger (when given one) *before* ``OrderFilled`` is emitted; see
:mod:`neo.execution.broker`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import count

import msgspec

from neo.domain.enums import LiquiditySide, OrderStatus, OrderType, TimeInForce
from neo.domain.events import (
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.execution.broker import INSUFFICIENT_EQUITY, BarHooks, BrokerFactory, EventSink
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import NS_PER_DAY, Ledger
from neo.execution.pricing import affordable_units, equity_budget, fill_fee, taker_price

_MARKET, _STOP, _LIMIT = 0, 1, 2
_IMMEDIATE = (TimeInForce.IOC, TimeInForce.FOK)

__all__ = ["INSUFFICIENT_EQUITY", "SimulatedBroker", "bracket", "equity_units", "simulated_broker"]


def equity_units(budget: float, price: float, fee_rate: float, spec: Instrument) -> float:
    """Whole lots that ``budget`` buys at ``price`` with the fee on top: the one sizing rule of
    equity-fraction orders (:func:`~neo.execution.pricing.affordable_units`), shared by the
    broker (at fill time), the engine (estimates) and the compiled fast path."""
    return affordable_units(budget, price, fee_rate, spec.lot_size, spec.quantity_decimals)


class _Working:
    """Broker-side state of one working order (mutable; never leaves this module)."""

    __slots__ = (
        "active",
        "day",
        "expires",
        "fraction",
        "instrument",
        "order",
        "plain",
        "rank",
        "seen",
        "sign",
        "triggered",
    )

    def __init__(self, order: Order, instrument: Instrument, day: int, fraction: float | None):
        self.order = order
        self.instrument = instrument
        self.day = day
        self.fraction = fraction
        self.active = True
        self.seen = False
        self.triggered = False
        self.sign = order.side.sign
        self.expires = order.time_in_force is not TimeInForce.GTC
        self.plain = not self.expires and not order.reduce_only and fraction is None
        kind = order.type
        self.rank = (
            _MARKET if kind is OrderType.MARKET else _LIMIT if kind is OrderType.LIMIT else _STOP
        )


def bracket(
    entry: Order, *, stop_loss: float | None = None, take_profit: float | None = None
) -> list[Order]:
    """The entry followed by its reduce-only stop-loss and take-profit legs (one cancels the other).

    Submit them in the order returned.
    """
    exit_side = entry.side.opposite
    group = f"{entry.id}:oco"
    orders = [entry]
    if stop_loss is not None:
        orders.append(
            Order(
                id=next_order_id(),
                instrument=entry.instrument,
                side=exit_side,
                quantity=entry.quantity,
                type=OrderType.STOP,
                stop_price=stop_loss,
                reduce_only=True,
                parent_id=entry.id,
                oco_group=group,
                created_ns=entry.created_ns,
                tag="stop_loss",
            )
        )
    if take_profit is not None:
        orders.append(
            Order(
                id=next_order_id(),
                instrument=entry.instrument,
                side=exit_side,
                quantity=entry.quantity,
                type=OrderType.LIMIT,
                limit_price=take_profit,
                reduce_only=True,
                parent_id=entry.id,
                oco_group=group,
                created_ns=entry.created_ns,
                tag="take_profit",
            )
        )
    return orders


class SimulatedBroker:
    """Fills orders against bars (see the module docstring for the exact rules).

    Parameters
    ----------
    instruments:
        The instruments orders may trade; orders for others are rejected.
    config:
        The fill model.
    sink:
        Receives every order event.
    ledger:
        When given, each fill is booked here before ``OrderFilled`` is emitted.
    """

    def __init__(
        self,
        instruments: Mapping[InstrumentId, Instrument],
        config: ExecutionConfig,
        sink: EventSink,
        ledger: Ledger | None = None,
    ) -> None:
        self._instruments = dict(instruments)
        self._config = config
        self._sink = sink
        self._ledger = ledger
        self._close_mode = config.fill == "close"
        self._slippage = config.slippage_bps * 1e-4
        self._impact = config.impact_coefficient if config.impact == "volume" else 0.0
        self._cap = config.participation_cap
        self._fees_override = None if config.fees_bps is None else config.fees_bps * 1e-4
        self._frictionless = not self._slippage and not self._impact and self._cap is None
        self._now = 0
        self._n_working = 0
        self._orders: dict[OrderId, _Working] = {}
        self._books: dict[InstrumentId, list[_Working]] = {}
        self._children: dict[OrderId, list[_Working]] = {}
        self._groups: dict[str, list[_Working]] = {}
        self._positions: dict[InstrumentId, float] = {}
        self._volumes: dict[InstrumentId, tuple[int, float]] = {}
        self._same_bar: list[_Working] = []
        self._trade_sequence = count(1)
        if ledger is not None:
            ledger.attach_orders(self.open_orders)

    @property
    def config(self) -> ExecutionConfig:
        return self._config

    @property
    def ledger(self) -> Ledger | None:
        return self._ledger

    @property
    def now(self) -> int:
        """The broker's time: the ``ts`` of the latest bar it saw (or :meth:`set_time`)."""
        return self._now

    def set_time(self, ts: int) -> None:
        """Advance the broker's clock (timers in paper/live mode); never moves it backwards."""
        if ts > self._now:
            self._now = ts

    def position(self, instrument: InstrumentId) -> float:
        if self._ledger is not None:
            return self._ledger.position(instrument)
        return self._positions.get(instrument, 0.0)

    # -- Broker protocol -------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        """Take a ``new`` order: ``submitted``, then ``accepted`` or ``rejected``.

        ``order.equity_fraction`` (0 < f <= 1, needs a ledger) sizes the order at fill time from
        the equity then available (see the module docstring); ``order.quantity`` is an estimate.
        """
        equity_fraction = order.equity_fraction
        now = self._now = int(self._now)  # a numpy integer would not serialise in events
        order = order.transition(OrderStatus.SUBMITTED, now)
        sink = self._sink
        sink(OrderSubmitted(ts=now, order=order))
        spec = self._instruments.get(order.instrument)
        reason = self._refusal(order, spec, equity_fraction)
        if reason or spec is None:
            order = order.transition(OrderStatus.REJECTED, now, reason)
            sink(OrderRejected(ts=now, order=order, reason=reason))
            return
        order = order.transition(OrderStatus.ACCEPTED, now)
        working = _Working(order, spec, now // NS_PER_DAY, equity_fraction)
        self._orders[order.id] = working
        self._books.setdefault(order.instrument, []).append(working)
        self._n_working += 1
        if order.parent_id is not None:
            self._attach_leg(working, order.parent_id)
        if order.oco_group is not None:
            self._groups.setdefault(order.oco_group, []).append(working)
        sink(OrderAccepted(ts=now, order=order))

    def _refusal(self, order: Order, spec: Instrument | None, equity_fraction: float | None) -> str:
        if spec is None:
            known = ", ".join(str(i) for i in self._instruments) or "none"
            return f"unknown instrument {order.instrument}; the broker trades: {known}"
        if equity_fraction is None and not spec.is_valid_quantity(order.quantity):
            if order.quantity < spec.min_quantity:
                return f"quantity {order.quantity} is below the minimum {spec.min_quantity}"
            return (
                f"quantity {order.quantity} is not a multiple of the lot size {spec.lot_size}; "
                "round it with Instrument.round_quantity"
            )
        for price in (order.limit_price, order.stop_price):
            if price is not None and not spec.is_valid_price(price):
                return (
                    f"price {price} is not a multiple of the tick size {spec.tick_size}; "
                    "round it with Instrument.round_price"
                )
        if equity_fraction is not None:
            if self._ledger is None:
                return "equity_fraction sizing needs a broker created with a ledger"
            if not 0.0 < equity_fraction <= 1.0:
                return f"equity_fraction must be in (0, 1], got {equity_fraction}"
        return ""

    def _attach_leg(self, leg: _Working, parent_id: OrderId) -> None:
        parent = self._orders.get(parent_id)
        if parent is not None and parent.order.filled_quantity == 0.0:
            leg.active = False
            self._children.setdefault(parent_id, []).append(leg)

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        working = self._orders.get(order_id)
        if working is not None:
            self._finish(working, OrderStatus.CANCELLED, self._now, reason or "cancelled")

    def cancel_all(self, instrument: InstrumentId | None = None, reason: str = "") -> None:
        for working in list(self._orders.values()):
            wanted = instrument is None or working.order.instrument == instrument
            if wanted and working.order.id in self._orders:
                self._finish(working, OrderStatus.CANCELLED, self._now, reason or "cancelled")

    def open_orders(self, instrument: InstrumentId | None = None) -> Sequence[Order]:
        return [
            w.order
            for w in self._orders.values()
            if instrument is None or w.order.instrument == instrument
        ]

    def bar_hooks(self) -> BarHooks:
        """The loop shows this broker every bar's open (every bar in ``close`` fill mode, whose
        participation cap reads each bar's volume) and, in ``close`` mode, its close."""
        close = self.on_bar_close if self._close_mode else None
        return BarHooks(self.on_bar_open, self.set_time, close, every_bar=self._close_mode)

    # -- bars --------------------------------------------------------------------------------
    def on_bar_open(
        self,
        instrument: InstrumentId,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> None:
        """A new bar of ``instrument`` arrived (before any strategy sees it): fill against it.

        Costs one attribute test when no order is working.
        """
        self._now = ts
        if self._close_mode:
            self._volumes[instrument] = (ts, volume)
        if not self._n_working:
            return
        book = self._books.get(instrument)
        if book:
            self._run_bar(book, int(ts), float(open), float(high), float(low), float(volume))

    def on_bar_close(
        self, instrument: InstrumentId, ts: int, close: float, volume: float | None = None
    ) -> None:
        """In ``close`` fill mode, fill market orders of this bar's cycle at ``close``.

        ``ts`` should be the same bar ``ts`` given to :meth:`on_bar_open`: fills are stamped
        with it. ``volume`` (the bar's) is needed only for a participation cap or volume impact;
        when omitted, the volume given to ``on_bar_open`` for this same ``ts`` is used, else none
        (no cap, no impact). A no-op in ``next_open`` mode.
        """
        if not self._close_mode or not self._n_working:
            return
        book = self._books.get(instrument)
        if not book:
            return
        self._now = ts = int(ts)
        close = float(close)
        if volume is None:
            seen_ts, seen_volume = self._volumes.get(instrument, (None, math.inf))
            volume = seen_volume if seen_ts == ts else math.inf
        for working in [w for w in book if w.rank == _MARKET and w.active]:
            if working.order.id in self._orders:
                self._try_fill(working, ts, close, False, volume)

    # -- matching ----------------------------------------------------------------------------
    def _run_bar(
        self, book: list[_Working], ts: int, open: float, high: float, low: float, volume: float
    ) -> None:
        if len(book) == 1 and not self._close_mode:
            batch = book[:] if book[0].active else []  # the common case: one order
        else:
            skip_market = self._close_mode
            batch = [w for w in book if w.active and not (skip_market and w.rank == _MARKET)]
            batch.sort(key=_rank_of)
        self._match_all(batch, ts, open, high, low, volume)
        while self._same_bar:
            legs = sorted(self._same_bar, key=_rank_of)
            self._same_bar.clear()
            # the open has traded already: the legs meet the rest of the bar, not the open
            self._match_all(legs, ts, math.nan, high, low, volume)

    def _match_all(
        self,
        batch: list[_Working],
        ts: int,
        open: float,
        high: float,
        low: float,
        volume: float,
    ) -> None:
        for working in batch:
            if working.order.id not in self._orders:
                continue  # cancelled by an earlier fill in this bar (OCO) or expired
            if working.expires and self._expired(working, ts):
                self._finish(working, OrderStatus.EXPIRED, ts, "expired")
                continue
            price, maker = self._price(working, open, high, low)
            if price is None:
                if working.order.time_in_force in _IMMEDIATE:
                    self._finish(working, OrderStatus.CANCELLED, ts, "not immediately fillable")
                continue
            self._try_fill(working, ts, price, maker, volume)

    @staticmethod
    def _expired(working: _Working, ts: int) -> bool:
        tif = working.order.time_in_force
        if tif is TimeInForce.GTC:
            return False
        if tif is TimeInForce.GTD:
            expire = working.order.expire_ns
            return expire is not None and ts >= expire
        if tif is TimeInForce.DAY:
            return ts // NS_PER_DAY > working.day
        return False

    def _price(
        self, working: _Working, open: float, high: float, low: float
    ) -> tuple[float | None, bool]:
        """The fill price against this bar (None: no fill) and whether the fill is maker."""
        first_look = not working.seen
        working.seen = True
        order = working.order
        sign = working.sign
        if working.rank == _MARKET:
            return (None if open != open else open), False
        if working.rank == _STOP and not working.triggered:
            stop = order.stop_price
            if stop is None or not (high >= stop if sign > 0 else low <= stop):
                return None, False
            working.triggered = True
            trigger = stop if open != open else (max(open, stop) if sign > 0 else min(open, stop))
            limit = order.limit_price
            if limit is None:
                return trigger, False
            if (trigger <= limit) if sign > 0 else (trigger >= limit):
                return trigger, False
            working.rank = _LIMIT  # rests as a limit from the next bar on
            return None, False
        limit = order.limit_price
        if limit is None or not (low <= limit if sign > 0 else high >= limit):
            return None, False
        if open == open and ((open <= limit) if sign > 0 else (open >= limit)):
            return open, not first_look  # marketable on arrival: taker; gapped through: maker
        return limit, True

    def _try_fill(
        self, working: _Working, ts: int, price: float, maker: bool, volume: float
    ) -> None:
        rate = self._fee_rate(working.instrument, maker)
        if working.plain and self._frictionless:  # the common case, no adjustment to make
            quantity = working.order.remaining_quantity
            self._fill(working, ts, quantity, price, fill_fee(rate, quantity, price), maker)
            return
        if maker:
            quantity = self._quantity(working, price, rate, volume)
        else:  # size on the slipped price, then add the impact of the size actually filled
            reference = self._slipped(working, price, 0.0, 0.0)
            quantity = self._quantity(working, reference, rate, volume)
            filled = self._slipped(working, price, quantity, volume)
            if working.fraction is not None and working.sign > 0 and filled > reference > 0:
                # A buy's impact raised the price the budget was sized on: size once more on
                # the impacted price (fewer units, so less impact) so the cost fits the cash.
                quantity = self._quantity(working, filled, rate, volume)
                filled = self._slipped(working, price, quantity, volume)
            price = filled
        if quantity > 0.0:
            self._fill(working, ts, quantity, price, fill_fee(rate, quantity, price), maker)

    def fee_rate(self, instrument: InstrumentId, *, maker: bool = False) -> float:
        """The fee rate (fraction of notional) a fill of ``instrument`` pays: ``fees_bps`` when
        set, else the instrument's maker or taker fee. Engines size orders with it."""
        spec = self._instruments.get(instrument)
        if spec is None:
            return 0.0 if self._fees_override is None else self._fees_override
        return self._fee_rate(spec, maker)

    def _fee_rate(self, spec: Instrument, maker: bool) -> float:
        if self._fees_override is not None:
            return self._fees_override
        return spec.maker_fee if maker else spec.taker_fee

    def _slipped(self, working: _Working, price: float, quantity: float, volume: float) -> float:
        adjusted = taker_price(price, working.sign, quantity, volume, self._slippage, self._impact)
        if adjusted == price:
            return price
        limit = working.order.limit_price
        if limit is not None:
            adjusted = min(adjusted, limit) if working.sign > 0 else max(adjusted, limit)
        return adjusted

    def _quantity(self, working: _Working, price: float, rate: float, volume: float) -> float:
        """How much fills now; 0 when nothing may (the order may have been finished)."""
        order = working.order
        ts = self._now
        if working.fraction is not None and order.filled_quantity == 0.0:
            quantity = self._equity_sized(working, price, rate)
            if quantity <= 0.0:
                self._finish(working, OrderStatus.CANCELLED, ts, INSUFFICIENT_EQUITY)
                return 0.0
            order = working.order = msgspec.structs.replace(order, quantity=quantity)
        quantity = order.remaining_quantity
        if order.reduce_only:
            held = self.position(order.instrument) * -working.sign
            if held <= 0.0:
                self._finish(working, OrderStatus.CANCELLED, ts, "reduce-only: nothing to reduce")
                return 0.0
            quantity = min(quantity, held)
        if self._cap is not None and volume < math.inf:
            allowed = working.instrument.round_quantity(self._cap * volume)
            if allowed < quantity:
                if order.time_in_force is TimeInForce.FOK or allowed <= 0.0:
                    if order.time_in_force in _IMMEDIATE:
                        self._finish(working, OrderStatus.CANCELLED, ts, "volume cap")
                    return 0.0
                quantity = allowed
        return quantity

    def _equity_sized(self, working: _Working, price: float, rate: float) -> float:
        ledger, fraction = self._ledger, working.fraction
        if ledger is None or fraction is None:  # refused at submit; kept for the type checker
            return 0.0
        budget = equity_budget(ledger.equity, ledger.gross_exposure, fraction)
        return equity_units(budget, price, rate, working.instrument)

    def _fill(
        self, working: _Working, ts: int, quantity: float, price: float, fee: float, maker: bool
    ) -> None:
        order = working.order
        fill = Fill(
            order_id=order.id,
            trade_id=TradeId(f"T-{next(self._trade_sequence)}"),
            instrument=order.instrument,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=fee,
            ts=ts,
            liquidity=LiquiditySide.MAKER if maker else LiquiditySide.TAKER,
        )
        if self._ledger is not None:
            self._ledger.apply_fill(fill)
        else:
            self._positions[order.instrument] = (
                self._positions.get(order.instrument, 0.0) + fill.position_delta
            )
        order = working.order = order.with_fill(quantity, price, ts)
        if order.status is OrderStatus.FILLED:
            self._remove(working)
        self._sink(OrderFilled(ts=ts, order=order, fill=fill))
        self._after_fill(working, ts)

    def _after_fill(self, working: _Working, ts: int) -> None:
        order = working.order
        legs = self._children.pop(order.id, None)
        if legs:
            for leg in legs:
                leg.active = True
            if working.rank == _MARKET and not self._close_mode:
                self._same_bar.extend(legs)
        if order.oco_group is not None:
            for other in self._groups.get(order.oco_group, ()):
                if other is not working and other.order.id in self._orders:
                    self._finish(other, OrderStatus.CANCELLED, ts, f"oco: {order.id} filled")
        if order.id not in self._orders:
            return
        if order.time_in_force in _IMMEDIATE:
            self._finish(working, OrderStatus.CANCELLED, ts, "remainder of an immediate order")
        elif order.reduce_only and self.position(order.instrument) == 0.0:
            self._finish(working, OrderStatus.CANCELLED, ts, "reduce-only: position closed")

    # -- finishing ---------------------------------------------------------------------------
    def _remove(self, working: _Working) -> None:
        order = working.order
        del self._orders[order.id]
        self._n_working -= 1
        book = self._books[order.instrument]
        book.remove(working)
        if order.oco_group is not None:
            group = self._groups.get(order.oco_group)
            if group is not None:
                group.remove(working)
                if not group:
                    del self._groups[order.oco_group]

    def _finish(self, working: _Working, status: OrderStatus, ts: int, reason: str) -> None:
        """Cancel or expire a working order (and the inactive legs of an unfilled entry)."""
        order = working.order.transition(status, ts, reason)
        working.order = order
        self._remove(working)
        if status is OrderStatus.EXPIRED:
            self._sink(OrderExpired(ts=ts, order=order))
        else:
            self._sink(OrderCancelled(ts=ts, order=order, reason=reason))
        # legs still waiting here belong to an entry that never filled (a fill releases them)
        for leg in self._children.pop(order.id, ()):
            if leg.order.id in self._orders:
                self._finish(leg, OrderStatus.CANCELLED, ts, f"parent {order.id} {status}")


def simulated_broker(config: ExecutionConfig) -> BrokerFactory:
    """The drivers' default :data:`~neo.execution.broker.BrokerFactory`: a simulated broker
    with the fill model ``config``."""

    def build(
        instruments: Mapping[InstrumentId, Instrument], sink: EventSink, ledger: Ledger
    ) -> SimulatedBroker:
        return SimulatedBroker(instruments, config, sink, ledger)

    return build


def _rank_of(working: _Working) -> int:
    return working.rank
