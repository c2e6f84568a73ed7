"""Optional hyper-parameter search with Optuna, run inside one training window only.

The caller passes only the window's training samples (every label known before the test
window), so the test window is never seen. Inside, the window is split on timestamps (not on
pooled rows): the last quarter of its sample times validates, and the inner training part keeps
only samples whose label ended ``purge + embargo`` bars before validation starts — the same
rule (:mod:`neo.models.purge`) the outer walk-forward applies — so no inner training label
overlaps the validation part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from neo.domain.bar import FloatArray
from neo.models.base import Task, create_model
from neo.models.purge import Spans

VALIDATION_START = 0.75
"""Fraction of the window's sample times before the validation part."""

SearchSpace = Callable[[Any], dict[str, Any]]

SPACES: dict[str, SearchSpace] = {
    "lightgbm": lambda trial: {
        "num_leaves": trial.suggest_int("num_leaves", 4, 31),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 50),
    },
    "logistic": lambda trial: {"C": trial.suggest_float("C", 1e-3, 10.0, log=True)},
    "ridge": lambda trial: {"alpha": trial.suggest_float("alpha", 1e-3, 100.0, log=True)},
    "random_forest": lambda trial: {
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 50),
    },
}


def _loss(task: Task, pred: FloatArray, y: FloatArray) -> float:
    if task == "classification":
        p = np.clip(pred, 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.mean((pred - y) ** 2))


def tune(
    model_name: str,
    task: Task,
    base_params: Mapping[str, Any],
    x: FloatArray,
    y: FloatArray,
    *,
    spans: Spans,
    trials: int,
    seed: int,
) -> dict[str, Any]:
    """Best parameters found in ``trials`` seeded TPE trials (``base_params`` if no search fits).

    ``x``/``y`` are one training window's samples and ``spans`` their timeline positions and
    label ends (with the purge + embargo gap); see the module docstring for the split.
    """
    space = SPACES.get(model_name)
    if space is None or trials <= 0:
        return dict(base_params)
    fit, validate, _ = spans.split(VALIDATION_START)
    if fit.sum() < 20 or validate.sum() < 10:
        return dict(base_params)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x_fit, y_fit = x[fit], y[fit]
    x_val, y_val = x[validate], y[validate]

    def objective(trial: Any) -> float:
        params = {**base_params, **space(trial), "seed": seed}
        model = create_model(model_name, task, params).fit(x_fit, y_fit)
        return _loss(task, model.predict(x_val), y_val)

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, n_jobs=1)
    return {**base_params, **study.best_params}
