"""Tradable instruments and the rounding rules of the exchange they trade on."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from functools import cache

import msgspec

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId


@cache
def _decimals(step: float) -> int:
    """Number of decimal places a step such as 0.001 needs (0 for whole steps); cached because
    rounding runs on every order."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """What NEO must know to trade a symbol on a venue.

    Prices and quantities meet the exchange rounded to ``tick_size`` and ``lot_size``; fees are
    fractions of notional (0.001 = 10 bps). Research code uses float64; :meth:`format_price` and
    :meth:`format_quantity` give the exact decimal strings an exchange receives.
    """

    id: InstrumentId
    base: str = ""
    quote: str = ""
    tick_size: float = 0.01
    lot_size: float = 1e-8
    min_quantity: float = 0.0
    min_notional: float = 0.0
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    contract_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ConfigError(f"{self.id}: tick_size and lot_size must be > 0")
        if not (0.0 <= self.maker_fee < 0.1 or -0.01 < self.maker_fee < 0) or not (
            0.0 <= self.taker_fee < 0.1
        ):
            raise ConfigError(
                f"{self.id}: fees are fractions of notional (0.001 = 10 bps); got "
                f"maker={self.maker_fee} taker={self.taker_fee}"
            )

    @classmethod
    def simple(cls, symbol: str, venue: str = "sim", **kwargs: float) -> Instrument:
        """An instrument with base/quote taken from a ccxt unified symbol."""
        iid = InstrumentId(venue, symbol)
        return cls(id=iid, base=iid.base, quote=iid.quote, **kwargs)

    @property
    def symbol(self) -> str:
        return self.id.symbol

    @property
    def venue(self) -> str:
        return self.id.venue

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick_size)

    @property
    def quantity_decimals(self) -> int:
        return _decimals(self.lot_size)

    def round_price(self, price: float) -> float:
        """Nearest valid price (ties to even, like the exchanges)."""
        return round(round(price / self.tick_size) * self.tick_size, self.price_decimals)

    def round_quantity(self, quantity: float) -> float:
        """Largest valid quantity not above ``quantity`` in size: sizing never overshoots."""
        # The relative nudge absorbs float noise such as 0.3 / 0.1 = 2.9999999999999996.
        steps = math.floor(abs(quantity) / self.lot_size * (1.0 + 1e-12))
        return math.copysign(round(steps * self.lot_size, self.quantity_decimals), quantity)

    def format_price(self, price: float) -> str:
        step = Decimal(repr(self.tick_size))
        return str((Decimal(repr(price)) / step).quantize(Decimal(1), ROUND_HALF_EVEN) * step)

    def format_quantity(self, quantity: float) -> str:
        step = Decimal(repr(self.lot_size))
        return str((Decimal(repr(quantity)) / step).quantize(Decimal(1), ROUND_DOWN) * step)

    def is_valid_price(self, price: float) -> bool:
        return price > 0 and math.isclose(self.round_price(price), price, rel_tol=0, abs_tol=1e-12)

    def is_valid_quantity(self, quantity: float) -> bool:
        return quantity > 0 and math.isclose(
            self.round_quantity(quantity), quantity, rel_tol=0, abs_tol=1e-12
        )
