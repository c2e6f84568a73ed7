"""Orders and the one state machine every order obeys, in backtest, paper and live alike.

An :class:`Order` is immutable: each status change returns a new instance after checking the
transition table below, so an order can never move from ``filled`` back to ``accepted``::

    new ──▶ submitted ──▶ accepted ──▶ partially_filled ──▶ filled
     │          │            │                │
     │          ├─▶ rejected ├─▶ cancelled ◀──┤
     └─▶ rejected/cancelled  └─▶ expired ◀────┘

(A market order that fills at once still passes through ``accepted``.)
"""

from __future__ import annotations

import copy
import math
from itertools import count
from typing import Any

import msgspec

from neo.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from neo.domain.errors import InvalidOrderError, InvalidOrderTransitionError
from neo.domain.ids import InstrumentId, OrderId

S = OrderStatus
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

_order_sequence = count(1)


def next_order_id(prefix: str = "O") -> OrderId:
    """A process-unique order id; brokers may map it to their own ids."""
    return OrderId(f"{prefix}-{next(_order_sequence)}")


class Order(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An instruction to trade ``quantity`` (always > 0) on ``side``.

    ``limit_price`` is required for LIMIT and STOP_LIMIT, ``stop_price`` for STOP and STOP_LIMIT.
    ``parent_id`` links the stop-loss and take-profit legs of a bracket to their entry;
    legs sharing an ``oco_group`` cancel each other when one fills.
    ``equity_fraction`` (0 < f <= 1) asks the broker to size the order itself when it executes:
    ``f`` of the equity then available, in whole lots, fee included (backtesting.py's ``buy()``).
    The simulated broker sizes it at the fill price; an exchange adapter from its own balance.
    ``quantity`` is then the engine's estimate at the last close (what a risk gate judged), and a
    broker that sizes it to less than one lot cancels it (``INSUFFICIENT_EQUITY``).
    """

    id: OrderId
    instrument: InstrumentId
    side: Side
    quantity: float
    type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_ns: int | None = None
    reduce_only: bool = False
    status: OrderStatus = OrderStatus.NEW
    filled_quantity: float = 0.0
    average_fill_price: float = 0.0
    created_ns: int = 0
    updated_ns: int = 0
    parent_id: OrderId | None = None
    oco_group: str | None = None
    tag: str = ""
    reason: str = ""
    equity_fraction: float | None = None

    def __post_init__(self) -> None:
        if not (self.quantity > 0 and math.isfinite(self.quantity)):
            raise InvalidOrderError(f"order {self.id}: quantity must be > 0, got {self.quantity}")
        needs_limit = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit != (self.limit_price is not None):
            raise InvalidOrderError(
                f"order {self.id}: a {self.type} order "
                + ("needs a limit_price" if needs_limit else "takes no limit_price")
            )
        if needs_stop != (self.stop_price is not None):
            raise InvalidOrderError(
                f"order {self.id}: a {self.type} order "
                + ("needs a stop_price" if needs_stop else "takes no stop_price")
            )
        for name, price in (("limit_price", self.limit_price), ("stop_price", self.stop_price)):
            if price is not None and not (price > 0 and math.isfinite(price)):
                raise InvalidOrderError(f"order {self.id}: {name} must be > 0, got {price}")
        if self.time_in_force is TimeInForce.GTD and self.expire_ns is None:
            raise InvalidOrderError(f"order {self.id}: a GTD order needs expire_ns")

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity

    @property
    def remaining_quantity(self) -> float:
        return max(0.0, self.quantity - self.filled_quantity)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def transition(self, status: OrderStatus, ts_ns: int, reason: str = "") -> Order:
        """The same order in ``status``; raises InvalidOrderTransitionError if not allowed."""
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidOrderTransitionError(
                f"order {self.id}: cannot go from {self.status} to {status}"
            )
        return self._evolve(status=status, updated_ns=ts_ns, reason=reason or self.reason)

    def with_fill(self, quantity: float, price: float, ts_ns: int) -> Order:
        """Apply a fill of ``quantity`` at ``price``: partially filled or filled."""
        if quantity <= 0 or quantity > self.remaining_quantity + 1e-9 * self.quantity:
            raise InvalidOrderTransitionError(
                f"order {self.id}: fill of {quantity} exceeds remaining {self.remaining_quantity}"
            )
        filled = self.filled_quantity + quantity
        average = (self.average_fill_price * self.filled_quantity + price * quantity) / filled
        done = filled >= self.quantity - 1e-9 * self.quantity
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidOrderTransitionError(
                f"order {self.id}: cannot fill from status {self.status}"
            )
        return self._evolve(
            status=status,
            filled_quantity=self.quantity if done else filled,
            average_fill_price=average,
            updated_ns=ts_ns,
        )

    def _evolve(self, **changes: Any) -> Order:
        """A copy with lifecycle fields changed. The fields that ``__post_init__`` validates
        never change after construction, so the copy skips re-validation (a hot path: every
        fill passes here)."""
        new = copy.copy(self)
        for name, value in changes.items():
            msgspec.structs.force_setattr(new, name, value)
        return new
