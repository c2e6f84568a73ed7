"""A tiny in-memory account for risk and portfolio tests (not the execution ledger)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from neo.domain.enums import OrderStatus
from neo.domain.ids import InstrumentId
from neo.domain.order import Order


class FakeAccount:
    """Cash, signed positions and last prices; equity is marked at the last prices."""

    def __init__(self, cash: float = 100_000.0, ts: int = 0) -> None:
        self.ts = ts
        self.cash = cash
        self.positions: dict[InstrumentId, float] = {}
        self.prices: dict[InstrumentId, float] = {}
        self.orders: list[Order] = []
        self.peak_equity = cash
        self.day_start_equity = cash
        self.equity_override: float | None = None

    @property
    def equity(self) -> float:
        if self.equity_override is not None:
            return self.equity_override
        value = self.cash
        for iid, qty in self.positions.items():
            if qty:
                value += qty * self.prices.get(iid, math.nan)
        return value

    @property
    def gross_exposure(self) -> float:
        return sum(abs(q) * self.prices.get(i, 0.0) for i, q in self.positions.items())

    @property
    def net_exposure(self) -> float:
        return sum(q * self.prices.get(i, 0.0) for i, q in self.positions.items())

    def position(self, instrument: InstrumentId) -> float:
        return self.positions.get(instrument, 0.0)

    def price(self, instrument: InstrumentId) -> float:
        return self.prices.get(instrument, math.nan)

    def instruments(self) -> Sequence[InstrumentId]:
        return sorted(set(self.positions) | set(self.prices))

    def open_orders(self) -> Sequence[Order]:
        return self.orders

    # ---------------------------------------------------------------- test helpers
    def mark(self, instrument: InstrumentId, price: float) -> None:
        self.prices[instrument] = price
        self.peak_equity = max(self.peak_equity, self.equity)

    def work(self, order: Order) -> Order:
        """Put ``order`` on the book as accepted."""
        working = msgspec.structs.replace(order, status=OrderStatus.ACCEPTED)
        self.orders.append(working)
        return working

    def fill(self, order: Order, price: float) -> float:
        """Fill ``order`` completely at ``price`` (reduce-only capped at the position).

        Returns the signed quantity traded and removes the order from the book.
        """
        self.orders = [o for o in self.orders if o.id != order.id]
        held = self.position(order.instrument)
        quantity = order.remaining_quantity
        if order.reduce_only:
            if order.side.sign * held >= 0:
                return 0.0
            quantity = min(quantity, abs(held))
        signed = order.side.sign * quantity
        self.positions[order.instrument] = held + signed
        self.cash -= signed * price
        return signed
