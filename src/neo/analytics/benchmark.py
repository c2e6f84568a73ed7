"""The benchmark a run is measured against: buy-and-hold of the instruments it traded.

A strategy that made +463 % while simply holding its instrument made +700 % has lost money
against the obvious alternative; the report shows both curves and the relative figures
(excess return, beta, alpha, information ratio) so that is visible at a glance.

Conventions follow empyrical(-reloaded), as in :mod:`neo.analytics.metrics`:

* ``beta`` is ``cov(r, b) / var(b)`` over the bars where both returns are defined;
* ``alpha`` is annualised: ``(1 + mean(r - rf - beta * (b - rf))) ** periods_per_year - 1``
  with ``rf`` the per-bar risk-free rate;
* ``information_ratio`` is empyrical's ``excess_sharpe`` (mean over sample standard deviation
  of the active return ``r - b``), annualised by ``sqrt(periods_per_year)``;
* ``excess_return`` is the run's total return minus the benchmark's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from neo.domain.bar import FloatArray
from neo.domain.errors import DataFormatError

NAN = float("nan")
RELATIVE_FIELDS = ("benchmark_return", "excess_return", "beta", "alpha", "information_ratio")


def _returns(curve: FloatArray) -> FloatArray:
    previous = curve[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(previous > 0, curve[1:] / previous - 1.0, np.nan)
    return out


def buy_and_hold(initial: float, prices: Mapping[str, npt.ArrayLike]) -> FloatArray:
    """Equity of holding the instruments in equal parts from the first bar each one trades.

    ``prices`` are per-step closes, one array per instrument on the run's common time axis
    (``NaN`` before an instrument's first bar and where it has no bar). Each instrument gets
    ``initial / k`` of the money: kept as cash until its first known close, then bought at that
    close and held; a gap carries the last close forward. No fees: it is the yardstick.
    """
    columns = [np.asarray(p, dtype=np.float64) for p in prices.values()]
    if not columns:
        raise DataFormatError("a benchmark needs the price of at least one instrument")
    size = columns[0].size
    if any(c.ndim != 1 or c.size != size for c in columns):
        raise DataFormatError("benchmark prices must be one array per instrument, all one length")
    share = float(initial) / len(columns)
    total = np.zeros(size, np.float64)
    for close in columns:
        known = np.isfinite(close) & (close > 0)
        if not known.any():
            total += share
            continue
        index = np.where(known, np.arange(size), 0)
        filled = close[np.maximum.accumulate(index)]  # last known close, carried forward
        first = int(np.argmax(known))
        value = np.full(size, share)
        value[first:] = share * filled[first:] / close[first]
        total += value
    return total


def _pairs(equity: FloatArray, benchmark: FloatArray) -> tuple[FloatArray, FloatArray]:
    returns = _returns(equity)
    factor = _returns(benchmark)
    both = np.isfinite(returns) & np.isfinite(factor)
    return returns[both], factor[both]


def relative_metrics(
    equity: npt.ArrayLike,
    benchmark: npt.ArrayLike,
    *,
    periods_per_year: float,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """``benchmark_return``, ``excess_return``, ``beta``, ``alpha`` and ``information_ratio``.

    ``equity`` and ``benchmark`` are per-bar curves of the same length; ``risk_free`` is an
    annual rate. Undefined figures (fewer than two bars, a flat benchmark) are ``NaN``.
    """
    values = np.asarray(equity, dtype=np.float64)
    yardstick = np.asarray(benchmark, dtype=np.float64)
    if values.shape != yardstick.shape or values.ndim != 1:
        raise DataFormatError(
            f"benchmark has shape {yardstick.shape} but equity {values.shape}: pass one "
            "benchmark value per bar"
        )
    out = dict.fromkeys(RELATIVE_FIELDS, NAN)
    if values.size < 2:
        return out
    if yardstick[0] > 0:
        out["benchmark_return"] = float(yardstick[-1] / yardstick[0] - 1.0)
    if values[0] > 0:
        out["excess_return"] = float(values[-1] / values[0] - 1.0) - out["benchmark_return"]
    returns, factor = _pairs(values, yardstick)
    if returns.size < 2:
        return out
    residual = factor - factor.mean()
    variance = float(np.mean(residual * residual))
    beta = float(np.mean(residual * returns)) / variance if variance >= 1e-30 else NAN
    out["beta"] = beta
    per_bar_rf = (1.0 + risk_free) ** (1.0 / periods_per_year) - 1.0
    if math.isfinite(beta):
        mean_alpha = float(np.mean((returns - per_bar_rf) - beta * (factor - per_bar_rf)))
        with np.errstate(over="ignore", invalid="ignore"):
            out["alpha"] = float(np.float64(1.0 + mean_alpha) ** periods_per_year - 1.0)
    active = returns - factor
    spread = 0.0 if active.max() == active.min() else float(np.std(active, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.float64(active.mean()) / np.float64(spread))
    out["information_ratio"] = ratio * math.sqrt(periods_per_year)
    return out
