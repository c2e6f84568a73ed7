"""Hybrid AI: the model's forecast, admitted only when rule filters agree.

The forecast (``ctx.prediction``: walk-forward predictions in a backtest, the latest model on
incremental features live) gives the direction; a trend filter (price versus its moving
average) and a volatility-regime filter (current volatility versus its own recent average) veto
trades the rules distrust. The result is a target position, and the forecast is also handed to
the portfolio constructor when one is configured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import StrategyError
from neo.strategies.base import MAX_WINDOW, Param, Strategy
from neo.strategies.context import StrategyContext
from neo.strategies.indicators import sma

_VOL_BARS = 20
"""Returns in the volatility the regime filter compares with its own average."""


def _regime_average(volatility: FloatArray, window: int) -> FloatArray:
    """Causal moving average of volatility that skips its NaN warm-up."""
    return sma(np.nan_to_num(volatility, nan=0.0), window) + np.where(
        np.isnan(volatility), np.nan, 0.0
    )


class Hybrid(Strategy):
    name = "hybrid"
    version = "1"
    description = "Model forecast filtered by trend and volatility regime into target positions."
    needs_predictions = True
    params: ClassVar[Mapping[str, Param]] = {
        "threshold": Param(float, 0.0, "act only when |forecast| exceeds this", minimum=0.0),
        "trend": Param(
            int, 50, "trend filter: moving-average period (0 = off)", minimum=0, maximum=MAX_WINDOW
        ),
        "vol_window": Param(
            int, 100, "volatility regime: bars in its average", minimum=2, maximum=MAX_WINDOW
        ),
        "vol_ratio": Param(float, 2.0, "stay flat when volatility > ratio × its average"),
        "size": Param(float, 1.0, "units held when a signal passes", minimum=0.0),
        "allow_short": Param(bool, True, "take short positions on negative forecasts"),
    }
    threshold: float
    trend: int
    vol_window: int
    vol_ratio: float
    size: float
    allow_short: bool

    def validate(self) -> None:
        if not self.vol_ratio > 0.0:
            raise StrategyError(
                f"hybrid: vol_ratio must be > 0 (volatility over its average), got {self.vol_ratio}"
            )

    def on_start(self, ctx: StrategyContext) -> None:
        self._trend = ctx.indicator(sma, ctx.close, self.trend) if self.trend else None
        # its last value reads the last vol_window volatilities, each of the 21 closes before it
        lookback = _VOL_BARS + 1 + self.vol_window
        self._regime = ctx.indicator(self._volatility_average, ctx.close, lookback=lookback)

    def _volatility_average(self, close: FloatArray) -> FloatArray:
        from neo.strategies.indicators import rolling_volatility

        volatility = rolling_volatility(close, _VOL_BARS)
        ratio: FloatArray = volatility / _regime_average(volatility, self.vol_window)
        return ratio

    def signal(self, forecast: float, price: float, trend: float, regime: float) -> float:
        """Target position for one bar from the forecast and the filter values."""
        if not math.isfinite(forecast) or abs(forecast) <= self.threshold:
            return 0.0
        direction = 1.0 if forecast > 0 else -1.0
        if direction < 0 and not self.allow_short:
            return 0.0
        if self.trend and not (math.isfinite(trend) and (price - trend) * direction > 0):
            return 0.0
        if math.isfinite(regime) and regime > self.vol_ratio:
            return 0.0
        return direction * self.size

    def on_bar(self, ctx: StrategyContext) -> None:
        i = ctx.i
        forecast = ctx.prediction
        trend = self._trend[i] if self._trend is not None else math.nan
        target = self.signal(forecast, ctx.close[i], trend, self._regime[i])
        if math.isfinite(forecast):
            ctx.set_forecast(forecast)
        if target != ctx.position:
            ctx.target_position(target)

    def vector_targets(
        self, bars: BarBatch, predictions: FloatArray | None = None
    ) -> FloatArray | None:
        """:meth:`signal` for every bar at once (the same comparisons, element by element)."""
        close = np.asarray(bars.close, dtype=np.float64)
        forecast = np.full(len(close), np.nan) if predictions is None else predictions
        with np.errstate(invalid="ignore"):
            passes = np.isfinite(forecast) & (np.abs(forecast) > self.threshold)
            direction = np.where(passes, np.where(forecast > 0, 1.0, -1.0), 0.0)
            if not self.allow_short:
                direction[direction < 0] = 0.0
            if self.trend:
                trend = sma(close, self.trend)
                agrees = np.isfinite(trend) & ((close - trend) * direction > 0)
                direction[~agrees] = 0.0
            regime = self._volatility_average(close)
            direction[np.isfinite(regime) & (regime > self.vol_ratio)] = 0.0
        targets: FloatArray = direction * self.size
        return targets
