"""RSI mean reversion: buy when oversold, sell when overbought, flatten near the middle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import StrategyError
from neo.strategies.base import MAX_WINDOW, Param, Strategy
from neo.strategies.context import StrategyContext
from neo.strategies.indicators import rsi


class RsiReversion(Strategy):
    name = "rsi_reversion"
    version = "1"
    description = "Long when RSI < lower, short when RSI > upper, flat when it crosses 50."
    params: ClassVar[Mapping[str, Param]] = {
        "period": Param(int, 14, "RSI period (bars)", minimum=2, maximum=MAX_WINDOW),
        "lower": Param(float, 30.0, "oversold level: go long below it", minimum=0.0),
        "upper": Param(float, 70.0, "overbought level: go short above it", minimum=0.0),
        "size": Param(float, 1.0, "units per position", minimum=0.0),
        "allow_short": Param(bool, True, "short when overbought (else only flatten)"),
    }
    period: int
    lower: float
    upper: float
    size: float
    allow_short: bool

    def validate(self) -> None:
        if not 0.0 < self.lower < 50.0 < self.upper < 100.0:
            raise StrategyError(
                f"rsi_reversion: need 0 < lower < 50 < upper < 100, got lower={self.lower} "
                f"upper={self.upper}"
            )

    def on_start(self, ctx: StrategyContext) -> None:
        self._rsi = ctx.indicator(rsi, ctx.close, self.period)

    def on_bar(self, ctx: StrategyContext) -> None:
        i = ctx.i
        if i < 1:
            return
        value = self._rsi[i]
        previous = self._rsi[i - 1]
        if value < self.lower:
            ctx.target_position(self.size)
        elif value > self.upper:
            ctx.target_position(-self.size if self.allow_short else 0.0)
        elif (previous - 50.0) * (value - 50.0) < 0.0:
            ctx.target_position(0.0)

    def vector_targets(
        self, bars: BarBatch, predictions: FloatArray | None = None
    ) -> FloatArray | None:
        close = np.asarray(bars.close, dtype=np.float64)
        values = rsi(close, self.period)
        previous = np.concatenate(([np.nan], values[:-1]))
        targets = np.full(len(close), np.nan)
        with np.errstate(invalid="ignore"):
            middle = (previous - 50.0) * (values - 50.0) < 0.0
            targets[middle] = 0.0
            targets[values > self.upper] = -self.size if self.allow_short else 0.0
            targets[values < self.lower] = self.size
        targets[0] = np.nan
        return targets
