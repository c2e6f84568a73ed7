"""Moving-average crossovers, trading like backtesting.py's canonical ``SmaCross``.

On a bar where the fast average crosses above the slow one (strictly below on the previous bar,
strictly above now) the strategy closes any short and goes long; on the opposite cross it goes
short. ``size=None`` spends all available equity in whole units (backtesting.py's ``buy()``);
a number trades that many units, reversing in one order.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import StrategyError
from neo.strategies.base import MAX_WINDOW, Param, Strategy
from neo.strategies.context import Indicator, StrategyContext
from neo.strategies.indicators import ema, sma

_EMPTY: array[float] = array("d")


class _Crossover(Strategy):
    average: ClassVar[Indicator]
    params: ClassVar[Mapping[str, Param]] = {
        "fast": Param(int, 10, "fast average period (bars)", minimum=1, maximum=MAX_WINDOW),
        "slow": Param(int, 20, "slow average period (bars)", minimum=2, maximum=MAX_WINDOW),
        "size": Param(float, None, "units per trade; none = all available equity", True, 0.0),
    }
    fast: int
    slow: int
    size: float | None

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise StrategyError(
                f"{self.name}: fast ({self.fast}) must be shorter than slow ({self.slow})"
            )

    def on_start(self, ctx: StrategyContext) -> None:
        cls = type(self)
        label = cls.average.__name__.upper()
        self._fast = ctx.plot(
            f"{label} {self.fast}", ctx.indicator(cls.average, ctx.close, self.fast)
        )
        self._slow = ctx.plot(
            f"{label} {self.slow}", ctx.indicator(cls.average, ctx.close, self.slow)
        )

    def on_bar(self, ctx: StrategyContext) -> None:
        i = ctx.i
        if i < 1:
            return
        fast = self._fast
        slow = self._slow
        before = fast[i - 1] - slow[i - 1]
        now = fast[i] - slow[i]
        if before < 0.0 < now:
            self._enter(ctx, 1.0)
        elif before > 0.0 > now:
            self._enter(ctx, -1.0)

    def _enter(self, ctx: StrategyContext, sign: float) -> None:
        size = self.size
        if size is None:
            ctx.close_position()
            if sign > 0:
                ctx.buy()
            else:
                ctx.sell()
        else:
            ctx.target_position(sign * size)

    def vector_targets(
        self, bars: BarBatch, predictions: FloatArray | None = None
    ) -> FloatArray | None:
        close = np.asarray(bars.close, dtype=np.float64)
        cls = type(self)
        spread = cls.average(close, self.fast) - cls.average(close, self.slow)
        before = np.concatenate(([np.nan], spread[:-1]))
        targets = np.full(len(close), np.nan)
        size = 1.0 if self.size is None else self.size  # all equity: the sign is the side
        with np.errstate(invalid="ignore"):
            targets[(before < 0.0) & (spread > 0.0)] = size
            targets[(before > 0.0) & (spread < 0.0)] = -size
        return targets

    @property
    def vector_all_equity(self) -> bool:
        return self.size is None


class SmaCross(_Crossover):
    name = "sma_cross"
    version = "1"
    description = "Simple moving-average crossover: long above, short below (reversal on cross)."
    average = staticmethod(sma)


class EmaCross(_Crossover):
    name = "ema_cross"
    version = "1"
    description = "Exponential moving-average crossover: long above, short below."
    average = staticmethod(ema)
