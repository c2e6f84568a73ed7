"""last_volatility (neo.engine.loop): the paper/live bar's volatility on scalars equals the array
function the backtest uses, bit for bit, on random paths, gaps of NaN, zero and negative
prices, and short histories."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest

from neo.engine.loop import last_volatility
from neo.strategies.indicators import rolling_volatility


def _reference(history: list[float], close: float, window: int) -> float:
    recent = np.append(np.asarray(history[-window:], dtype=np.float64), close)
    return float(rolling_volatility(recent, window)[-1]) if len(recent) > window else math.nan


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("window", [2, 3, 20, 50])
def test_equals_the_array_function_bit_for_bit(window: int) -> None:
    rng = np.random.default_rng(11)
    for case in range(300):
        length = int(rng.integers(0, 3 * window + 3))
        path = (100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, length + 1)))).tolist()
        if case % 7 == 0 and length > 2:
            path[int(rng.integers(0, length))] = math.nan
        if case % 11 == 0 and length > 2:
            path[int(rng.integers(0, length))] = 0.0
        if case % 13 == 0 and length > 2:
            path[int(rng.integers(0, length))] = -1.5
        history, close = path[:-1], path[-1]
        with np.errstate(divide="ignore", invalid="ignore"):  # zero prices: numpy's division
            got = last_volatility(array("d", history), close, window)
            want = _reference(history, close, window)
        assert _same(got, want), (window, case, got, want)


def test_nan_until_there_are_window_returns() -> None:
    assert math.isnan(last_volatility(array("d", [1.0, 2.0]), 3.0, 3))
    assert not math.isnan(last_volatility(array("d", [1.0, 2.0, 4.0]), 3.0, 3))
