"""Metric edge cases and the Optuna search staying inside its window."""

from __future__ import annotations

import numpy as np

from neo.models.metrics import baselines, classification_metrics, regression_metrics
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
    found = tune("lightgbm", "classification", {"n_estimators": 10}, x, y,
                 trials=2, gap=2, seed=1)  # fmt: skip
    assert found["n_estimators"] == 10 and 4 <= found["num_leaves"] <= 31
    again = tune("lightgbm", "classification", {"n_estimators": 10}, x, y,
                 trials=2, gap=2, seed=1)  # fmt: skip
    assert found == again
    ridge = tune("ridge", "regression", {}, x, x[:, 0], trials=2, gap=0, seed=1)
    assert 1e-3 <= ridge["alpha"] <= 100
    forest = tune("random_forest", "regression", {"n_estimators": 5}, x, x[:, 0],
                  trials=1, gap=0, seed=1)  # fmt: skip
    assert 2 <= forest["max_depth"] <= 8
    assert tune("ensemble", "classification", {"a": 1}, x, y, trials=3, gap=0, seed=1) == {"a": 1}
    assert tune("lightgbm", "classification", {}, x[:20], y[:20], trials=3, gap=0, seed=1) == {}
