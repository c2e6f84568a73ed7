"""The sim's market: a seeded, deterministic price path per symbol, grown one bar at a time.

Each symbol follows its own geometric random walk (its own ``numpy`` generator, seeded from the
sim's seed and the symbol's position), so the same seed gives the same bars whatever is asked
of the sim and in whatever order. ``history`` bars are closed before the sim starts, so a client
can page through klines at once; ``advance`` closes the forming bar and opens the next one.
Prices are rounded to the symbol's tick so every number the sim serves is one a venue could
quote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

DEFAULT_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: in the past, so no client caps it


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One spot market: unified symbol, assets, starting price and precision."""

    base: str
    quote: str
    start_price: float
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    volatility: float = 0.002  # standard deviation of one bar's log return

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTC", "USDT", 42_000.0, Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"),
               Decimal("5")),
    SymbolSpec("ETH", "USDT", 2_300.0, Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"),
               Decimal("5")),
)  # fmt: skip
FEE_COIN = SymbolSpec("BNB", "USDT", 300.0, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"),
                      Decimal("5"))  # fmt: skip
"""The market of the coin Binance takes fees in when the account holds it (``fee_asset="BNB"``,
which adds this market to the sim's)."""


@dataclass(frozen=True, slots=True)
class SimBar:
    """A bar of the path; prices as exact decimals rounded to the tick."""

    index: int
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


def round_to(value: float | Decimal, unit: Decimal) -> Decimal:
    """``value`` rounded to a multiple of ``unit`` (half-even), as an exact decimal."""
    units = (Decimal(str(value)) / unit).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return (units * unit).quantize(unit)


class PricePath:
    """The bars of one symbol: ``bars[i]`` opens at ``start_ms + i * bar_ms``."""

    def __init__(self, spec: SymbolSpec, seed: int, stream: int, start_ms: int, bar_ms: int):
        self.spec = spec
        self.start_ms = start_ms
        self.bar_ms = bar_ms
        self._rng = np.random.default_rng([seed, stream])
        self.bars: list[SimBar] = []
        self._last_close = spec.start_price

    def grow(self) -> SimBar:
        """Append (and return) the next bar of the walk."""
        sigma = self.spec.volatility
        z_close, z_high, z_low = self._rng.standard_normal(3)
        open_ = self._last_close
        close = open_ * math.exp(sigma * float(z_close))
        high = max(open_, close) * math.exp(abs(float(z_high)) * sigma * 0.5)
        low = min(open_, close) * math.exp(-abs(float(z_low)) * sigma * 0.5)
        volume = float(self._rng.gamma(2.0, 5.0)) * 10_000.0 / self.spec.start_price
        trades = int(self._rng.integers(20, 200))
        self._last_close = close
        tick = self.spec.tick
        index = len(self.bars)
        bar = SimBar(
            index=index,
            open_ms=self.start_ms + index * self.bar_ms,
            open=round_to(open_, tick),
            high=round_to(high, tick),
            low=round_to(low, tick),
            close=round_to(close, tick),
            volume=round_to(volume, self.spec.step),
            trades=trades,
        )
        self.bars.append(bar)
        return bar
