"""Typed identifiers, so an instrument is never confused with a bare string."""

from __future__ import annotations

from typing import NewType

import msgspec

from neo.domain.errors import ConfigError

OrderId = NewType("OrderId", str)
TradeId = NewType("TradeId", str)
StrategyId = NewType("StrategyId", str)


class InstrumentId(msgspec.Struct, frozen=True, order=True):
    """An instrument on a venue: the venue's ccxt id plus the ccxt unified symbol.

    ``str(InstrumentId("binance", "BTC/USDT"))`` is ``"BTC/USDT@binance"``; :meth:`parse` reads
    that form back.
    """

    venue: str
    symbol: str

    def __post_init__(self) -> None:
        if not self.venue or not self.symbol or "@" in self.symbol:
            raise ConfigError(
                f"invalid instrument venue={self.venue!r} symbol={self.symbol!r}: "
                "give a venue such as 'binance' and a ccxt unified symbol such as 'BTC/USDT'"
            )

    @classmethod
    def parse(cls, text: str, default_venue: str = "sim") -> InstrumentId:
        """Read ``SYMBOL@venue`` (or a bare symbol on ``default_venue``)."""
        symbol, _, venue = text.strip().partition("@")
        return cls(venue or default_venue, symbol)

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        parts = self.symbol.split("/")
        return parts[1].split(":")[0] if len(parts) > 1 else ""

    def __str__(self) -> str:
        return f"{self.symbol}@{self.venue}"
