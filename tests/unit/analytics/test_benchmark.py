"""The benchmark: buy-and-hold by hand, relative figures cross-checked against empyrical."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pytest

from neo.analytics import compute_metrics
from neo.analytics.benchmark import buy_and_hold, relative_metrics
from neo.domain import DataFormatError

HOUR = 3_600 * 1_000_000_000


def _curve(seed: int, n: int, drift: float, vol: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.cumprod(np.concatenate(([1.0], 1.0 + rng.normal(drift, vol, n - 1))))


@pytest.mark.parametrize(("seed", "ppy", "rf"), [(1, 252.0, 0.0), (2, 365.0, 0.03), (3, 52.0, 0.1)])
def test_relative_figures_match_empyrical(seed: int, ppy: float, rf: float) -> None:
    market = _curve(seed, 400, 0.0004, 0.01)
    noise = _curve(seed + 100, 400, 0.0, 0.004)
    equity = 1_000.0 * (market / market[0]) ** 0.6 * noise / noise[0]
    ours = relative_metrics(equity, market, periods_per_year=ppy, risk_free=rf)
    returns = equity[1:] / equity[:-1] - 1.0
    factor = market[1:] / market[:-1] - 1.0
    per_bar_rf = (1.0 + rf) ** (1.0 / ppy) - 1.0
    alpha, beta = empyrical.alpha_beta(returns, factor, risk_free=per_bar_rf, annualization=ppy)
    assert math.isclose(ours["beta"], beta, rel_tol=1e-9)
    assert math.isclose(ours["alpha"], alpha, rel_tol=1e-9)
    expected_ir = empyrical.excess_sharpe(returns, factor) * math.sqrt(ppy)
    assert math.isclose(ours["information_ratio"], expected_ir, rel_tol=1e-9)
    total = empyrical.cum_returns_final(returns) - empyrical.cum_returns_final(factor)
    assert math.isclose(ours["excess_return"], total, rel_tol=1e-9)
    assert 0.3 < ours["beta"] < 0.9  # the construction holds ~0.6 of the market


def test_holding_the_benchmark_itself_has_beta_one_and_no_excess() -> None:
    market = _curve(4, 300, 0.001, 0.02)
    ours = relative_metrics(market * 3.0, market, periods_per_year=252.0)
    assert math.isclose(ours["beta"], 1.0, rel_tol=1e-12)
    assert abs(ours["excess_return"]) < 1e-12
    assert abs(ours["alpha"]) < 1e-12


def test_compute_metrics_carries_the_relative_figures() -> None:
    market = _curve(5, 200, 0.001, 0.01)
    ts = np.arange(200, dtype=np.int64) * HOUR
    with_benchmark = compute_metrics(ts, market * 2, benchmark=market)
    assert math.isclose(with_benchmark.beta, 1.0)
    assert math.isnan(compute_metrics(ts, market).beta)  # no benchmark: undefined, not 0


def test_buy_and_hold_by_hand_equal_weight_and_late_start() -> None:
    a = np.array([10.0, 11.0, 12.0, np.nan, 15.0])
    b = np.array([np.nan, np.nan, 5.0, 10.0, 10.0])  # starts trading at the third step
    curve = buy_and_hold(100.0, {"A": a, "B": b})
    # A: 50 at 10 → 5 units; B: 50 kept as cash, bought at 5 → 10 units; A's gap carries 12
    assert curve.tolist() == [100.0, 105.0, 110.0, 160.0, 175.0]


def test_buy_and_hold_rejects_ragged_input() -> None:
    with pytest.raises(DataFormatError):
        buy_and_hold(1.0, {"A": np.ones(3), "B": np.ones(4)})
    with pytest.raises(DataFormatError):
        relative_metrics(np.ones(3), np.ones(4), periods_per_year=252.0)


def test_a_flat_benchmark_leaves_beta_undefined_without_warning() -> None:
    with np.errstate(all="raise"):
        ours = relative_metrics(_curve(6, 50, 0.0, 0.01), np.ones(50), periods_per_year=252.0)
    assert math.isnan(ours["beta"]) and math.isnan(ours["alpha"])
    assert ours["benchmark_return"] == 0.0
