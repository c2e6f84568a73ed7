"""What the exchange broker needs of the order journal, and an in-memory one.

The durable journal is :class:`neo.persistence.OrderJournal` (SQLAlchemy; SQLite or PostgreSQL),
which satisfies :class:`Journal` as it is; unit tests and ``--dry-run`` use
:class:`MemoryJournal`. The broker writes the intent (which allocates the client order id)
*before* each create call and the outcome *after* it, so a crash between the two leaves an
intent/sent row that a restart resolves by client order id.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

from neo.domain.enums import OrderStatus
from neo.domain.errors import OverfillError
from neo.domain.fill import Fill
from neo.domain.order import Order


class Journal(Protocol):
    def record_intent(self, order: Order, session_id: str | None) -> str:
        """Store the order as ``intent`` and return its new client order id (unique across
        restarts: the sequence is persisted before the id is returned)."""
        ...

    def record_sent(self, client_order_id: str) -> Any: ...

    def record_outcome(
        self,
        client_order_id: str,
        outcome: str,
        *,
        exchange_order_id: str | None = None,
        reason: str | None = None,
    ) -> Any: ...

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
    ) -> Any: ...

    def record_not_found(self, client_order_id: str) -> int:
        """One more strike for an order the venue says it does not know; the new count."""
        ...

    def record_fill(
        self, fill: Fill, *, client_order_id: str | None = None, source: str = "sim"
    ) -> bool:
        """Store a fill; False when its ``(venue, trade id)`` is already stored (duplicate);
        OverfillError when it would take the order above its quantity."""
        ...


@dataclass
class MemoryJournal:
    """A journal in memory: every call in order in ``entries`` (tests read the sequence)."""

    tag: str = "mem"
    entries: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: dict[tuple[str, str], Fill] = field(default_factory=dict)
    _seq: Any = field(default_factory=lambda: itertools.count(1))

    def record_intent(self, order: Order, session_id: str | None) -> str:
        cid = f"neo{self.tag}-{next(self._seq)}"
        self.orders[cid] = {
            "order": order,
            "session": session_id,
            "outcome": "intent",
            "quantity": order.quantity,
            "filled": 0.0,
            "strikes": 0,
        }
        self.entries.append(("intent", cid, {"order_id": order.id}))
        return cid

    def record_sent(self, client_order_id: str) -> None:
        row = self.orders[client_order_id]
        if row["outcome"] == "intent":
            row["outcome"] = "sent"
        self.entries.append(("sent", client_order_id, {}))

    def record_outcome(
        self,
        client_order_id: str,
        outcome: str,
        *,
        exchange_order_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        row = self.orders[client_order_id]
        row.update(outcome=outcome, reason=reason or row.get("reason", ""))
        if exchange_order_id is not None:
            row["exchange_order_id"] = exchange_order_id
        if outcome in ("acknowledged", "final"):
            row["strikes"] = 0
        self.entries.append(("outcome", client_order_id, {"outcome": outcome, "reason": reason}))

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
    ) -> None:
        row = self.orders[client_order_id]
        row["status"] = status
        if status.is_terminal:
            row["outcome"] = "final"
        if filled_quantity is not None:
            row["filled"] = max(row["filled"], filled_quantity)
        self.entries.append(("status", client_order_id, {"status": str(status)}))

    def record_not_found(self, client_order_id: str) -> int:
        row = self.orders[client_order_id]
        row["strikes"] += 1
        self.entries.append(("not_found", client_order_id, {"strikes": row["strikes"]}))
        return int(row["strikes"])

    def record_fill(
        self, fill: Fill, *, client_order_id: str | None = None, source: str = "sim"
    ) -> bool:
        key = (fill.instrument.venue, str(fill.trade_id))
        if key in self.fills:
            return False
        if client_order_id is not None:
            row = self.orders[client_order_id]
            if row["filled"] + fill.quantity > row["quantity"] * (1 + 1e-9):
                raise OverfillError(
                    f"fill {fill.trade_id} would take order {client_order_id} above its quantity"
                )
            row["filled"] += fill.quantity
        self.fills[key] = fill
        self.entries.append(
            ("fill", client_order_id or "", {"trade_id": fill.trade_id, "source": source})
        )
        return True
