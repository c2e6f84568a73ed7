from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np

from neo.domain.bar import Bar, FloatArray
from neo.engine.paper import run_paper
from neo.engine.predictor import ModelPredictor
from tests.unit.engine.bars import walk
from tests.unit.engine.test_paper import ListFeed


class LastReturn:
    """Incremental features: the last simple return (NaN on the first bar)."""

    def __init__(self) -> None:
        self.previous = math.nan

    def update(self, bar: Bar) -> FloatArray:
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
