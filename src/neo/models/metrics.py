"""Out-of-sample scores and the naive baselines every model must beat to be worth trading."""

from __future__ import annotations

from typing import Any

import numpy as np

from neo.domain.bar import FloatArray

_EPS = 1e-15


def _hit_rate(direction: FloatArray, realized: FloatArray) -> float | None:
    """Share of bars where the predicted direction (sign) matched the realised return's."""
    mask = np.isfinite(realized) & (realized != 0) & np.isfinite(direction) & (direction != 0)
    if not mask.any():
        return None
    return float(np.mean(np.sign(direction[mask]) == np.sign(realized[mask])))


def classification_metrics(
    prob: FloatArray, target: FloatArray, realized: FloatArray
) -> dict[str, Any]:
    """Accuracy, AUC and log-loss on labelled bars; hit rate against the realised return."""
    from sklearn.metrics import roc_auc_score

    mask = np.isfinite(target) & np.isfinite(prob)
    y = target[mask]
    p = prob[mask]
    out: dict[str, Any] = {"n": int(mask.sum()), "accuracy": None, "auc": None, "log_loss": None}
    if len(y):
        out["accuracy"] = float(np.mean((p >= 0.5) == (y == 1.0)))
        clipped = np.clip(p, _EPS, 1 - _EPS)
        out["log_loss"] = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
        if len(np.unique(y)) == 2 and len(np.unique(p)) > 1:
            out["auc"] = float(roc_auc_score(y, p))
    out["hit_rate"] = _hit_rate(prob - 0.5, realized)
    return out


def _rank(values: FloatArray) -> FloatArray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(values), dtype=np.float64)


def regression_metrics(
    pred: FloatArray, target: FloatArray, realized: FloatArray
) -> dict[str, Any]:
    """Information coefficient (Spearman), RMSE and hit rate."""
    mask = np.isfinite(target) & np.isfinite(pred)
    y = target[mask]
    p = pred[mask]
    out: dict[str, Any] = {"n": int(mask.sum()), "ic": None, "rmse": None}
    if len(y):
        out["rmse"] = float(np.sqrt(np.mean((p - y) ** 2)))
        if len(y) > 2 and np.ptp(p) > 0 and np.ptp(y) > 0:
            out["ic"] = float(np.corrcoef(_rank(p), _rank(y))[0, 1])
    out["hit_rate"] = _hit_rate(pred, realized)
    return out


def score(task: str, pred: FloatArray, target: FloatArray, realized: FloatArray) -> dict[str, Any]:
    if task == "classification":
        return classification_metrics(pred, target, realized)
    return regression_metrics(pred, target, realized)


def baselines(
    task: str, target: FloatArray, realized: FloatArray, previous: FloatArray
) -> dict[str, dict[str, Any]]:
    """The naive forecasts: always long, and "the last move repeats" (previous-return sign).

    ``previous`` is the return over the label horizon that ended at each bar (known at t).
    """
    if task == "classification":
        long_pred = np.ones(len(target))
        prev_pred = np.where(np.isfinite(previous), (previous > 0).astype(np.float64), np.nan)
    else:
        long_pred = np.full(len(target), 1e-12)  # "up by a hair": direction without size
        prev_pred = previous
    out = {
        "always_long": score(task, long_pred, target, realized),
        "previous_return_sign": score(task, prev_pred, target, realized),
    }
    if task == "classification":  # hard 0/1 calls: log-loss would only measure the clipping
        for values in out.values():
            values["log_loss"] = None
    return out
