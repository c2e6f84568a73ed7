"""The stop manager: keeps a real protective stop at the broker for every open position.

Whoever built the position (a strategy's orders, a target, the allocator), once the manager
sees it after a bar it submits a reduce-only STOP (or STOP_LIMIT) for the whole position, plus a
take-profit LIMIT in the same OCO group when configured, through the engine's normal order
path: the pre-trade checks judge them like any order, and in live trading they rest at the
exchange, so they protect the position even while NEO is down. Then, after every bar of the
instrument:

* **trailing / ATR stops** move by cancel-and-replace, only ever tighter: the replacement is
  submitted first and the old stop cancelled only once the new one was accepted, so the
  position is never left unprotected. ``trailing`` sits ``pct`` behind the best price since
  entry (highest high for a long); ``atr`` sits ``atr_mult`` × ATR behind it, the ATR being
  Wilder's ATR(``atr_window``) as TA-Lib and the ``atr`` feature compute it (one definition:
  :func:`neo.features.steps.atr_update`): undefined for the first ``atr_window`` bars the
  manager sees, during which the stop sits ``pct`` behind instead. Should the new level be at
  or through the close (the bar ran up and fell back further than the stop distance), the
  position is closed with a market order instead of parking a stop the exchange would refuse.
* a **changed size** (added to, partly closed) replaces the stop and take-profit at the new
  quantity;
* a stop that is no longer working while the position is (cancelled by the kill switch,
  rejected, expired) is placed again;
* the **time stop** closes the position with a reduce-only market order at the close of the
  ``time_stop_bars``-th bar after the entry bar, cancelling the stop and take-profit;
* once the position is **closed or reversed**, leftover orders are cancelled (a reversal then
  gets fresh stops).

The manager acts at the close of a bar, so a stop placed after an entry fill starts working
with the next bar: the path of prices inside the entry bar is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import count
from typing import Protocol

from neo.domain.enums import Side
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.domain.position import Position
from neo.features.steps import atr_update
from neo.logs import get_logger
from neo.risk.config import StopsConfig
from neo.risk.stops import stop_order, take_profit_order

log = get_logger("risk.stops")


class _Book(Protocol):
    def position_of(self, instrument: InstrumentId) -> Position: ...


class StopHost(Protocol):
    """What the manager needs of the engine (the trading loop provides it)."""

    @property
    def ledger(self) -> _Book: ...

    @property
    def orders(self) -> Mapping[OrderId, Order]:
        """Latest known state of every order sent, by id."""
        ...

    def submit(self, order: Order) -> bool:
        """Send ``order`` through the pre-trade checks; False when they denied it."""
        ...

    def cancel(self, order_id: OrderId, reason: str = "") -> None: ...


@dataclass(slots=True)
class _Guard:
    """The protection of one position."""

    side: int
    quantity: float
    entry: float
    best: float
    level: float
    group: str
    bars: int = 0
    stop_id: OrderId | None = None
    take_id: OrderId | None = None
    exit_id: OrderId | None = None


class _Atr:
    """Wilder's ATR of one instrument, one bar at a time (the shared step's state)."""

    __slots__ = ("state", "value", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.state = [0.0, 0.0, 0.0]
        self.value = math.nan

    def update(self, high: float, low: float, close: float) -> None:
        self.value = atr_update(self.state, 0, high, low, close, self.window)


class StopManager:
    """Protective stops for every position (see the module docstring).

    Parameters
    ----------
    config
        Kind and distance of the stop, take-profit and time stop.
    instruments
        Tick and lot sizes to round stop prices and quantities to.
    """

    def __init__(
        self, config: StopsConfig, instruments: Mapping[InstrumentId, Instrument] | None = None
    ) -> None:
        self.config = config
        self.instruments: Mapping[InstrumentId, Instrument] = instruments or {}
        self.guards: dict[InstrumentId, _Guard] = {}
        self._ranges: dict[InstrumentId, _Atr] = {}
        self._groups = count(1)

    # ------------------------------------------------------------------ per bar
    def on_bar(
        self,
        host: StopHost,
        instrument: InstrumentId,
        high: float,
        low: float,
        close: float,
        now: int,
    ) -> None:
        """After a bar of ``instrument`` (its fills done): protect, trail, time out or clean up."""
        spread = self._ranges.get(instrument)
        if spread is None:
            spread = self._ranges[instrument] = _Atr(self.config.atr_window)
        spread.update(high, low, close)
        held = host.ledger.position_of(instrument)
        guard = self.guards.get(instrument)
        side = 0 if held.quantity == 0.0 else (1 if held.quantity > 0 else -1)
        if guard is not None and guard.side != side:
            self._drop(host, instrument, guard, "position closed" if not side else "reversed")
            guard = None
        if not side:
            return
        if guard is None:
            self._open(host, instrument, side, held, spread.value, close, now)
            return
        guard.bars += 1
        self._follow(host, instrument, guard, held, (high, low, close), spread.value, now)

    def _open(
        self,
        host: StopHost,
        instrument: InstrumentId,
        side: int,
        held: Position,
        atr: float,
        close: float,
        now: int,
    ) -> None:
        entry = held.average_price
        guard = _Guard(
            side=side,
            quantity=self._quantity(instrument, held.quantity),
            entry=entry,
            best=entry,
            level=math.nan,
            group=f"{instrument}:guard-{next(self._groups)}",
        )
        self.guards[instrument] = guard
        self._protect(host, instrument, guard, self._level(guard, entry, atr), close, now)

    def _protect(
        self,
        host: StopHost,
        instrument: InstrumentId,
        guard: _Guard,
        level: float,
        close: float,
        now: int,
        *,
        resized: bool = True,
    ) -> None:
        """Stop at ``level`` (and take-profit) for the guard's quantity, or exit when the
        level is already at or through the close."""
        if (level - close) * guard.side >= 0:
            self._exit(host, instrument, guard, now, "stop_through_market")
            return
        if resized or level != guard.level or not _working(host, guard.stop_id):
            self._restop(host, instrument, guard, level, now)
        if self.config.take_profit_pct is not None and (
            resized or not _working(host, guard.take_id)
        ):
            self._retake(host, instrument, guard, now)

    def _follow(
        self,
        host: StopHost,
        instrument: InstrumentId,
        guard: _Guard,
        held: Position,
        bar: tuple[float, float, float],
        atr: float,
        now: int,
    ) -> None:
        config = self.config
        if guard.exit_id is not None:
            if _working(host, guard.exit_id):
                return  # the exit is on its way
            guard.exit_id = None  # lost (denied, rejected): try again below
        if config.time_stop_bars is not None and guard.bars >= config.time_stop_bars:
            self._exit(host, instrument, guard, now, "time_stop")
            return
        high, low, close = bar
        guard.best = max(guard.best, high) if guard.side > 0 else min(guard.best, low)
        quantity = self._quantity(instrument, held.quantity)
        resized = quantity != guard.quantity
        if resized:
            guard.quantity = quantity
            guard.entry = held.average_price
        level = guard.level
        if config.kind == "fixed":
            if level != level:  # the first stop was never placed
                level = self._level(guard, guard.entry, atr)
        else:
            candidate = self._level(guard, guard.best, atr)
            if level != level or (candidate - level) * guard.side > 0:
                level = candidate  # only ever tighter
        self._protect(host, instrument, guard, level, close, now, resized=resized)

    # ------------------------------------------------------------------ orders
    def _level(self, guard: _Guard, reference: float, atr: float) -> float:
        config = self.config
        if config.kind == "atr" and atr == atr and atr > 0:
            distance = config.atr_mult * atr
        else:
            distance = config.pct * reference
        level = reference - distance * guard.side
        return level if level > 0 else reference * (1.0 - config.pct * guard.side)

    def _restop(
        self, host: StopHost, instrument: InstrumentId, guard: _Guard, level: float, now: int
    ) -> None:
        """Submit a stop at ``level``; cancel the old one only once the new one is accepted."""
        order = stop_order(
            instrument,
            guard.side * guard.quantity,
            level,
            instrument=self.instruments.get(instrument),
            limit_offset_pct=self.config.limit_offset_pct,
            oco_group=guard.group,
            ts=now,
        )
        if not host.submit(order) or not _working(host, order.id):
            log.warning("protective stop not placed", extra={"instrument": str(instrument)})
            return
        if guard.stop_id is not None and _working(host, guard.stop_id):
            host.cancel(guard.stop_id, "stop replaced")
        guard.stop_id, guard.level = order.id, order.stop_price or level

    def _retake(self, host: StopHost, instrument: InstrumentId, guard: _Guard, now: int) -> None:
        pct = self.config.take_profit_pct
        if pct is None:
            return
        price = guard.entry * (1.0 + pct * guard.side)
        order = take_profit_order(
            instrument,
            guard.side * guard.quantity,
            price,
            instrument=self.instruments.get(instrument),
            oco_group=guard.group,
            ts=now,
        )
        if host.submit(order) and _working(host, order.id):
            if guard.take_id is not None:
                host.cancel(guard.take_id, "take-profit replaced")
            guard.take_id = order.id

    def _exit(
        self, host: StopHost, instrument: InstrumentId, guard: _Guard, now: int, tag: str
    ) -> None:
        """Close the position at the market; the stop and take-profit go once it is sent."""
        order = Order(
            id=next_order_id("EXIT"),
            instrument=instrument,
            side=Side.SELL if guard.side > 0 else Side.BUY,
            quantity=guard.quantity,
            reduce_only=True,
            created_ns=now,
            updated_ns=now,
            tag=tag,
        )
        if not host.submit(order):
            return
        guard.exit_id = order.id
        for leftover in (guard.stop_id, guard.take_id):
            if leftover is not None:
                host.cancel(leftover, tag)
        guard.stop_id = guard.take_id = None

    def _drop(self, host: StopHost, instrument: InstrumentId, guard: _Guard, why: str) -> None:
        for leftover in (guard.stop_id, guard.take_id, guard.exit_id):
            if leftover is not None and _working(host, leftover):
                host.cancel(leftover, why)
        del self.guards[instrument]

    def _quantity(self, instrument: InstrumentId, position: float) -> float:
        spec = self.instruments.get(instrument)
        size = abs(position)
        return spec.round_quantity(size) if spec is not None else size


def _working(host: StopHost, order_id: OrderId | None) -> bool:
    """The order is at the broker (or on its way there) and not finished."""
    if order_id is None:
        return False
    order = host.orders.get(order_id)
    return order is not None and not order.status.is_terminal
