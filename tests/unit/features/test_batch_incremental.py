"""Batch and incremental features agree on every bar, and warm-up is exactly as declared."""

from __future__ import annotations

import numpy as np
import pytest

from neo.domain import BarBatch
from neo.features import KINDS, FeaturePipeline, FeatureSpec, default_pipeline
from tests.unit.features.synthetic import random_walk

f = FeatureSpec.of

ALL_SPECS = [
    f("ret_1", "return", k=1),
    f("ret_7", "return", k=7),
    f("logret_3", "log_return", k=3),
    f("vol_10", "volatility", window=10),
    f("rsi_14", "rsi", window=14),
    f("rsi_5", "rsi", window=5),
    f("macd", "macd", output="macd"),
    f("macd_signal", "macd", fast=5, slow=13, signal=4, output="signal"),
    f("macd_hist_n", "macd", output="hist", normalize=True),
    f("bb", "bb_pctb", window=20, nbdev=2.0),
    f("atr", "atr", window=14),
    f("atr_n", "atr", window=7, normalize=True),
    f("adx", "adx", window=14),
    f("stoch", "stoch", k=14, d=3),
    f("obv", "obv"),
    f("obv_10", "obv", window=10),
    f("vz", "volume_zscore", window=15),
    f("skew", "skew", window=12),
    f("tod_s", "time_of_day", component="sin"),
    f("tod_c", "time_of_day", component="cos"),
    f("dow_s", "day_of_week", component="sin"),
    f("dow_c", "day_of_week", component="cos"),
    f("mret", "market_return", k=2, market="IDX"),
    f("mcorr", "market_corr", window=10, market="IDX"),
]


def _data(n: int = 300) -> tuple[BarBatch, BarBatch]:
    main = random_walk(n, seed=11)
    market = random_walk(n, seed=12, symbol="IDX/USDT")
    keep = np.ones(n, dtype=bool)
    keep[[i for i in (50, 51, 120) if i < n]] = (
        False  # the market misses a few bars: carried forward
    )
    market = BarBatch.from_arrays(
        market.instrument, market.timeframe, ts=market.ts[keep], open=market.open[keep],
        high=market.high[keep], low=market.low[keep], close=market.close[keep],
        volume=market.volume[keep],
    )  # fmt: skip
    return main, market


def test_every_kind_is_covered() -> None:
    assert {s.kind for s in ALL_SPECS} == set(KINDS)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_batch_equals_incremental_after_warm_up(spec: FeatureSpec) -> None:
    main, market = _data()
    pipeline = FeaturePipeline([spec])
    batch = pipeline.compute(main, context={"IDX": market})
    stepper = pipeline.incremental()
    market_by_ts = {int(t): i for i, t in enumerate(market.ts)}
    rows = []
    for bar in main:
        i = market_by_ts.get(bar.ts)
        ctx = {"IDX": market.bar(i)} if i is not None else {}
        rows.append(stepper.update(bar, ctx))
    incremental = np.array(rows)[:, 0]
    values = batch.values[:, 0]
    lookback = spec.lookback
    assert np.isnan(values[:lookback]).all() and np.isnan(incremental[:lookback]).all()
    after = values[lookback:]
    assert np.isfinite(after).all(), f"{spec.name} has NaN after its declared warm-up"
    np.testing.assert_allclose(incremental[lookback:], after, rtol=0, atol=1e-9)
    assert stepper.ready


def test_whole_pipeline_batch_equals_incremental_bit_for_bit() -> None:
    main, market = _data(200)
    pipeline = FeaturePipeline(ALL_SPECS)
    frame = pipeline.compute(main, context={"IDX": market})
    stepper = pipeline.incremental()
    market_bars = {b.ts: b for b in market}
    rows = [stepper.update(b, {"IDX": market_bars[b.ts]} if b.ts in market_bars else None)
            for b in main]  # fmt: skip
    assert np.array_equal(np.array(rows), frame.values, equal_nan=True)
    assert pipeline.lookback == max(s.lookback for s in ALL_SPECS)
    assert frame.valid_rows()[pipeline.lookback :].all()


def test_warm_up_then_update_continues_like_batch() -> None:
    main, _ = _data(150)
    pipeline = default_pipeline()
    full = pipeline.compute(main).values
    stepper = pipeline.incremental()
    last = stepper.warm_up(main.slice(0, 100))
    assert np.array_equal(last, full[99], equal_nan=True)
    nxt = stepper.update(main.bar(100))
    assert np.array_equal(nxt, full[100], equal_nan=True)
    empty = pipeline.incremental().warm_up(main.slice(0, 0))
    assert np.isnan(empty).all()


def test_flat_prices_give_defined_values() -> None:
    n = 80
    flat = BarBatch.from_arrays(
        random_walk(n, 1).instrument, random_walk(n, 1).timeframe,
        ts=random_walk(n, 1).ts, open=np.full(n, 5.0), high=np.full(n, 5.0),
        low=np.full(n, 5.0), close=np.full(n, 5.0), volume=np.full(n, 7.0),
    )  # fmt: skip
    pipeline = FeaturePipeline([s for s in ALL_SPECS if s.market is None])
    frame = pipeline.compute(flat)
    by_name = dict(zip(pipeline.names, frame.values[-1], strict=True))
    assert by_name["bb"] == 0.5 and by_name["vz"] == 0.0 and by_name["skew"] == 0.0
    assert by_name["stoch"] == 0.0 and by_name["rsi_14"] == 0.0 and by_name["ret_7"] == 0.0
    assert by_name["obv_10"] == 0.0 and by_name["vol_10"] == 0.0
    market = FeaturePipeline([f("c", "market_corr", window=5, market="m")])
    assert market.compute(flat, context={"m": flat}).values[-1, 0] == 0.0


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_state_stays_inside_its_slice(spec: FeatureSpec) -> None:
    """A feature writing past its state would corrupt its neighbour: check the neighbour."""
    main, market = _data(160)
    canary = f("canary", "volume_zscore", window=9)
    alone = FeaturePipeline([canary]).compute(main).values[:, 0]
    both = FeaturePipeline([spec, canary]).compute(main, context={"IDX": market})
    assert np.array_equal(both.values[:, 1], alone, equal_nan=True)
