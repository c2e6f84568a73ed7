"""Metric edge cases, and the Optuna inner split: on timestamps, purged by label end."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from neo.models import search
from neo.models.metrics import baselines, classification_metrics, regression_metrics
from neo.models.purge import Spans
from neo.models.search import tune


def test_metric_edge_cases() -> None:
    empty = classification_metrics(np.array([]), np.array([]), np.array([]))
    assert empty == {"n": 0, "accuracy": None, "auc": None, "log_loss": None, "hit_rate": None}
    one_class = classification_metrics(np.array([0.7, 0.2]), np.array([1.0, 1.0]), np.ones(2))
    assert one_class["auc"] is None and one_class["accuracy"] == 0.5
    flat = regression_metrics(np.ones(5), np.arange(5.0), np.arange(5.0))
    assert flat["ic"] is None and flat["rmse"] is not None
    assert regression_metrics(np.array([]), np.array([]), np.array([]))["rmse"] is None
    base = baselines("classification", np.array([1.0, 0.0]), np.array([0.1, -0.1]),
                     np.array([np.nan, 0.2]))  # fmt: skip
    assert base["always_long"]["accuracy"] == 0.5
    assert base["previous_return_sign"]["n"] == 1


def test_tune_returns_searched_params_or_the_base() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + rng.normal(0, 1, 200) > 0).astype(float)
    spans = Spans(np.arange(200), np.arange(200) + 1, gap=2)
    found = tune("lightgbm", "classification", {"n_estimators": 10}, x, y,
                 spans=spans, trials=2, seed=1)  # fmt: skip
    assert found["n_estimators"] == 10 and 4 <= found["num_leaves"] <= 31
    again = tune("lightgbm", "classification", {"n_estimators": 10}, x, y,
                 spans=spans, trials=2, seed=1)  # fmt: skip
    assert found == again
    ridge = tune("ridge", "regression", {}, x, x[:, 0], spans=spans, trials=2, seed=1)
    assert 1e-3 <= ridge["alpha"] <= 100
    forest = tune("random_forest", "regression", {"n_estimators": 5}, x, x[:, 0],
                  spans=spans, trials=1, seed=1)  # fmt: skip
    assert 2 <= forest["max_depth"] <= 8
    assert tune("ensemble", "classification", {"a": 1}, x, y, spans=spans, trials=3, seed=1) == {
        "a": 1
    }
    small = Spans(np.arange(20), np.arange(20) + 1)
    assert tune("lightgbm", "classification", {}, x[:20], y[:20], spans=small, trials=3,
                seed=1) == {}  # fmt: skip


class Recorder:
    """Stands in for every model the search builds; keeps the row ids it fits and scores."""

    fitted: ClassVar[list[np.ndarray]] = []
    scored: ClassVar[list[np.ndarray]] = []

    def fit(self, x: Any, y: Any, **_: Any) -> Recorder:
        Recorder.fitted.append(np.asarray(x)[:, 0].astype(int))
        return self

    def predict(self, x: Any) -> np.ndarray:
        Recorder.scored.append(np.asarray(x)[:, 0].astype(int))
        return np.full(len(x), 0.5)


@pytest.mark.parametrize(("horizon", "gap"), [(1, 0), (5, 3), (12, 0)])
def test_inner_split_is_on_timestamps_and_purged_by_label_end(
    monkeypatch: pytest.MonkeyPatch, horizon: int, gap: int
) -> None:
    """Three instruments pooled at each of 100 times; labels end ``horizon`` bars later. The
    search fits only rows whose label ended ``gap`` bars before validation starts, and validates
    on every row from that time on (all instruments), never on anything else."""
    monkeypatch.setattr(search, "create_model", lambda *args: Recorder())
    Recorder.fitted, Recorder.scored = [], []
    start = np.repeat(np.arange(100), 3)
    end = start + horizon
    ids = np.arange(len(start))
    x = np.column_stack([ids, np.random.default_rng(1).normal(size=len(ids))])
    y = (x[:, 1] > 0).astype(float)
    tune("logistic", "classification", {}, x, y, spans=Spans(start, end, gap), trials=3, seed=0)
    cut = 75  # the first time of the last quarter of the 100 sample times
    assert len(Recorder.fitted) == 3 and len(Recorder.scored) == 3
    for fitted, scored in zip(Recorder.fitted, Recorder.scored, strict=True):
        assert np.array_equal(scored, ids[start >= cut])  # every instrument's rows at those times
        assert np.array_equal(fitted, ids[end <= cut - gap])  # labels known before validation
        assert end[fitted].max() <= cut - gap and start[scored].min() == cut


def test_spans_split_edge_cases() -> None:
    one_time = Spans(np.zeros(4, dtype=np.int64), np.ones(4, dtype=np.int64))
    early, late, _ = one_time.split(0.75)
    assert not early.any() and not late.any()
    with pytest.raises(Exception, match="as many starts as ends"):
        Spans(np.arange(3), np.arange(2))
