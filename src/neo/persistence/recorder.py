"""Make a paper (or any) session durable: record the engine's events as they happen, and
rebuild a ledger from what was recorded.

:class:`DurableRecorder` subscribes to a loop's :class:`~neo.engine.bus.MessageBus` and writes
every order status change, fill and position into the journal and the stores, one committed
transaction per event, so a process killed at any instant leaves the database consistent with
what it had published. Engine order ids (``O-7``) restart with each process, so the recorder
journals each order under a client order id from the session (``neo<tag>-<seq>``) and scopes
the simulated broker's trade ids (``T-3``, also per process) by that client id; an order whose
engine id already is a journaled client id (an exchange adapter that journals itself) is
recorded under that id.

A database failure inside a handler propagates: trading on without a journal would break the
promise that a restart loses nothing, so the session stops instead (fail closed).

:func:`restore_ledger` replays the recorded fills, in the order they happened, into a fresh
:class:`~neo.execution.ledger.Ledger`: cash, positions, fees and the trade list come back exactly
as the uninterrupted run had them (fills are the truth; the positions table is checked against
them and corrected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from neo.domain.enums import OrderStatus
from neo.domain.errors import PersistenceError
from neo.domain.events import (
    ORDER_STATUS_EVENTS,
    Event,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PositionChanged,
)
from neo.domain.ids import InstrumentId
from neo.domain.order import Order
from neo.domain.position import Position
from neo.logs import get_logger
from neo.persistence._util import choice
from neo.persistence.models import FILL_SOURCES

if TYPE_CHECKING:
    from neo.engine.bus import MessageBus
    from neo.execution.ledger import Ledger
    from neo.persistence.database import Database

log = get_logger("persistence.recorder")

RECORDED_EVENTS: tuple[type[Event], ...] = (*ORDER_STATUS_EVENTS, PositionChanged)


class DurableRecorder:
    """Records a session's order events, fills and positions as they are published.

    Parameters
    ----------
    database:
        The open state database.
    session_id:
        The session (must exist: :meth:`SessionStore.create`); its account owns the records.
    fill_source:
        Where fills come from: ``sim`` (the simulated broker), ``ws``, ``rest`` or ``replay``.
    scope_trade_ids:
        Prefix trade ids with the client order id (default; needed for the simulated broker,
        whose trade ids restart with the process). Turn off for venue trade ids, which are
        unique per venue already.
    """

    def __init__(
        self,
        database: Database,
        session_id: str,
        *,
        fill_source: str = "sim",
        scope_trade_ids: bool = True,
    ) -> None:
        self._db = database
        self.session_id = session_id
        self.account = database.sessions.require(session_id).account
        self.fill_source = choice(fill_source, FILL_SOURCES, "fill source")
        self.scope_trade_ids = scope_trade_ids
        self._client_ids: dict[str, str] = {}
        self._quantities: dict[str, float] = {}
        self.events_recorded = 0

    # -- wiring ----------------------------------------------------------------------------------
    def attach(self, bus: MessageBus) -> DurableRecorder:
        """Subscribe to ``bus`` (before the loop starts, so nothing is missed)."""
        for event_type in RECORDED_EVENTS:
            bus.subscribe(event_type, self.on_event)
        return self

    def detach(self, bus: MessageBus) -> None:
        for event_type in RECORDED_EVENTS:
            bus.unsubscribe(event_type, self.on_event)

    def adopt(self, order_id: str, client_order_id: str) -> None:
        """Record later events of engine order ``order_id`` under ``client_order_id`` (an
        order journaled by a previous run, taken over after a restart)."""
        self._client_ids[order_id] = client_order_id

    def client_order_id(self, order_id: str) -> str | None:
        """The client order id the engine's ``order_id`` is journaled under, if any yet."""
        return self._client_ids.get(order_id)

    # -- events ----------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, PositionChanged):
            self._db.positions.save(self.account, event.position, event.ts)
        elif isinstance(event, OrderFilled):
            self._filled(event)
        elif isinstance(event, OrderSubmitted | OrderAccepted):
            cid, new = self._ensure_new(event.order)
            if not new or event.order.status is not OrderStatus.SUBMITTED:
                self._db.orders.record_status(cid, event.order.status, ts_ns=event.ts)
        elif isinstance(event, OrderRejected | OrderCancelled | OrderExpired):
            cid = self._ensure(event.order)
            reason = getattr(event, "reason", "") or event.order.reason
            self._db.orders.record_status(
                cid, event.order.status, reason=reason or None, ts_ns=event.ts
            )
        else:
            return
        self.events_recorded += 1

    def _filled(self, event: OrderFilled) -> None:
        order, fill = event.order, event.fill
        cid = self._ensure(order)
        if self._quantities.get(cid) != order.quantity:  # sized by the broker at the fill
            self._db.orders.record_quantity(cid, order.quantity)
            self._quantities[cid] = order.quantity
        trade_id = f"{cid}:{fill.trade_id}" if self.scope_trade_ids else str(fill.trade_id)
        self._db.orders.record_fill(
            fill, client_order_id=cid, source=self.fill_source, trade_id=trade_id
        )

    def _ensure(self, order: Order) -> str:
        return self._ensure_new(order)[0]

    def _ensure_new(self, order: Order) -> tuple[str, bool]:
        """The order's client id, journaling the order (committed) on first sight, and
        whether it was journaled just now."""
        known = self._client_ids.get(order.id)
        if known is not None:
            return known, False
        new = False
        journaled = self._db.orders.get(order.id)
        if journaled is not None and journaled.session_id == self.session_id:
            cid = journaled.client_order_id
        else:
            cid = self._db.orders.record_intent(order, self.session_id)
            self._db.orders.record_sent(cid)
            new = True
        self._client_ids[order.id] = cid
        self._quantities[cid] = order.quantity
        return cid, new


@dataclass(frozen=True, slots=True)
class RestoredLedger:
    """What :func:`restore_ledger` did."""

    fills: int
    positions: dict[InstrumentId, Position]
    corrected: tuple[InstrumentId, ...]
    """Instruments whose stored position disagreed with the fills and was rewritten."""


def restore_ledger(
    database: Database,
    ledger: Ledger,
    *,
    session_id: str | None = None,
    account: str | None = None,
) -> RestoredLedger:
    """Replay the recorded fills of ``session_id`` (or of ``account``) into ``ledger``.

    ``ledger`` must be fresh (built with the session's starting cash, no fills yet). The
    stored positions are compared with the replayed ones and rewritten where they differ (a
    crash between a fill and its position update) when replaying a whole ``account``.
    """
    if (session_id is None) == (account is None):
        raise PersistenceError("restore_ledger needs exactly one of session_id or account")
    if ledger.fill_count:
        raise PersistenceError(
            f"restore_ledger needs a fresh ledger; this one has {ledger.fill_count} fills"
        )
    owner = account or database.sessions.require(str(session_id)).account
    records = database.orders.fills(session_id=session_id, account=account)
    for record in records:
        ledger.apply_fill(record.to_fill())
    positions = ledger.positions()
    corrected = []
    # positions belong to the account: only a replay of the whole account may correct them
    for instrument, position in positions.items() if account is not None else ():
        stored = database.positions.get(owner, instrument)
        if stored is None or not _same(stored.to_position(), position):
            database.positions.save(owner, position, position.ts or None)
            corrected.append(instrument)
    if corrected:
        log.warning("stored positions of %s corrected from fills: %s", owner, corrected)
    return RestoredLedger(fills=len(records), positions=positions, corrected=tuple(corrected))


def _same(a: Position, b: Position) -> bool:
    scale = max(1.0, abs(a.quantity), abs(b.quantity))
    return abs(a.quantity - b.quantity) <= 1e-9 * scale and abs(
        a.average_price - b.average_price
    ) <= 1e-9 * max(1.0, abs(b.average_price))
