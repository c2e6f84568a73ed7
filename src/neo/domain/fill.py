"""Fills: what actually traded, at what price and fee."""

from __future__ import annotations

import msgspec

from neo.domain.enums import LiquiditySide, Side
from neo.domain.ids import InstrumentId, OrderId, TradeId


class Fill(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One execution of (part of) an order. ``fee`` is in the quote currency, always >= 0.

    ``fee_base`` is the part of the fee the venue took in the traded (base) asset, in base
    units, already counted in ``fee`` at its quote value (``fee_base × price × multiplier``):
    Binance spot takes a buy's fee out of the coins bought, so buying 1 BTC leaves 0.999 BTC in
    the account. ``quantity`` stays what the exchange filled; :attr:`position_delta` is what the
    account's holding actually moved by, and what the ledger books.
    """

    order_id: OrderId
    trade_id: TradeId
    instrument: InstrumentId
    side: Side
    quantity: float
    price: float
    fee: float
    ts: int
    liquidity: LiquiditySide = LiquiditySide.TAKER
    fee_base: float = 0.0

    @property
    def signed_quantity(self) -> float:
        return self.side.sign * self.quantity

    @property
    def position_delta(self) -> float:
        """The change of the holding: a buy receives ``quantity − fee_base``, a sell gives
        ``quantity + fee_base``."""
        return self.side.sign * self.quantity - self.fee_base

    @property
    def notional(self) -> float:
        return self.quantity * self.price
