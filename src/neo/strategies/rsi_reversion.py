"""RSI mean reversion: buy when oversold, sell when overbought, flatten near the middle."""

from __future__ import annotations

from collections.abc import Mapping

from neo.domain.errors import StrategyError
from neo.strategies.base import MAX_WINDOW, param
from neo.strategies.indicators import rsi
from neo.strategies.rule import Input, Rule, RuleStrategy, Values, indicator


class RsiReversion(RuleStrategy):
    name = "rsi_reversion"
    version = "2"
    description = "Long when RSI < lower, short when RSI > upper, flat when it crosses 50."
    period: int = param(14, help="RSI period (bars)", minimum=2, maximum=MAX_WINDOW)
    lower: float = param(30.0, help="oversold level: go long below it", minimum=0.0)
    upper: float = param(70.0, help="overbought level: go short above it", minimum=0.0)
    allow_short: bool = param(True, help="short when overbought (else only flatten)")

    def validate(self) -> None:
        if not 0.0 < self.lower < 50.0 < self.upper < 100.0:
            raise StrategyError(
                f"rsi_reversion: need 0 < lower < 50 < upper < 100, got lower={self.lower} "
                f"upper={self.upper}"
            )

    def inputs(self) -> Mapping[str, Input]:
        return {"rsi": indicator(rsi, self.period)}

    def rule(self, now: Values, before: Values) -> Rule:
        return (
            (now.rsi < self.lower, 1.0),
            (now.rsi > self.upper, -1.0 if self.allow_short else 0.0),
            ((before.rsi - 50.0) * (now.rsi - 50.0) < 0.0, 0.0),
        )
