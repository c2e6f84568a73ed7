"""What a notification says, built from the engine's bus events (format-neutral).

A :class:`Notification` is a title, a line of text and a few named fields; :mod:`.formats`
turns it into each service's payload. Building one is a handful of string operations, done on
the trading thread only for the event kinds some webhook subscribed to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from neo.domain.events import (
    EngineStopped,
    Event,
    KillSwitchEngaged,
    KillSwitchReset,
    OrderFilled,
    OrderRejected,
    RiskDenied,
    StrategyFailed,
)
from neo.domain.ids import InstrumentId
from neo.domain.timestamps import iso_ns
from neo.notify.config import EventKind


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Notification:
    kind: EventKind
    severity: Severity
    title: str
    text: str
    ts_ns: int
    fields: dict[str, str] = field(default_factory=dict)
    session: str = ""

    @property
    def ts_iso(self) -> str:
        return iso_ns(self.ts_ns)


def _num(value: float) -> str:
    return f"{value:,.8g}"


def from_event(event: Event, session: str = "") -> Notification | None:
    """The notification for ``event`` (None for events nobody is told about)."""
    if isinstance(event, OrderFilled):
        fill = event.fill
        return Notification(
            EventKind.FILL,
            Severity.INFO,
            f"Fill: {fill.side.value} {_num(fill.quantity)} {fill.instrument.symbol}",
            f"{fill.side.value} {_num(fill.quantity)} {fill.instrument} at {_num(fill.price)}",
            fill.ts,
            {
                "instrument": str(fill.instrument),
                "side": fill.side.value,
                "quantity": _num(fill.quantity),
                "price": _num(fill.price),
                "fee": _num(fill.fee),
                "order": str(fill.order_id),
                "order_status": event.order.status.value,
            },
            session,
        )
    if isinstance(event, RiskDenied):
        order = event.order
        return Notification(
            EventKind.RISK,
            Severity.WARNING,
            f"Risk denied an order ({event.code})",
            f"{order.side.value} {_num(order.quantity)} {order.instrument}: {event.reason}",
            event.ts,
            {"instrument": str(order.instrument), "rule": event.code, "order": str(order.id)},
            session,
        )
    if isinstance(event, KillSwitchEngaged):
        return Notification(
            EventKind.KILL_SWITCH,
            Severity.CRITICAL,
            "Kill switch ENGAGED: trading halted",
            event.reason or "engaged",
            event.ts,
            {"reason": event.reason},
            session,
        )
    if isinstance(event, KillSwitchReset):
        return Notification(
            EventKind.KILL_SWITCH,
            Severity.WARNING,
            "Kill switch reset: trading may resume",
            f"reset {('by ' + event.by) if event.by else ''}".strip(),
            event.ts,
            {"by": event.by},
            session,
        )
    return _error(event, session)


def _error(event: Event, session: str) -> Notification | None:
    if isinstance(event, StrategyFailed):
        return Notification(
            EventKind.ERROR,
            Severity.CRITICAL,
            f"Strategy {event.strategy} failed",
            event.error,
            event.ts,
            {"strategy": event.strategy},
            session,
        )
    if isinstance(event, OrderRejected):
        order = event.order
        return Notification(
            EventKind.ERROR,
            Severity.WARNING,
            f"Order rejected: {order.side.value} {_num(order.quantity)} {order.instrument.symbol}",
            event.reason,
            event.ts,
            {"instrument": str(order.instrument), "order": str(order.id)},
            session,
        )
    if isinstance(event, EngineStopped) and _is_failure(event.reason):
        return Notification(
            EventKind.ERROR,
            Severity.CRITICAL,
            "Trading session stopped on a failure",
            event.reason,
            event.ts,
            {"reason": event.reason},
            session,
        )
    return None


_FAILURE_WORDS = ("fail", "error", "exception", "lost", "crash")


def _is_failure(reason: str) -> bool:
    lowered = reason.lower()
    return any(word in lowered for word in _FAILURE_WORDS)


def stale_data(
    instrument: InstrumentId, age_s: float, bar_s: float, now_ns: int, session: str = ""
) -> Notification:
    return Notification(
        EventKind.STALE,
        Severity.WARNING,
        f"Stale data: {instrument}",
        f"no new bar for {age_s:,.0f} s ({age_s / bar_s:,.1f} bars of {bar_s:g} s)",
        now_ns,
        {"instrument": str(instrument), "age_s": f"{age_s:.0f}"},
        session,
    )


def fresh_again(instrument: InstrumentId, now_ns: int, session: str = "") -> Notification:
    return Notification(
        EventKind.STALE,
        Severity.INFO,
        f"Data fresh again: {instrument}",
        "bars are arriving again",
        now_ns,
        {"instrument": str(instrument)},
        session,
    )
