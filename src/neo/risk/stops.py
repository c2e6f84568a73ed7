"""Stops as real orders at the broker: the reduce-only stop and take-profit legs.

A stop that lives only inside NEO disappears when the process does; these helpers build
``STOP`` / ``STOP_LIMIT`` / ``LIMIT`` orders (reduce-only, linked to their entry by
``parent_id`` and to each other by ``oco_group``) that the broker holds, so they protect the
position in live trading even if NEO is down. :class:`~neo.risk.stop_manager.StopManager`
decides where they go and moves them (cancel-and-replace).
"""

from __future__ import annotations

from neo.domain.enums import OrderType, Side
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id


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
