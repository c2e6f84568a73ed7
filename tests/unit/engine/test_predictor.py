"""The live predictor: incremental features (with cross-asset markets and warm-up from stored
history) give exactly the numbers of the batch pipeline the model was trained on."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import numpy as np
import pytest

from neo.domain import BarBatch, ConfigError, InstrumentId, Timeframe
from neo.domain.bar import Bar, FloatArray
from neo.engine.paper import run_paper
from neo.engine.predictor import ModelPredictor
from neo.features import FeaturePipeline, LabelSpec, pipeline_from_config
from neo.features.config import FeatureConfig
from neo.models import WalkForwardConfig, walk_forward
from tests.unit.engine.bars import walk
from tests.unit.engine.test_paper import ListFeed
from tests.unit.features.synthetic import random_walk


class LastReturn:
    """Incremental features: the last simple return (NaN on the first bar)."""

    def __init__(self) -> None:
        self.previous = math.nan

    def update(self, bar: Bar, context_bars: object = None) -> FloatArray:
        row = np.array([bar.close / self.previous - 1.0, 1.0])
        self.previous = bar.close
        return row


class Linear:
    def __init__(self) -> None:
        self.rows: list[Any] = []

    def predict(self, x: Any) -> FloatArray:
        self.rows.append(np.array(x))
        return np.asarray(x, dtype=np.float64) @ np.array([10.0, 0.0])


def test_model_predictor_scores_one_row_per_bar_per_instrument() -> None:
    model = Linear()
    predictor = ModelPredictor(model, LastReturn, model_id="m1")
    a = walk(5, seed=1, symbol="AAA/USD")
    b = walk(5, seed=2, symbol="BBB/USD")
    values = [predictor.predict(bar) for pair in zip(a, b, strict=True) for bar in pair]
    assert math.isnan(values[0]) and math.isnan(values[1])  # warm-up per instrument
    assert values[2] == 10.0 * (a.close[1] / a.close[0] - 1.0)
    assert values[3] == 10.0 * (b.close[1] / b.close[0] - 1.0)
    assert all(row.shape == (1, 2) for row in model.rows)
    assert predictor.model_id == "m1"


def test_hybrid_paper_trades_on_model_forecasts() -> None:
    batch = walk(300, seed=12)
    result = asyncio.run(
        run_paper(
            "hybrid",
            ListFeed(batch),
            params={"trend": 10, "vol_window": 20},
            predictor=ModelPredictor(Linear(), LastReturn),
            status=False,
        )
    )
    assert result.stats.fills > 0


class Probability:
    """A classifier stand-in: scores P(up) = 0.8 for every row."""

    def predict(self, x: Any) -> FloatArray:
        return np.full(len(np.atleast_2d(x)), 0.8)


def test_classifier_probabilities_become_signed_forecasts() -> None:
    bars = walk(3, seed=3)
    as_classifier = ModelPredictor(Probability(), LastReturn, task="classification")
    as_regressor = ModelPredictor(Probability(), LastReturn)
    first, second = bars.bar(0), bars.bar(1)
    assert math.isnan(as_classifier.predict(first)) and math.isnan(as_regressor.predict(first))
    assert as_classifier.predict(second) == 2 * 0.8 - 1  # P(up) 0.8 → +0.6: a long view
    assert as_regressor.predict(second) == 0.8  # a regressor's forecast is already signed


# ---------------------------------------------------------------- cross-asset, warm-up
MARKET = InstrumentId("sim", "MMM/USDT")
ASSET = InstrumentId("sim", "AAA/USDT")
N = 400


def _market_pipeline() -> FeaturePipeline:
    return pipeline_from_config(FeatureConfig(market="MMM/USDT"))


def _data(drop: tuple[int, ...] = ()) -> tuple[BarBatch, BarBatch]:
    asset = random_walk(N, 11, "AAA/USDT")
    market = random_walk(N, 12, "MMM/USDT")
    if drop:  # the market lacks some bars the asset has: both paths carry its last close
        keep = np.setdiff1d(np.arange(N), drop)
        market = BarBatch.from_arrays(
            MARKET,
            market.timeframe,
            **{c: np.asarray(getattr(market, c))[keep] for c in ("ts", "open", "high", "low")},
            close=np.asarray(market.close)[keep],
            volume=np.asarray(market.volume)[keep],
        )
    return asset, market


def _trained(asset: BarBatch, market: BarBatch) -> Any:
    result = walk_forward(
        _market_pipeline(),
        {ASSET: asset, MARKET: market},
        LabelSpec(kind="sign", horizon=1),
        "logistic",
        WalkForwardConfig(train_window=200, retrain_every=100, min_train_samples=100),
        context={"MMM/USDT": market},
    )
    assert result.final_model is not None
    return result.final_model


class Recording:
    """Wraps a model, keeping every row it is asked to score."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.rows: list[FloatArray] = []

    def predict(self, x: Any) -> FloatArray:
        self.rows.append(np.array(x)[0])
        return np.asarray(self.model.predict(x), dtype=np.float64)


def _predictor(model: Any, **kwargs: Any) -> ModelPredictor:
    pipeline = _market_pipeline()
    return ModelPredictor(
        model,
        pipeline.incremental,
        task="classification",
        markets={"MMM/USDT": MARKET},
        lookback=pipeline.lookback,
        timeframe=Timeframe.parse("1h"),
        **kwargs,
    )


def _merged(*batches: BarBatch, start: int = 0) -> list[Bar]:
    """Bars in feed order: by time, ties in the order of ``batches`` (like every feed)."""
    bars = [bar for batch in batches for bar in list(batch)[start:]]
    return sorted(bars, key=lambda bar: bar.ts)


def _batch_forecasts(model: Any, asset: BarBatch, market: BarBatch) -> tuple[Any, FloatArray]:
    frame = _market_pipeline().compute(asset, context={"MMM/USDT": market})
    p_up = np.full(len(asset), np.nan)
    ok = frame.valid_rows()
    p_up[ok] = model.predict(frame.values[ok])
    return frame, 2 * p_up - 1


def _live(predictor: ModelPredictor, bars: list[Bar]) -> dict[InstrumentId, list[float]]:
    out: dict[InstrumentId, list[float]] = {ASSET: [], MARKET: []}
    for bar in bars:
        out[bar.instrument].append(predictor.predict(bar))
    return out


@pytest.mark.parametrize("drop", [(), (150, 151, 260, 399)])
def test_live_market_features_equal_batch_walk_forward(drop: tuple[int, ...]) -> None:
    asset, market = _data(drop)
    model = _trained(asset, market)
    predictor = _predictor(model)
    order = predictor.prepare([ASSET, MARKET], Timeframe.parse("1h"))
    assert order == [MARKET, ASSET]  # the market first within each timestamp
    live = _live(predictor, _merged(market, asset))
    frame, expected = _batch_forecasts(model, asset, market)
    lookback = _market_pipeline().lookback
    got = np.array(live[ASSET])
    # features are equal bit for bit (next test); one row scored alone vs many at once may
    # differ in the last bit of the model's arithmetic
    assert np.allclose(got, expected, rtol=0, atol=1e-12, equal_nan=True)
    assert np.isfinite(got[lookback:]).all() and np.isnan(got[:lookback]).all()
    market_col = frame.names.index("market_corr_20")
    assert not np.isnan(frame.values[lookback:, market_col]).any()
    assert predictor.stats.market_missing == len(drop)  # each market gap is counted
    assert predictor.stats.nan_features == 0


def test_scored_rows_are_the_batch_rows() -> None:
    asset, market = _data()
    model = _trained(asset, market)
    recording = Recording(model)
    predictor = _predictor(recording)
    bars = _merged(market, asset)
    rows: list[FloatArray] = []
    for bar in bars:
        before = len(recording.rows)
        predictor.predict(bar)
        if bar.instrument == ASSET and len(recording.rows) > before:
            rows.append(recording.rows[-1])
    frame = _market_pipeline().compute(asset, context={"MMM/USDT": market})
    valid = frame.values[frame.valid_rows()]
    assert len(rows) == len(valid) and np.array_equal(np.array(rows), valid)


def test_a_market_bar_arriving_late_is_reported_not_silent(caplog: Any) -> None:
    asset, market = _data()
    predictor = _predictor(_trained(asset, market))
    with caplog.at_level(logging.WARNING, logger="neo"):
        _live(predictor, _merged(asset, market))  # wrong order: the asset's bar comes first
    assert predictor.stats.market_missing == N
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "no market bar at this bar's time" in messages
    assert "list the market first" in messages


def test_a_missing_market_fails_at_start_and_gives_counted_nans(caplog: Any) -> None:
    asset, market = _data()
    predictor = _predictor(_trained(asset, market))
    with pytest.raises(ConfigError, match=r"MMM/USDT.*add them to --symbols"):
        predictor.prepare([ASSET], Timeframe.parse("1h"))
    with pytest.raises(ConfigError, match="trained on 1h bars"):
        predictor.prepare([ASSET, MARKET], Timeframe.parse("1m"))
    with caplog.at_level(logging.WARNING, logger="neo"):
        values = [predictor.predict(bar) for bar in asset]  # never given the market
    assert all(math.isnan(v) for v in values)
    lookback = _market_pipeline().lookback
    assert predictor.stats.warming == lookback
    assert predictor.stats.nan_features == N - lookback and predictor.stats.market_missing == N
    assert "features are NaN after their warm-up" in caplog.text


class History:
    """A store stand-in that returns *everything*, future bars included: the predictor must cut
    the history at the first live bar itself."""

    def __init__(self, *batches: BarBatch) -> None:
        self.batches = {b.instrument: b for b in batches}
        self.asked: list[tuple[InstrumentId, int]] = []

    def __call__(self, instrument: InstrumentId, timeframe: Timeframe, end_ns: int) -> Any:
        self.asked.append((instrument, end_ns))
        return self.batches.get(instrument)


def test_warm_up_on_history_up_to_the_first_live_bar() -> None:
    asset, market = _data()
    model = _trained(asset, market)
    history = History(asset, market)
    predictor = _predictor(model, history=history)
    live_from = 300
    live = _live(predictor, _merged(market, asset, start=live_from))
    _, expected = _batch_forecasts(model, asset, market)
    got = np.array(live[ASSET])
    assert np.isfinite(got).all()  # no silent lookback: forecasts from the first live bar
    assert np.allclose(got, expected[live_from:], rtol=0, atol=1e-12)
    first_live = int(asset.ts[live_from])
    assert {end for _, end in history.asked} == {first_live}
    assert predictor.stats.warmed_bars == 2 * live_from  # asset and market, before the bar only


def test_warm_up_never_reads_past_the_first_live_bar() -> None:
    asset, market = _data()
    model = _trained(asset, market)
    live_from = 300
    scale = np.r_[np.ones(live_from), np.full(N - live_from, 3.0)]
    future = [
        BarBatch.from_arrays(
            b.instrument,
            b.timeframe,
            ts=b.ts,
            **{c: np.asarray(getattr(b, c)) * scale for c in ("open", "high", "low", "close")},
            volume=b.volume,
        )
        for b in (asset, market)
    ]
    # the history source's bars from the first live bar on are garbage: they must not matter
    predictor = _predictor(model, history=History(*future))
    live = _live(predictor, _merged(market, asset, start=live_from))
    _, expected = _batch_forecasts(model, asset, market)
    assert np.allclose(np.array(live[ASSET]), expected[live_from:], rtol=0, atol=1e-12)


def test_no_market_history_starts_cold(caplog: Any) -> None:
    asset, market = _data()
    predictor = _predictor(_trained(asset, market), history=History(asset))
    with caplog.at_level(logging.WARNING, logger="neo"):
        live = _live(predictor, _merged(market, asset, start=300))
    assert predictor.stats.warmed_bars == 0 and math.isnan(live[ASSET][0])
    assert "no stored history of a market series" in caplog.text


def test_paper_loop_with_a_market_model_trades_from_the_first_bar() -> None:
    asset, market = _data()
    predictor = _predictor(_trained(asset, market), history=History(asset, market))
    late = [b.slice(300, N) for b in (market, asset)]
    result = asyncio.run(run_paper("hybrid", ListFeed(*late), predictor=predictor, status=False))
    assert predictor.stats.forecasts == 2 * (N - 300) and result.bars == 2 * (N - 300)
