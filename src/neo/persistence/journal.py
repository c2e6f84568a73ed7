"""The order journal: every order NEO sends, written down before it leaves, and every fill.

The protocol an exchange adapter follows for each order::

    cid = journal.record_intent(order, session_id)   # committed BEFORE the request is made
    journal.record_sent(cid)                          # the request is going out now
    ... the call ...
    journal.record_outcome(cid, "acknowledged", exchange_order_id=...)   # or "unknown" on a
                                                      # timeout, 5xx or 429, or "final"
    journal.record_status(cid, OrderStatus.CANCELLED) # later status changes
    journal.record_fill(fill, client_order_id=cid)    # False when the trade id was seen before

After a crash, :meth:`OrderJournal.unknown_orders` lists every order whose fate at the venue is
not known (``intent``, ``sent`` or ``unknown``): the process may have died just after the
request left, so each must be resolved by querying its client order id, never re-sent with a
new one. An order that the venue reports "not found" gets a strike
(:meth:`~OrderJournal.record_not_found`); the adapter's policy marks it ``lost`` after several.

Fills are unique per ``(venue, trade_id)`` whichever stream reports them (websocket, REST,
replay), and a fill that would take an order above its quantity is refused with
:class:`~neo.domain.errors.OverfillError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from neo.domain.enums import OrderStatus
from neo.domain.errors import (
    ConfigError,
    InvalidOrderTransitionError,
    OverfillError,
    PersistenceError,
    RecordNotFoundError,
)
from neo.domain.fill import Fill
from neo.domain.order import Order
from neo.logs import get_logger
from neo.persistence._util import choice, insert_new, json_object
from neo.persistence.models import FILL_SOURCES, ORDER_OUTCOMES, FillRow, OrderRow, SessionRow
from neo.persistence.records import FillRecord, OrderRecord, now_ns
from neo.persistence.sessions import CLIENT_ID_PATTERN, allocate_for

if TYPE_CHECKING:
    from neo.persistence.database import Database

log = get_logger("persistence.journal")

OUTCOME_TRANSITIONS: dict[str, frozenset[str]] = {
    "intent": frozenset(ORDER_OUTCOMES),
    "sent": frozenset({"sent", "unknown", "acknowledged", "final", "lost"}),
    "unknown": frozenset({"unknown", "acknowledged", "final", "lost"}),
    "acknowledged": frozenset({"acknowledged", "unknown", "final", "lost"}),
    "lost": frozenset({"lost", "acknowledged", "final"}),  # found after all: the venue wins
    "final": frozenset({"final"}),
}
OPEN_OUTCOMES = ("intent", "sent", "unknown", "acknowledged")
UNRESOLVED_OUTCOMES = ("intent", "sent", "unknown")
FILL_TOLERANCE = 1e-9
"""Relative slack for float sums: fills may add up to quantity × (1 + FILL_TOLERANCE)."""


class OrderJournal:
    """Orders by client order id and fills by trade id (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # -- writing -------------------------------------------------------------------------------
    def record_intent(
        self,
        order: Order,
        session_id: str | None,
        *,
        client_order_id: str | None = None,
        account: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> str:
        """Journal ``order`` before it is sent and return its client order id.

        The id is allocated from the session (``neo<tag>-<seq>``) unless one is given (e.g.
        from :meth:`SessionStore.allocate_client_ids`). The account defaults to the session's.
        Committed when this returns: send the order only after.
        """
        extra = json_object(payload, "order payload")
        extra["order"] = msgspec.to_builtins(order)
        if client_order_id is not None and not CLIENT_ID_PATTERN.fullmatch(client_order_id):
            raise ConfigError(
                f"client order id {client_order_id!r} must be 1 to 36 characters of A-Z a-z 0-9 _ -"
            )
        now = now_ns()
        values = {
            "session_id": session_id,
            "venue": order.instrument.venue,
            "symbol": order.instrument.symbol,
            "side": str(order.side),
            "type": str(order.type),
            "quantity": order.quantity,
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "status": str(order.status),
            "outcome": "intent",
            "exchange_order_id": None,
            "engine_order_id": str(order.id),
            "filled_quantity": order.filled_quantity,
            "average_fill_price": order.average_fill_price,
            "reason": order.reason,
            "strikes": 0,
            "created_ns": order.created_ns or now,
            "updated_ns": order.updated_ns or now,
            "payload": extra,
        }
        try:
            with self._db.transaction() as session:
                cid, owner = _intent_id(session, session_id, client_order_id, account)
                session.execute(
                    insert(OrderRow).values(client_order_id=cid, account=owner, **values)
                )
        except PersistenceError as exc:
            taken = client_order_id is not None and self.get(client_order_id) is not None
            if isinstance(exc.__cause__, IntegrityError) and taken:
                raise PersistenceError(
                    f"client order id {client_order_id} is already journaled: never reuse an id "
                    "for a new order (allocate a fresh one)"
                ) from exc
            raise
        return cid

    def record_sent(self, client_order_id: str, ts_ns: int | None = None) -> OrderRecord:
        """The request is going out (an ``intent`` becomes ``sent``; later outcomes stay)."""
        with self._db.transaction() as session:
            row = _order(session, client_order_id)
            if row.outcome == "intent":
                row.outcome = "sent"
                if row.status == OrderStatus.NEW:
                    row.status = str(OrderStatus.SUBMITTED)
                row.updated_ns = ts_ns or now_ns()
            return OrderRecord.of(row)

    def record_outcome(
        self,
        client_order_id: str,
        outcome: str,
        *,
        exchange_order_id: str | None = None,
        status: OrderStatus | None = None,
        reason: str | None = None,
        ts_ns: int | None = None,
    ) -> OrderRecord:
        """What became of the request: ``unknown``, ``acknowledged``, ``final`` or ``lost``.

        Raises InvalidOrderTransitionError for a step back (e.g. ``final`` → ``unknown``).
        """
        choice(outcome, ORDER_OUTCOMES, "order outcome")
        with self._db.transaction() as session:
            row = _order(session, client_order_id)
            _set_outcome(row, outcome)
            if outcome in ("acknowledged", "final"):
                row.strikes = 0
            if exchange_order_id is not None:
                row.exchange_order_id = exchange_order_id
            if status is not None:
                _set_status(row, status)
            if reason is not None:
                row.reason = reason
            row.updated_ns = ts_ns or now_ns()
            return OrderRecord.of(row)

    def record_status(
        self,
        client_order_id: str,
        status: OrderStatus,
        *,
        quantity: float | None = None,
        filled_quantity: float | None = None,
        average_fill_price: float | None = None,
        exchange_order_id: str | None = None,
        reason: str | None = None,
        ts_ns: int | None = None,
    ) -> OrderRecord:
        """A status the venue (or the simulated broker) reported.

        A terminal status makes the outcome ``final``; a working one ``acknowledged``. A
        terminal order cannot take another status (InvalidOrderTransitionError). ``quantity``
        records the size a broker gave an equity-sized order; ``filled_quantity`` never goes
        down, and above the quantity it raises OverfillError.
        """
        with self._db.transaction() as session:
            row = _order(session, client_order_id)
            if quantity is not None and quantity != row.quantity:
                _resize(session, row, quantity)
            _set_status(row, status)
            if filled_quantity is not None and filled_quantity > row.filled_quantity:
                _check_fill_total(row, filled_quantity, "a status report")
                row.filled_quantity = filled_quantity
                if average_fill_price is not None:
                    row.average_fill_price = average_fill_price
            if exchange_order_id is not None:
                row.exchange_order_id = exchange_order_id
            if reason is not None:
                row.reason = reason
            row.updated_ns = ts_ns or now_ns()
            return OrderRecord.of(row)

    def record_quantity(self, client_order_id: str, quantity: float) -> OrderRecord:
        """The size a broker gave an order it sized itself (``equity_fraction``); refused
        (OverfillError) below what is already filled."""
        with self._db.transaction() as session:
            row = _order(session, client_order_id)
            if quantity != row.quantity:
                _resize(session, row, quantity)
                row.updated_ns = now_ns()
            return OrderRecord.of(row)

    def record_not_found(self, client_order_id: str) -> int:
        """One more strike for an order the venue says it does not know; the new count."""
        with self._db.transaction() as session:
            row = _order(session, client_order_id)
            row.strikes += 1
            row.updated_ns = now_ns()
            return row.strikes

    def record_fill(
        self,
        fill: Fill,
        *,
        client_order_id: str | None = None,
        session_id: str | None = None,
        account: str | None = None,
        source: str = "sim",
        fee_currency: str = "",
        trade_id: str | None = None,
    ) -> bool:
        """Book a fill once: True when new, False when ``(venue, trade id)`` was seen before.

        The order is ``client_order_id`` (default: ``fill.order_id`` when that is a journaled
        client id). Its filled quantity, average price and status follow the fills; a fill that
        would take it above its quantity raises OverfillError and nothing is written. A fill of
        an order NEO never journaled is kept (without an order) when an ``account`` is given.
        """
        choice(source, FILL_SOURCES, "fill source")
        key = (fill.instrument.venue, trade_id or str(fill.trade_id))
        try:
            return self._record_fill(fill, key, client_order_id, session_id, account, source,
                                     fee_currency)  # fmt: skip
        except PersistenceError as exc:
            if isinstance(exc.__cause__, IntegrityError) and self._has_fill(key):
                _log_duplicate(key)  # another process recorded the same trade just now
                return False
            raise

    def _record_fill(
        self,
        fill: Fill,
        key: tuple[str, str],
        client_order_id: str | None,
        session_id: str | None,
        account: str | None,
        source: str,
        fee_currency: str,
    ) -> bool:
        with self._db.transaction() as session:
            row = _fill_order(session, client_order_id, fill)  # locks the order first
            if row is None and account is None:
                if session.get(FillRow, key) is not None:
                    _log_duplicate(key)
                    return False
                raise RecordNotFoundError(
                    f"fill {key[1]} names order {client_order_id or fill.order_id}, which is not "
                    "journaled: give its account to keep it as a foreign fill"
                )
            values = {
                "venue": key[0],
                "trade_id": key[1],
                "client_order_id": None if row is None else row.client_order_id,
                "session_id": session_id if row is None else row.session_id,
                "account": account if row is None else row.account,
                "symbol": fill.instrument.symbol,
                "side": str(fill.side),
                "quantity": fill.quantity,
                "price": fill.price,
                "fee": fill.fee,
                "fee_currency": fee_currency,
                "fee_base": fill.fee_base,
                "liquidity": str(fill.liquidity),
                "ts_ns": fill.ts,
                "source": source,
                "recorded_ns": now_ns(),
            }
            if row is not None:
                _check_fill_matches(row, fill, key[1])
            if not insert_new(session, FillRow, values, ("venue", "trade_id")):
                _log_duplicate(key)
                return False
            if row is not None:
                _apply_fill(session, row, fill, key[1])  # raises (rolls back) on an overfill
        return True

    def _has_fill(self, key: tuple[str, str]) -> bool:
        with self._db.reading() as session:
            return session.get(FillRow, key) is not None

    # -- reading -------------------------------------------------------------------------------
    def get(self, client_order_id: str) -> OrderRecord | None:
        with self._db.reading() as session:
            row = session.get(OrderRow, client_order_id)
            return None if row is None else OrderRecord.of(row)

    def by_exchange_id(self, venue: str, exchange_order_id: str) -> OrderRecord | None:
        query = select(OrderRow).where(
            OrderRow.venue == venue, OrderRow.exchange_order_id == exchange_order_id
        )
        with self._db.reading() as session:
            row = session.scalars(query).first()
            return None if row is None else OrderRecord.of(row)

    def orders(
        self,
        *,
        session_id: str | None = None,
        account: str | None = None,
        outcomes: tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> list[OrderRecord]:
        """Journaled orders, oldest first, optionally filtered."""
        query = select(OrderRow).order_by(OrderRow.created_ns, OrderRow.client_order_id)
        if session_id is not None:
            query = query.where(OrderRow.session_id == session_id)
        if account is not None:
            query = query.where(OrderRow.account == account)
        if outcomes is not None:
            query = query.where(OrderRow.outcome.in_(outcomes))
        if limit is not None:
            query = query.limit(limit)
        with self._db.reading() as session:
            return [OrderRecord.of(row) for row in session.scalars(query)]

    def open_orders(
        self, *, session_id: str | None = None, account: str | None = None
    ) -> list[OrderRecord]:
        """Orders that may still trade: outcome not ``final``/``lost``, status not terminal."""
        records = self.orders(session_id=session_id, account=account, outcomes=OPEN_OUTCOMES)
        return [record for record in records if not OrderStatus(record.status).is_terminal]

    def unknown_orders(
        self, *, session_id: str | None = None, account: str | None = None
    ) -> list[OrderRecord]:
        """Orders whose fate at the venue is not known (``intent``, ``sent``, ``unknown``):
        resolve each by its client order id before trading on."""
        return self.orders(session_id=session_id, account=account, outcomes=UNRESOLVED_OUTCOMES)

    def fills(
        self,
        *,
        session_id: str | None = None,
        account: str | None = None,
        client_order_id: str | None = None,
    ) -> list[FillRecord]:
        """Fills in the order they happened (``ts_ns``, then the order they were recorded)."""
        query = select(FillRow).order_by(FillRow.ts_ns, FillRow.recorded_ns, FillRow.trade_id)
        if session_id is not None:
            query = query.where(FillRow.session_id == session_id)
        if account is not None:
            query = query.where(FillRow.account == account)
        if client_order_id is not None:
            query = query.where(FillRow.client_order_id == client_order_id)
        with self._db.reading() as session:
            return [FillRecord.of(row) for row in session.scalars(query)]


def _intent_id(
    session: Session, session_id: str | None, client_order_id: str | None, account: str | None
) -> tuple[str, str]:
    """The client id and account of a new intent: allocated from the session in one
    ``UPDATE … RETURNING`` (which also proves the session exists), or the given id."""
    if client_order_id is None:
        if session_id is None:
            raise ConfigError("an order outside a session needs an explicit client order id")
        ids, owner = allocate_for(session, session_id, 1)
        return ids[0], account or owner
    if session_id is not None:
        found = session.scalar(select(SessionRow.account).where(SessionRow.id == session_id))
        if found is None:
            raise RecordNotFoundError(
                f"no session {session_id!r} in the state database: create it first"
            )
        return client_order_id, account or found
    if account is None:
        raise ConfigError("an order outside a session needs an account")
    return client_order_id, account


def _order(session: Session, client_order_id: str) -> OrderRow:
    row = session.get(OrderRow, client_order_id, with_for_update=True)
    if row is None:
        raise RecordNotFoundError(f"no order with client id {client_order_id!r} in the journal")
    return row


def _fill_order(session: Session, client_order_id: str | None, fill: Fill) -> OrderRow | None:
    if client_order_id is not None:
        return _order(session, client_order_id)
    return session.get(OrderRow, str(fill.order_id), with_for_update=True)


def _set_outcome(row: OrderRow, outcome: str) -> None:
    if outcome not in OUTCOME_TRANSITIONS[row.outcome]:
        raise InvalidOrderTransitionError(
            f"order {row.client_order_id}: its outcome cannot go from {row.outcome} to {outcome}"
        )
    row.outcome = outcome


def _set_status(row: OrderRow, status: OrderStatus) -> None:
    current = OrderStatus(row.status)
    if current.is_terminal and status != current:
        raise InvalidOrderTransitionError(
            f"order {row.client_order_id} is already {current}: it cannot become {status}"
        )
    row.status = str(status)
    if status.is_terminal:
        row.outcome = "final"
        row.strikes = 0
    elif status is not OrderStatus.NEW and status is not OrderStatus.SUBMITTED:
        if row.outcome != "final":
            row.outcome = "acknowledged"
            row.strikes = 0
    elif status is OrderStatus.SUBMITTED and row.outcome == "intent":
        row.outcome = "sent"


def _resize(session: Session, row: OrderRow, quantity: float) -> None:
    if not quantity > 0:
        raise ConfigError(f"order {row.client_order_id}: quantity must be > 0, got {quantity}")
    filled = max(row.filled_quantity, _fills_total(session, row.client_order_id))
    if filled > quantity * (1.0 + FILL_TOLERANCE):
        raise OverfillError(
            f"order {row.client_order_id}: cannot size it to {quantity}, {filled} is filled"
        )
    row.quantity = quantity


def _fills_total(session: Session, client_order_id: str) -> float:
    total = session.scalar(
        select(func.coalesce(func.sum(FillRow.quantity), 0.0)).where(
            FillRow.client_order_id == client_order_id
        )
    )
    return float(total or 0.0)


def _check_fill_total(row: OrderRow, total: float, what: str) -> None:
    if total > row.quantity * (1.0 + FILL_TOLERANCE):
        raise OverfillError(
            f"order {row.client_order_id}: {what} would make {total} filled of {row.quantity} "
            "ordered; refused (a duplicate under another trade id, or a fill of another order)"
        )


def _check_fill_matches(row: OrderRow, fill: Fill, trade_id: str) -> None:
    if (fill.instrument.venue, fill.instrument.symbol, str(fill.side)) != (
        row.venue,
        row.symbol,
        row.side,
    ):
        raise PersistenceError(
            f"fill {trade_id} ({fill.side} {fill.instrument}) does not match order "
            f"{row.client_order_id} ({row.side} {row.symbol}@{row.venue})"
        )


def _apply_fill(session: Session, row: OrderRow, fill: Fill, trade_id: str) -> None:
    """Update the order from all its fills (the new one already inserted)."""
    totals = session.execute(
        select(
            func.coalesce(func.sum(FillRow.quantity), 0.0),
            func.coalesce(func.sum(FillRow.quantity * FillRow.price), 0.0),
        ).where(FillRow.client_order_id == row.client_order_id)
    ).one()
    total = float(totals[0])
    _check_fill_total(row, total, f"fill {trade_id} of {fill.quantity}")
    if total >= row.filled_quantity * (1.0 - FILL_TOLERANCE):
        row.filled_quantity = total
        row.average_fill_price = float(totals[1]) / total
    status = OrderStatus(row.status)
    if not status.is_terminal:
        done = row.filled_quantity >= row.quantity * (1.0 - FILL_TOLERANCE)
        _set_status(row, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED)
    row.updated_ns = max(row.updated_ns, fill.ts)


def _log_duplicate(key: tuple[str, str]) -> None:
    log.debug("fill %s on %s already recorded; ignored", key[1], key[0])
