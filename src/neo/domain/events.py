"""Events the engine carries on its bus, named in the past tense for what has happened.

Every event has ``ts`` (integer nanoseconds UTC, the engine clock's time when it happened).
They are msgspec structs tagged with their class name, so one ``encode_event``/``decode_event``
pair round-trips any of them through JSON for the state store, the REST API and Redis.
"""

from __future__ import annotations

from typing import Any

import msgspec

from neo.domain.bar import Bar
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId
from neo.domain.order import Order
from neo.domain.position import Position


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    ts: int


class BarClosed(Event, frozen=True, kw_only=True):
    """A bar is complete; strategies act on it now, fills happen no earlier than the next bar."""

    bar: Bar


class TimerFired(Event, frozen=True, kw_only=True):
    name: str


class PredictionMade(Event, frozen=True, kw_only=True):
    instrument: InstrumentId
    model_id: str
    value: float


class TargetSet(Event, frozen=True, kw_only=True):
    """A strategy's wish: hold ``quantity`` (signed) of ``instrument``."""

    instrument: InstrumentId
    quantity: float
    strategy: str = ""


class OrderSubmitted(Event, frozen=True, kw_only=True):
    order: Order


class OrderAccepted(Event, frozen=True, kw_only=True):
    order: Order


class OrderRejected(Event, frozen=True, kw_only=True):
    order: Order
    reason: str


class OrderCancelled(Event, frozen=True, kw_only=True):
    order: Order
    reason: str = ""


class OrderExpired(Event, frozen=True, kw_only=True):
    order: Order


class OrderFilled(Event, frozen=True, kw_only=True):
    order: Order
    fill: Fill


class PositionChanged(Event, frozen=True, kw_only=True):
    position: Position


class RiskDenied(Event, frozen=True, kw_only=True):
    """The risk layer refused an order before it left the process."""

    order: Order
    code: str
    reason: str


class KillSwitchEngaged(Event, frozen=True, kw_only=True):
    reason: str


class KillSwitchReset(Event, frozen=True, kw_only=True):
    by: str = ""


class StrategyFailed(Event, frozen=True, kw_only=True):
    """A strategy raised; the cycle was skipped and the loop went on."""

    strategy: str
    error: str


class EngineStarted(Event, frozen=True, kw_only=True):
    mode: str


class EngineStopped(Event, frozen=True, kw_only=True):
    reason: str = ""


ORDER_STATUS_EVENTS: tuple[type[Event], ...] = (
    OrderSubmitted,
    OrderAccepted,
    OrderRejected,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
)
"""Every event that reports an order's status change (each carries the order after it): what
a subscriber that keeps orders' latest state listens to."""

AnyEvent = (
    BarClosed
    | TimerFired
    | PredictionMade
    | TargetSet
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderCancelled
    | OrderExpired
    | OrderFilled
    | PositionChanged
    | RiskDenied
    | KillSwitchEngaged
    | KillSwitchReset
    | StrategyFailed
    | EngineStarted
    | EngineStopped
)

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyEvent)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> Event:
    event: Event = _decoder.decode(data)
    return event
