"""Moving-average crossovers, trading like backtesting.py's canonical ``SmaCross``.

On a bar where the fast average crosses above the slow one (strictly below on the previous bar,
strictly above now) the strategy goes long, closing any short; on the opposite cross it goes
short. With the default sizing (``size=equity``) each entry spends all available equity in whole
units (backtesting.py's ``buy()``); ``size=units:N`` (or ``size=N``) reverses N units in one order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from neo.domain.errors import StrategyError
from neo.strategies.base import MAX_WINDOW, param
from neo.strategies.context import Indicator
from neo.strategies.indicators import ema, sma
from neo.strategies.rule import Input, Rule, RuleStrategy, Values, indicator


class _Crossover(RuleStrategy):
    average: ClassVar[Indicator]
    fast: int = param(10, help="fast average period (bars)", minimum=1, maximum=MAX_WINDOW)
    slow: int = param(20, help="slow average period (bars)", minimum=2, maximum=MAX_WINDOW)

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise StrategyError(
                f"{self.name}: fast ({self.fast}) must be shorter than slow ({self.slow})"
            )

    def inputs(self) -> Mapping[str, Input]:
        average = type(self).average
        label = average.__name__.upper()
        return {
            "fast": indicator(average, self.fast, plot=f"{label} {self.fast}"),
            "slow": indicator(average, self.slow, plot=f"{label} {self.slow}"),
        }

    def rule(self, now: Values, before: Values) -> Rule:
        return (
            ((before.fast < before.slow) & (now.fast > now.slow), 1.0),
            ((before.fast > before.slow) & (now.fast < now.slow), -1.0),
        )


class SmaCross(_Crossover):
    name = "sma_cross"
    version = "2"
    description = "Simple moving-average crossover: long above, short below (reversal on cross)."
    average = staticmethod(sma)


class EmaCross(_Crossover):
    name = "ema_cross"
    version = "2"
    description = "Exponential moving-average crossover: long above, short below."
    average = staticmethod(ema)
