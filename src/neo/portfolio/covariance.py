"""Covariance estimates for the allocators: sample, exponentially weighted and Ledoit-Wolf.

All three come from skfolio's estimators so the allocators and the research notebooks agree on
what "the covariance" means; this module only picks one by name and checks the input.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from skfolio.moments import EmpiricalCovariance, EWCovariance, LedoitWolf

from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError

CovarianceMethod = Literal["sample", "ewma", "ledoit_wolf"]
COVARIANCE_METHODS: tuple[str, ...] = ("sample", "ewma", "ledoit_wolf")


def covariance_estimator(method: str = "sample", half_life: float = 40.0) -> Any:
    """The skfolio covariance estimator behind ``method`` (unfitted).

    ``sample`` is the unbiased (ddof=1) sample covariance, ``ewma`` weights observation
    ``t`` by ``0.5 ** ((T - 1 - t) / half_life)`` around a zero mean (the RiskMetrics
    convention) and ``ledoit_wolf`` shrinks the sample covariance toward a scaled identity.
    """
    if method == "sample":
        return EmpiricalCovariance(ddof=1, nearest=True)
    if method == "ewma":
        if not half_life > 0:
            raise ConfigError(f"ewma covariance: half_life must be > 0 bars, got {half_life}")
        return EWCovariance(half_life=half_life, nearest=True)
    if method == "ledoit_wolf":
        return LedoitWolf(nearest=True)
    raise ConfigError(
        f"unknown covariance method {method!r}: use one of {', '.join(COVARIANCE_METHODS)}"
    )


def check_returns(returns: FloatArray, min_rows: int = 2) -> FloatArray:
    """``returns`` as a finite float64 T×N matrix with at least ``min_rows`` rows."""
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ConfigError(f"returns must be a T×N matrix (bars × assets), got shape {matrix.shape}")
    if matrix.shape[0] < min_rows:
        raise ConfigError(
            f"need at least {min_rows} return rows to estimate a covariance, got "
            f"{matrix.shape[0]}: lengthen the lookback or wait for more bars"
        )
    if not np.isfinite(matrix).all():
        raise ConfigError("returns contain NaN or inf: drop or fill the missing bars first")
    return matrix


def estimate_covariance(
    returns: FloatArray, method: str = "sample", half_life: float = 40.0
) -> FloatArray:
    """N×N covariance of a T×N matrix of per-bar returns (oldest row first).

    Parameters
    ----------
    returns
        Simple returns, one column per asset; every row is used, so pass only the window the
        caller is allowed to see (no look-ahead is possible inside).
    method
        ``"sample"``, ``"ewma"`` or ``"ledoit_wolf"``.
    half_life
        Half-life in bars of the EWMA weights (ignored by the other methods).

    Returns
    -------
    FloatArray
        A symmetric positive semi-definite matrix in per-bar return units.
    """
    matrix = check_returns(returns)
    estimator = covariance_estimator(method, half_life)
    estimator.fit(matrix)
    cov = np.asarray(estimator.covariance_, dtype=np.float64)
    return (cov + cov.T) / 2.0
