from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.domain.errors import ConfigError
from neo.strategies.indicators import ema, rolling_volatility, rsi, sma


def _prices(n: int = 400, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))


@pytest.mark.parametrize("period", [1, 5, 20])
def test_sma_matches_pandas_rolling_mean(period: int) -> None:
    x = _prices()
    expected = pd.Series(x).rolling(period).mean().to_numpy()
    np.testing.assert_allclose(sma(x, period), expected, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("period", [2, 10, 30])
def test_ema_and_rsi_match_ta_lib(period: int) -> None:
    x = _prices()
    np.testing.assert_allclose(ema(x, period), talib.EMA(x, period), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(rsi(x, period), talib.RSI(x, period), rtol=1e-9, equal_nan=True)


def test_rolling_volatility_matches_pandas() -> None:
    x = _prices()
    expected = pd.Series(np.log(x)).diff().rolling(20).std().to_numpy()
    np.testing.assert_allclose(rolling_volatility(x, 20), expected, rtol=1e-9, equal_nan=True)


def test_short_inputs_are_all_nan_and_bad_periods_are_refused() -> None:
    x = _prices(5)
    for func in (sma, ema, rsi, rolling_volatility):
        assert np.isnan(func(x, 10)).all()
    with pytest.raises(ConfigError, match="whole number"):
        sma(x, 0)
    with pytest.raises(ConfigError):
        ema(x, 2.5)  # type: ignore[arg-type]


def test_rsi_is_100_when_prices_only_rise() -> None:
    assert rsi(np.arange(1.0, 40.0), 14)[-1] == 100.0


@settings(max_examples=25, deadline=None)
@given(t=st.integers(min_value=0, max_value=198), seed=st.integers(0, 1000))
def test_indicators_are_causal(t: int, seed: int) -> None:
    x = _prices(200)
    y = x.copy()
    y[t + 1 :] = _prices(200, seed)[t + 1 :]
    for func, period in ((sma, 7), (ema, 7), (rsi, 7), (rolling_volatility, 7)):
        np.testing.assert_array_equal(func(x, period)[: t + 1], func(y, period)[: t + 1])


@pytest.mark.parametrize("period", [3, 14, 20])
def test_compiled_and_pure_python_loops_are_bit_identical(period: int) -> None:
    x = _prices(3000, seed=period)
    np.testing.assert_array_equal(ema(x, period, compiled=True), ema(x, period, compiled=False))
    np.testing.assert_array_equal(rsi(x, period, compiled=True), rsi(x, period, compiled=False))
    np.testing.assert_allclose(ema(x, period, compiled=False), talib.EMA(x, period), rtol=1e-10)
