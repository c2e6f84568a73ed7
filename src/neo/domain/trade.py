"""Round-trip trades: a position opened and closed (or reduced) on one instrument.

The ledger derives them from fills (FIFO, like backtesting.py's trade list); analytics and
reports read them. ``quantity`` is signed: > 0 a long trade, < 0 a short one.
"""

from __future__ import annotations

import msgspec

from neo.domain.ids import InstrumentId


class Trade(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    instrument: InstrumentId
    quantity: float
    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    fees: float = 0.0

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def gross_pnl(self) -> float:
        return self.quantity * (self.exit_price - self.entry_price)

    @property
    def pnl(self) -> float:
        """Profit after the fees of both legs."""
        return self.gross_pnl - self.fees

    @property
    def return_pct(self) -> float:
        """Return on the entry notional, after fees (0.01 = 1 %)."""
        notional = abs(self.quantity) * self.entry_price
        return self.pnl / notional if notional else 0.0

    @property
    def duration_ns(self) -> int:
        return self.exit_ts - self.entry_ts
