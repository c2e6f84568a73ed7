"""What the exchange broker needs of the order journal, and an in-memory one.

The durable journal is ``neo.persistence.OrderJournal`` (SQLAlchemy; SQLite or PostgreSQL); the
broker speaks only :class:`Journal`, so unit tests and ``--dry-run`` use :class:`MemoryJournal`.
The broker writes the intent (which allocates the client order id) *before* each create call
and the outcome *after* it, so a crash between the two leaves an intent/sent row that a restart
resolves by client order id.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

from neo.domain.fill import Fill
from neo.domain.order import Order


class Journal(Protocol):
    def record_intent(self, order: Order, session: str) -> str:
        """Store the order as ``intent`` and return its new client order id (unique across
        restarts: the sequence is persisted before the id is returned)."""
        ...

    def record_sent(self, client_order_id: str) -> None: ...

    def record_outcome(
        self,
        client_order_id: str,
        outcome: str,
        *,
        exchange_order_id: str | None = None,
        reason: str = "",
        strikes: int = 0,
    ) -> None: ...

    def record_status(self, client_order_id: str, order: Order) -> None: ...

    def record_fill(self, fill: Fill, *, client_order_id: str, venue: str, source: str) -> bool:
        """Store a fill; False when its ``(venue, trade id)`` is already stored (duplicate)."""
        ...


@dataclass
class MemoryJournal:
    """A journal in memory: every call in order in ``entries`` (tests read the sequence)."""

    tag: str = "mem"
    entries: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: dict[tuple[str, str], Fill] = field(default_factory=dict)
    _seq: Any = field(default_factory=lambda: itertools.count(1))

    def record_intent(self, order: Order, session: str) -> str:
        cid = f"neo{self.tag}-{next(self._seq)}"
        self.orders[cid] = {"order": order, "session": session, "outcome": "intent"}
        self.entries.append(("intent", cid, {"order_id": order.id}))
        return cid

    def record_sent(self, client_order_id: str) -> None:
        self.orders[client_order_id]["outcome"] = "sent"
        self.entries.append(("sent", client_order_id, {}))

    def record_outcome(
        self,
        client_order_id: str,
        outcome: str,
        *,
        exchange_order_id: str | None = None,
        reason: str = "",
        strikes: int = 0,
    ) -> None:
        row = self.orders[client_order_id]
        row.update(
            outcome=outcome, exchange_order_id=exchange_order_id, reason=reason, strikes=strikes
        )
        self.entries.append(("outcome", client_order_id, {"outcome": outcome, "reason": reason}))

    def record_status(self, client_order_id: str, order: Order) -> None:
        self.orders[client_order_id]["order"] = order
        self.entries.append(("status", client_order_id, {"status": str(order.status)}))

    def record_fill(self, fill: Fill, *, client_order_id: str, venue: str, source: str) -> bool:
        key = (venue, str(fill.trade_id))
        if key in self.fills:
            return False
        self.fills[key] = fill
        self.entries.append(
            ("fill", client_order_id, {"trade_id": fill.trade_id, "source": source})
        )
        return True
