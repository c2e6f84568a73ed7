"""Tradable instruments and the rounding rules of the exchange they trade on."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

import msgspec

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId

GRID_TOLERANCE = 1e-12
"""The one tolerance of the price and quantity grids, relative to the value's own size.

A value counts as a whole number of steps (ticks or lots) when it lies within
``GRID_TOLERANCE × max(1, |value / step|)`` steps of one. That absorbs the noise of float
arithmetic (``0.3 / 0.1`` = 2.9999999999999996, ``0.1 + 0.2``: a few units in the last place,
~1e-16 relative) and nothing more: a real off-grid value such as 100.0000001 on a 0.01 tick
(1e-9 relative off) is refused. :meth:`Instrument.round_quantity` nudges by the same amount
before flooring, so a quantity it returns is always on the grid, and one on the grid keeps its
number of lots.
The grid is meaningful while values stay below ~1e11 steps (float64 carries ~16 digits).
"""


def on_grid(value: float, step: float) -> bool:
    """Whether ``value`` is a whole number of ``step`` up to :data:`GRID_TOLERANCE`: the one
    rule the risk gate, the simulated broker and :class:`Instrument` apply."""
    if not math.isfinite(value):
        return False
    steps = value / step
    return abs(steps - round(steps)) <= GRID_TOLERANCE * max(1.0, abs(steps))


def floor_to_grid(value: float, step: float, decimals: int) -> float:
    """The largest whole number of ``step`` not above ``|value|`` (same sign as ``value``),
    as the double nearest its decimal form (``decimals`` places).

    Pure scalar code on floats, so the compiled fast path runs this very function (numba) and
    sizes exactly as the event path does.
    """
    steps = math.floor(abs(value) / step * (1.0 + GRID_TOLERANCE))
    return math.copysign(round(steps * step, decimals), value)


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
        """Largest whole number of lots not above ``quantity`` in size: sizing never overshoots
        (:func:`floor_to_grid`; the minimum quantity is not applied here)."""
        return floor_to_grid(quantity, self.lot_size, self.quantity_decimals)

    def format_price(self, price: float) -> str:
        step = Decimal(repr(self.tick_size))
        return str((Decimal(repr(price)) / step).quantize(Decimal(1), ROUND_HALF_EVEN) * step)

    def format_quantity(self, quantity: float) -> str:
        """The exact decimal string of :meth:`round_quantity` (rounded down in whole lots, with
        the grid tolerance: 0.29999999999999993 on a 0.1 lot is 0.3, not 0.2)."""
        step = Decimal(repr(self.lot_size))
        steps = Decimal(repr(self.round_quantity(quantity))) / step
        return str(steps.quantize(Decimal(1), ROUND_HALF_EVEN) * step)

    def is_valid_price(self, price: float) -> bool:
        """A positive whole number of ticks (:func:`on_grid`): what the exchange accepts as a
        limit or stop price."""
        return price > 0 and on_grid(price, self.tick_size)

    def is_valid_quantity(self, quantity: float) -> bool:
        """A positive whole number of lots (:func:`on_grid`), at least ``min_quantity``: what
        the exchange accepts as an order size (the minimum notional needs a price; the risk
        gate checks it)."""
        return quantity > 0 and quantity >= self.min_quantity and on_grid(quantity, self.lot_size)
