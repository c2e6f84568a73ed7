from __future__ import annotations

import math

import pytest

from neo.strategies import create_strategy
from neo.strategies.hybrid import Hybrid


@pytest.mark.parametrize(
    ("params", "forecast", "price", "trend", "regime", "expected"),
    [
        ({}, 0.5, 101.0, 100.0, 1.0, 1.0),  # up forecast, price above trend, calm: long
        ({}, -0.5, 99.0, 100.0, 1.0, -1.0),  # down forecast below trend: short
        ({}, 0.5, 99.0, 100.0, 1.0, 0.0),  # trend disagrees: flat
        ({}, 0.5, 101.0, math.nan, 1.0, 0.0),  # trend unknown yet: flat
        ({}, 0.5, 101.0, 100.0, 2.5, 0.0),  # volatility regime too wild: flat
        ({}, 0.5, 101.0, 100.0, math.nan, 1.0),  # regime unknown: no veto
        ({}, math.nan, 101.0, 100.0, 1.0, 0.0),  # no forecast: flat
        ({"threshold": 0.6}, 0.5, 101.0, 100.0, 1.0, 0.0),  # weak forecast: flat
        ({"allow_short": False}, -0.5, 99.0, 100.0, 1.0, 0.0),
        ({"trend": 0, "size": 3.0}, 0.5, 99.0, math.nan, 1.0, 1.0),  # trend filter off
    ],
)
def test_forecast_and_filters_make_the_signal(
    params: dict[str, object],
    forecast: float,
    price: float,
    trend: float,
    regime: float,
    expected: float,
) -> None:
    strategy = create_strategy("hybrid", params)
    assert isinstance(strategy, Hybrid)
    now = {"prediction": forecast, "close": price, "trend": trend, "regime": regime}
    assert strategy.evaluate(now) == expected
