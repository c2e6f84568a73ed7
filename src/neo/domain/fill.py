"""Fills: what actually traded, at what price and fee."""

from __future__ import annotations

import msgspec

from neo.domain.enums import LiquiditySide, Side
from neo.domain.ids import InstrumentId, OrderId, TradeId


class Fill(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One execution of (part of) an order. ``fee`` is in the quote currency, always >= 0."""

    order_id: OrderId
    trade_id: TradeId
    instrument: InstrumentId
    side: Side
    quantity: float
    price: float
    fee: float
    ts: int
    liquidity: LiquiditySide = LiquiditySide.TAKER

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity

    @property
    def notional(self) -> float:
        return self.quantity * self.price
