"""Each indicator exists once (neo.features.steps): the strategies' indicators, the feature
kernels and the stop manager's ATR give the same bits, with their conventions as parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neo.features import FeaturePipeline, FeatureSpec
from neo.features.steps import TA_EPSILON
from neo.risk.stop_manager import _Atr
from neo.strategies.indicators import ema, incremental, rolling_volatility, rsi
from tests.unit.features.synthetic import random_walk

BARS = random_walk(600, seed=11)
H, L, C = (np.asarray(x, dtype=np.float64) for x in (BARS.high, BARS.low, BARS.close))


def _feature(kind: str, **params: float) -> np.ndarray:
    spec = FeatureSpec.of("x", kind, **params)
    return np.asarray(FeaturePipeline([spec]).compute(BARS).values[:, 0])


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("window", [2, 14, 30])
def test_rsi_with_ta_lib_conventions_is_the_feature_bit_for_bit(
    compiled: bool, window: int
) -> None:
    ours = rsi(C, window, 0.0, TA_EPSILON, compiled=compiled)
    np.testing.assert_array_equal(ours, _feature("rsi", window=window))


@pytest.mark.parametrize("window", [5, 20])
def test_rolling_volatility_is_the_feature_bit_for_bit(window: int) -> None:
    np.testing.assert_array_equal(
        rolling_volatility(C, window), _feature("volatility", window=window)
    )


@pytest.mark.parametrize("window", [3, 14])
def test_the_stop_managers_atr_is_the_feature_bit_for_bit(window: int) -> None:
    atr = _Atr(window)
    values = []
    for high, low, close in zip(H.tolist(), L.tolist(), C.tolist(), strict=True):
        atr.update(high, low, close)
        values.append(atr.value)
    np.testing.assert_array_equal(np.array(values), _feature("atr", window=window))


def test_rsi_on_a_flat_market_follows_its_flat_parameter() -> None:
    flat = np.full(40, 5.0)
    assert rsi(flat, 14)[-1] == 100.0  # the strategies' default: a flat market is not oversold
    assert rsi(flat, 14, 0.0, TA_EPSILON)[-1] == 0.0  # TA-Lib's (and the features')
    step = incremental(rsi, (14, 0.0, TA_EPSILON))
    assert step is not None
    assert [step.update(flat, i) for i in range(40)][-1] == 0.0


@pytest.mark.parametrize("compiled", [False, True])
def test_ema_seed_is_a_parameter(compiled: bool) -> None:
    first = ema(C, 10, True, compiled=compiled)
    expected = pd.Series(C).ewm(span=10, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(first, expected, rtol=1e-12)
    assert first[0] == C[0]
    sma_seeded = ema(C, 10, compiled=compiled)
    assert np.isnan(sma_seeded[:9]).all() and sma_seeded[9] == pytest.approx(C[:10].mean())
    step = incremental(ema, (10, True))
    assert step is not None
    np.testing.assert_array_equal([step.update(C, i) for i in range(len(C))], first)
    np.testing.assert_array_equal(ema(C, 10, True, compiled=not compiled), first)
