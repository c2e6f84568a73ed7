"""Positions: a signed quantity of one instrument with its average entry and realised PnL."""

from __future__ import annotations

import math

import msgspec

from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId


class Position(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A snapshot of what is held. ``quantity`` > 0 is long, < 0 short, 0 flat.

    :meth:`apply` is the one rule for how a fill changes a position (average-cost accounting),
    shared by the ledger, the risk layer and the state store so they can never disagree.
    """

    instrument: InstrumentId
    quantity: float = 0.0
    average_price: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    ts: int = 0

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0.0

    @property
    def is_long(self) -> bool:
        return self.quantity > 0.0

    @property
    def is_short(self) -> bool:
        return self.quantity < 0.0

    def market_value(self, price: float) -> float:
        return self.quantity * price

    def unrealized_pnl(self, price: float) -> float:
        return self.quantity * (price - self.average_price)

    def apply(self, fill: Fill) -> Position:
        """The position after ``fill``: increases re-average, reductions realise PnL.

        The holding moves by :attr:`Fill.position_delta` (a fee taken in the base asset is
        not held), at the fill price."""
        signed = fill.position_delta
        if signed == 0.0:  # a fee that ate the whole fill: nothing held changed
            return msgspec.structs.replace(self, fees=self.fees + fill.fee, ts=fill.ts)
        quantity = self.quantity + signed
        realized = self.realized_pnl
        average = self.average_price
        if self.quantity == 0.0 or math.copysign(1.0, self.quantity) == math.copysign(1.0, signed):
            average = (average * abs(self.quantity) + fill.price * abs(signed)) / abs(quantity)
        else:
            closed = min(abs(signed), abs(self.quantity))
            realized += closed * (fill.price - average) * math.copysign(1.0, self.quantity)
            if abs(quantity) <= 1e-12 * max(1.0, abs(self.quantity)):
                quantity, average = 0.0, 0.0
            elif math.copysign(1.0, quantity) != math.copysign(1.0, self.quantity):
                average = fill.price  # flipped: the remainder opened at the fill price
        return Position(
            instrument=self.instrument,
            quantity=quantity,
            average_price=average,
            realized_pnl=realized,
            fees=self.fees + fill.fee,
            ts=fill.ts,
        )
