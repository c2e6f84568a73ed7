"""Stops as real orders at the broker: stop-loss, trailing and ATR stops, take-profit, time stop.

A stop that lives only inside NEO disappears when the process does; these helpers build
``STOP`` / ``STOP_LIMIT`` / ``LIMIT`` orders (reduce-only, linked to their entry by
``parent_id`` and to each other by ``oco_group``) that the broker holds, so they protect the
position in live trading even if NEO is down. Trailing stops move by cancel-and-replace: the
engine cancels the old leg and submits the one :func:`replace_stop` returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import msgspec

from neo.domain.enums import OrderType, Side
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id

StopKind = Literal["fixed_pct", "trailing_pct", "atr", "atr_trailing"]


@dataclass(frozen=True, kw_only=True)
class StopRule:
    """Where the stop sits: ``pct`` below/above the reference price, or ``atr_multiple`` ATRs.

    The ``trailing_*`` kinds measure from the best price since entry instead of the entry.
    """

    kind: StopKind = "fixed_pct"
    pct: float = 0.02
    atr_multiple: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.pct < 1:
            raise ConfigError(f"stop pct must be in (0, 1), got {self.pct}")
        if not self.atr_multiple > 0:
            raise ConfigError(f"stop atr_multiple must be > 0, got {self.atr_multiple}")

    @property
    def trailing(self) -> bool:
        return self.kind in ("trailing_pct", "atr_trailing")

    def distance(self, reference: float, atr: float | None) -> float:
        """Price distance from ``reference`` to the stop."""
        if self.kind in ("atr", "atr_trailing"):
            if atr is None or not (math.isfinite(atr) and atr > 0):
                raise ConfigError(f"a {self.kind} stop needs a positive ATR, got {atr}")
            return self.atr_multiple * atr
        return self.pct * reference


def stop_price(long: bool, reference: float, rule: StopRule, atr: float | None = None) -> float:
    """The stop trigger for a long (below ``reference``) or short (above) position."""
    distance = rule.distance(reference, atr)
    price = reference - distance if long else reference + distance
    if not price > 0:
        raise ConfigError(f"stop distance {distance} puts the stop at {price}: tighten the stop")
    return price


def take_profit_price(long: bool, reference: float, pct: float) -> float:
    if not pct > 0:
        raise ConfigError(f"take-profit pct must be > 0, got {pct}")
    return reference * (1.0 + pct) if long else reference * (1.0 - pct)


def _round(price: float, instrument: Instrument | None) -> float:
    return instrument.round_price(price) if instrument is not None else price


def stop_order(
    instrument_id: InstrumentId,
    position: float,
    trigger: float,
    *,
    instrument: Instrument | None = None,
    limit_offset_pct: float | None = None,
    parent_id: OrderId | None = None,
    oco_group: str | None = None,
    ts: int = 0,
    tag: str = "stop_loss",
) -> Order:
    """A reduce-only STOP (or STOP_LIMIT with ``limit_offset_pct``) that closes ``position``."""
    if position == 0:
        raise ConfigError("a stop needs a position to protect; position is 0")
    side = Side.SELL if position > 0 else Side.BUY
    stop = _round(trigger, instrument)
    limit = None
    if limit_offset_pct is not None:
        offset = -limit_offset_pct if side is Side.SELL else limit_offset_pct
        limit = _round(stop * (1.0 + offset), instrument)
    return Order(
        id=next_order_id("STOP"),
        instrument=instrument_id,
        side=side,
        quantity=abs(position),
        type=OrderType.STOP if limit is None else OrderType.STOP_LIMIT,
        stop_price=stop,
        limit_price=limit,
        reduce_only=True,
        created_ns=ts,
        parent_id=parent_id,
        oco_group=oco_group,
        tag=tag,
    )


def take_profit_order(
    instrument_id: InstrumentId,
    position: float,
    price: float,
    *,
    instrument: Instrument | None = None,
    parent_id: OrderId | None = None,
    oco_group: str | None = None,
    ts: int = 0,
) -> Order:
    """A reduce-only LIMIT order that closes ``position`` at ``price``."""
    if position == 0:
        raise ConfigError("a take-profit needs a position; position is 0")
    return Order(
        id=next_order_id("TP"),
        instrument=instrument_id,
        side=Side.SELL if position > 0 else Side.BUY,
        quantity=abs(position),
        type=OrderType.LIMIT,
        limit_price=_round(price, instrument),
        reduce_only=True,
        created_ns=ts,
        parent_id=parent_id,
        oco_group=oco_group,
        tag="take_profit",
    )


def bracket(
    entry: Order,
    entry_price: float,
    rule: StopRule,
    *,
    take_profit_pct: float | None = None,
    atr: float | None = None,
    instrument: Instrument | None = None,
    ts: int = 0,
) -> tuple[Order, ...]:
    """Stop-loss (and take-profit) legs for ``entry``: same size, opposite side, one OCO group.

    The engine submits them once the entry fills; when one leg fills the broker cancels the
    other.
    """
    long = entry.side is Side.BUY
    group = f"{entry.id}-bracket"
    position = entry.signed_quantity
    legs = [
        stop_order(
            entry.instrument,
            position,
            stop_price(long, entry_price, rule, atr),
            instrument=instrument,
            parent_id=entry.id,
            oco_group=group,
            ts=ts,
        )
    ]
    if take_profit_pct is not None:
        legs.append(
            take_profit_order(
                entry.instrument,
                position,
                take_profit_price(long, entry_price, take_profit_pct),
                instrument=instrument,
                parent_id=entry.id,
                oco_group=group,
                ts=ts,
            )
        )
    return tuple(legs)


def replace_stop(
    old: Order, trigger: float, ts: int, instrument: Instrument | None = None
) -> Order:
    """The same stop leg at a new trigger, under a new id (cancel ``old`` first)."""
    stop = _round(trigger, instrument)
    limit = old.limit_price
    if limit is not None and old.stop_price is not None:
        limit = _round(limit * stop / old.stop_price, instrument)
    return msgspec.structs.replace(
        old,
        id=next_order_id("STOP"),
        stop_price=stop,
        limit_price=limit,
        created_ns=ts,
        updated_ns=ts,
    )


class TrailingStop:
    """Ratchets a stop behind the best price since entry; it never moves against the position.

    Feed it each completed bar's high and low (and ATR for ATR stops); :meth:`update` returns
    the new trigger when the stop moved, else None.
    """

    def __init__(
        self, long: bool, entry_price: float, rule: StopRule, atr: float | None = None
    ) -> None:
        self.long = long
        self.rule = rule
        self.best = entry_price
        self.stop = stop_price(long, entry_price, rule, atr)

    def update(self, high: float, low: float, atr: float | None = None) -> float | None:
        self.best = max(self.best, high) if self.long else min(self.best, low)
        if not self.rule.trailing:
            return None
        candidate = stop_price(self.long, self.best, self.rule, atr)
        moved = candidate > self.stop if self.long else candidate < self.stop
        if not moved:
            return None
        self.stop = candidate
        return candidate

    def hit(self, high: float, low: float) -> bool:
        """True when a bar with this range would have triggered the current stop."""
        return low <= self.stop if self.long else high >= self.stop


def time_stop_order(
    instrument_id: InstrumentId,
    position: float,
    entry_ns: int,
    now_ns: int,
    max_holding_ns: int,
) -> Order | None:
    """A reduce-only market exit once a position has been held ``max_holding_ns`` or longer."""
    if max_holding_ns <= 0:
        raise ConfigError(f"time stop: max_holding_ns must be > 0, got {max_holding_ns}")
    if position == 0 or now_ns - entry_ns < max_holding_ns:
        return None
    return Order(
        id=next_order_id("TIME"),
        instrument=instrument_id,
        side=Side.SELL if position > 0 else Side.BUY,
        quantity=abs(position),
        reduce_only=True,
        created_ns=now_ns,
        tag="time_stop",
    )
