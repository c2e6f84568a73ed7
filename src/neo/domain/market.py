"""What the market shows, as opposed to what NEO did: a print on the venue's tape and the top of
its book. A :class:`TradeTick` is anyone's trade (not a round trip, :class:`neo.domain.Trade`,
nor one of our fills, :class:`neo.domain.Fill`)."""

from __future__ import annotations

import msgspec

from neo.domain.enums import Side
from neo.domain.ids import InstrumentId


class TradeTick(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One trade printed by the venue; ``aggressor`` is the taker's side when the venue says."""

    instrument: InstrumentId
    ts: int
    price: float
    quantity: float
    trade_id: str = ""
    aggressor: Side | None = None


class Quote(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Best bid and ask (top of book) at ``ts`` (ns UTC)."""

    instrument: InstrumentId
    ts: int
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float:
        return self.ask - self.bid
