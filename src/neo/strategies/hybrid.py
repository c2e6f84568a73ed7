"""Hybrid AI: the model's forecast, admitted only when rule filters agree.

The forecast (``ctx.prediction``: walk-forward predictions in a backtest, the latest model on
incremental features live) gives the direction; a trend filter (price versus its moving
average) and a volatility-regime filter (current volatility versus its own recent average) veto
trades the rules distrust. The result is a target position, and the forecast is also handed to
the portfolio constructor when one is configured. The rule is stated once
(:class:`~neo.strategies.rule.RuleStrategy`), for the event and the fast path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from neo.domain.bar import FloatArray
from neo.domain.errors import StrategyError
from neo.strategies.base import MAX_WINDOW, param
from neo.strategies.context import StrategyContext
from neo.strategies.indicators import rolling_volatility, sma
from neo.strategies.rule import Input, Rule, RuleStrategy, Values, indicator

_VOL_BARS = 20
"""Returns in the volatility the regime filter compares with its own average."""


def _regime_average(volatility: FloatArray, window: int) -> FloatArray:
    """Causal moving average of volatility that skips its NaN warm-up."""
    return sma(np.nan_to_num(volatility, nan=0.0), window) + np.where(
        np.isnan(volatility), np.nan, 0.0
    )


class Hybrid(RuleStrategy):
    name = "hybrid"
    version = "2"
    description = "Model forecast filtered by trend and volatility regime into target positions."
    needs_predictions = True
    threshold: float = param(0.0, help="act only when |forecast| exceeds this", minimum=0.0)
    trend: int = param(
        50, help="trend filter: moving-average period (0 = off)", minimum=0, maximum=MAX_WINDOW
    )
    vol_window: int = param(
        100, help="volatility regime: bars in its average", minimum=2, maximum=MAX_WINDOW
    )
    vol_ratio: float = param(2.0, help="stay flat when volatility > ratio × its average")
    allow_short: bool = param(True, help="take short positions on negative forecasts")

    def validate(self) -> None:
        if not self.vol_ratio > 0.0:
            raise StrategyError(
                f"hybrid: vol_ratio must be > 0 (volatility over its average), got {self.vol_ratio}"
            )

    def inputs(self) -> Mapping[str, Input]:
        # its last value reads the last vol_window volatilities, each of the 21 closes before it
        lookback = _VOL_BARS + 1 + self.vol_window
        found = {"regime": indicator(self._volatility_average, lookback=lookback)}
        if self.trend:
            found["trend"] = indicator(sma, self.trend)
        return found

    def _volatility_average(self, close: FloatArray) -> FloatArray:
        volatility = rolling_volatility(close, _VOL_BARS)
        ratio: FloatArray = volatility / _regime_average(volatility, self.vol_window)
        return ratio

    def rule(self, now: Values, before: Values) -> Rule:
        """The forecast's side when it is strong enough, the trend agrees and the volatility
        regime is calm; flat otherwise (NaN forecast, filters not warmed up)."""
        forecast = now.prediction
        return (
            (now.regime > self.vol_ratio, 0.0),
            ((forecast > self.threshold) & self._trend_agrees(now, 1.0), 1.0),
            ((forecast < -self.threshold) & self.allow_short & self._trend_agrees(now, -1.0), -1.0),
            (True, 0.0),
        )

    def _trend_agrees(self, now: Values, side: float) -> Any:
        return True if not self.trend else (now.close - now.trend) * side > 0.0

    def on_bar(self, ctx: StrategyContext) -> None:
        forecast = ctx.prediction
        if math.isfinite(forecast):
            ctx.set_forecast(forecast)
        super().on_bar(ctx)
