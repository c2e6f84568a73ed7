"""Indicators cross-checked against independent references: TA-Lib, pandas, numpy, datetime."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import talib

from neo.features import FeaturePipeline, FeatureSpec
from tests.unit.features.synthetic import random_walk

f = FeatureSpec.of
N = 400
BARS = random_walk(N, seed=3)
H, L, C, V = (np.asarray(x) for x in (BARS.high, BARS.low, BARS.close, BARS.volume))


def _ours(spec: FeatureSpec) -> np.ndarray:
    return np.asarray(FeaturePipeline([spec]).compute(BARS).values[:, 0])


def _same(ours: np.ndarray, ref: np.ndarray, tol: float = 1e-9) -> None:
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), "warm-up differs from the reference"
    np.testing.assert_allclose(ours[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=tol, atol=tol)


@pytest.mark.parametrize("window", [5, 14, 30])
def test_rsi_matches_talib(window: int) -> None:
    _same(_ours(f("x", "rsi", window=window)), talib.RSI(C, window))


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 13, 4), (3, 10, 1)])
def test_macd_matches_talib(fast: int, slow: int, signal: int) -> None:
    macd, sig, hist = talib.MACD(C, fast, slow, signal)
    for output, ref in (("macd", macd), ("signal", sig), ("hist", hist)):
        _same(_ours(f("x", "macd", fast=fast, slow=slow, signal=signal, output=output)), ref)
    normalized = f("x", "macd", fast=fast, slow=slow, signal=signal, normalize=True)
    _same(_ours(normalized), hist / C)


@pytest.mark.parametrize(("window", "nbdev"), [(20, 2.0), (10, 1.5)])
def test_bollinger_pctb_matches_talib(window: int, nbdev: float) -> None:
    upper, _, lower = talib.BBANDS(C, window, nbdev, nbdev, 0)
    _same(_ours(f("x", "bb_pctb", window=window, nbdev=nbdev)), (C - lower) / (upper - lower), 1e-7)


@pytest.mark.parametrize("window", [7, 14])
def test_atr_matches_talib(window: int) -> None:
    ref = talib.ATR(H, L, C, window)
    _same(_ours(f("x", "atr", window=window)), ref)
    _same(_ours(f("x", "atr", window=window, normalize=True)), ref / C)


@pytest.mark.parametrize("window", [5, 14, 20])
def test_adx_matches_talib(window: int) -> None:
    _same(_ours(f("x", "adx", window=window)), talib.ADX(H, L, C, window))


@pytest.mark.parametrize(("k", "d"), [(14, 3), (5, 1), (9, 4)])
def test_stochastic_matches_talib_fast_d(k: int, d: int) -> None:
    _, fast_d = talib.STOCHF(H, L, C, fastk_period=k, fastd_period=d, fastd_matype=0)
    _same(_ours(f("x", "stoch", k=k, d=d)), fast_d)


def test_obv_matches_talib_and_windowed_form() -> None:
    obv = talib.OBV(C, V)
    _same(_ours(f("x", "obv")), obv)
    w = 10
    ref = np.full(N, np.nan)
    ref[w:] = (obv[w:] - obv[:-w]) / pd.Series(V).rolling(w).sum().to_numpy()[w:]
    _same(_ours(f("x", "obv", window=w)), ref)


@pytest.mark.parametrize("k", [1, 5])
def test_returns_match_talib_rocr(k: int) -> None:
    _same(_ours(f("x", "return", k=k)), talib.ROCR(C, k) - 1.0)
    _same(_ours(f("x", "log_return", k=k)), np.log(talib.ROCR(C, k)))


def test_rolling_statistics_match_pandas() -> None:
    log_ret = pd.Series(np.log(C)).diff()
    _same(_ours(f("x", "volatility", window=20)), log_ret.rolling(20).std(ddof=1).to_numpy())
    vol = pd.Series(V)
    mean, std = vol.rolling(15).mean(), vol.rolling(15).std(ddof=0)
    _same(_ours(f("x", "volume_zscore", window=15)), ((vol - mean) / std).to_numpy())
    _same(_ours(f("x", "skew", window=12)), log_ret.rolling(12).skew().to_numpy(), 1e-7)


def test_market_features_match_pandas() -> None:
    market = random_walk(N, seed=4, symbol="IDX/USDT")
    mc = pd.Series(np.asarray(market.close))
    pipeline = FeaturePipeline(
        [f("r", "market_return", k=3, market="m"), f("c", "market_corr", window=20, market="m")]
    )
    frame = pipeline.compute(BARS, context={"m": market})
    _same(frame.values[:, 0], (mc / mc.shift(3) - 1).to_numpy())
    corr = pd.Series(np.log(C)).diff().rolling(20).corr(np.log(mc).diff())
    _same(frame.values[:, 1], corr.to_numpy(), 1e-8)


def test_calendar_encodings_match_datetime() -> None:
    pipeline = FeaturePipeline(
        [
            f("ts", "time_of_day", component="sin"),
            f("tc", "time_of_day", component="cos"),
            f("ds", "day_of_week", component="sin"),
            f("dc", "day_of_week", component="cos"),
        ]
    )
    values = pipeline.compute(BARS).values
    for i in (0, 7, 100, 399):
        moment = datetime.fromtimestamp(int(BARS.ts[i]) / 1e9, tz=UTC)
        day = (moment.hour * 3600 + moment.minute * 60 + moment.second) / 86400
        week = moment.weekday() / 7
        expected = [
            np.sin(2 * np.pi * day), np.cos(2 * np.pi * day),
            np.sin(2 * np.pi * week), np.cos(2 * np.pi * week),
        ]  # fmt: skip
        np.testing.assert_allclose(values[i], expected, atol=1e-12)
