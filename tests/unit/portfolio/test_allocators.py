"""Each allocator against an independent cvxpy formulation (or closed form) of its problem."""

from __future__ import annotations

from functools import cache

import cvxpy as cp
import numpy as np
import pytest
from skfolio.datasets import load_sp500_dataset

from neo.domain.errors import ConfigError
from neo.portfolio import create_allocator
from neo.portfolio.constraints import Constraints
from neo.portfolio.covariance import estimate_covariance


@cache
def sp500() -> np.ndarray:
    """500 daily returns of 6 real S&P 500 stocks (skfolio's shipped data set)."""
    prices = load_sp500_dataset()
    returns = prices.pct_change().dropna().iloc[-500:, [0, 2, 4, 6, 7, 9]]
    return np.asarray(returns.to_numpy(), dtype=np.float64)


def solve(objective: object, constraints: list[object], w: cp.Variable) -> np.ndarray:
    problem = cp.Problem(objective, constraints)  # type: ignore[arg-type]
    problem.solve(solver=cp.CLARABEL)
    assert problem.status == cp.OPTIMAL
    return np.asarray(w.value)


def variance(w: np.ndarray, cov: np.ndarray) -> float:
    return float(w @ cov @ w)


def test_min_variance_long_only_bounds() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    limits = Constraints(max_weight=0.3, budget=1.0)
    ours = create_allocator("min_variance").weights(returns, None, limits, None)
    w = cp.Variable(6)
    ref = solve(cp.Minimize(cp.quad_form(w, cov)), [cp.sum(w) == 1, w >= 0, w <= 0.3], w)
    np.testing.assert_allclose(ours, ref, atol=2e-3)
    assert variance(ours, cov) == pytest.approx(variance(ref, cov), rel=1e-4)


def test_min_variance_long_short_gross_leverage() -> None:
    returns = sp500()
    cov = estimate_covariance(returns, "ledoit_wolf")
    limits = Constraints(long_only=False, min_weight=-0.4, max_weight=0.6, max_gross_leverage=1.6)
    ours = create_allocator("min_variance", covariance="ledoit_wolf").weights(
        returns, None, limits, None
    )
    w = cp.Variable(6)
    ref = solve(
        cp.Minimize(cp.quad_form(w, cov)),
        [cp.sum(w) == 1, w >= -0.4, w <= 0.6, cp.norm1(w) <= 1.6],
        w,
    )
    assert variance(ours, cov) == pytest.approx(variance(ref, cov), rel=1e-4)
    np.testing.assert_allclose(ours, ref, atol=5e-3)


def test_max_sharpe_with_forecasts() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    mu = np.array([4e-4, 1e-4, 6e-4, 3e-4, -1e-4, 2e-4])
    ours = create_allocator("max_sharpe").weights(returns, mu, Constraints(), None)
    # Cornuejols-Tütüncü: minimise y'Σy subject to μ'y = 1, y >= 0; w = y / sum(y)
    y = cp.Variable(6)
    ref_y = solve(cp.Minimize(cp.quad_form(y, cov)), [mu @ y == 1, y >= 0], y)
    ref = ref_y / ref_y.sum()

    def sharpe(x: np.ndarray) -> float:
        return float(mu @ x / np.sqrt(variance(x, cov)))

    assert sharpe(ours) == pytest.approx(sharpe(ref), rel=1e-4)
    np.testing.assert_allclose(ours, ref, atol=5e-3)


def test_max_sharpe_without_positive_forecast_falls_back_to_min_variance() -> None:
    returns = sp500()
    negative = -np.ones(6) * 1e-4
    ours = create_allocator("max_sharpe").weights(returns, negative, Constraints(), None)
    minvar = create_allocator("min_variance").weights(returns, None, Constraints(), None)
    np.testing.assert_allclose(ours, minvar, atol=1e-6)


def test_target_volatility() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    mu = np.array([5e-4, 2e-4, 6e-4, -3e-4, 1e-4, 4e-4])
    target = 0.008  # per bar
    limits = Constraints(long_only=False, min_weight=-0.5, max_weight=0.8, max_gross_leverage=1.5)
    ours = create_allocator("target_volatility", target_vol=target).weights(
        returns, mu, limits, None
    )
    w = cp.Variable(6)
    ref = solve(
        cp.Maximize(mu @ w),
        [
            cp.quad_form(w, cov) <= target**2,
            w >= -0.5,
            w <= 0.8,
            cp.norm1(w) <= 1.5,
            cp.abs(cp.sum(w)) <= 1.0,
        ],
        w,
    )
    assert float(mu @ ours) == pytest.approx(float(mu @ ref), rel=1e-3)
    assert np.sqrt(variance(ours, cov)) <= target * (1 + 1e-4)
    annual = create_allocator(
        "target_volatility", target_vol=target * np.sqrt(252), periods_per_year=252
    )
    np.testing.assert_allclose(annual.weights(returns, mu, limits, None), ours, atol=1e-6)


def test_risk_parity_equalises_risk_contributions() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    ours = create_allocator("risk_parity").weights(returns, None, Constraints(), None)
    # Spinu's convex form: minimise ½ y'Σy − Σ log(y_i)/N, then normalise
    y = cp.Variable(6)
    ref_y = solve(cp.Minimize(0.5 * cp.quad_form(y, cov) - cp.sum(cp.log(y)) / 6), [], y)
    ref = ref_y / ref_y.sum()
    np.testing.assert_allclose(ours, ref, atol=2e-3)
    contributions = ours * (cov @ ours)
    np.testing.assert_allclose(contributions / contributions.sum(), np.full(6, 1 / 6), atol=2e-3)


def test_turnover_limited_min_variance() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    previous = np.full(6, 1 / 6)
    limits = Constraints(max_turnover=0.1)
    ours = create_allocator("min_variance").weights(returns, None, limits, previous)
    w = cp.Variable(6)
    ref = solve(
        cp.Minimize(cp.quad_form(w, cov)),
        [cp.sum(w) == 1, w >= 0, w <= 1, cp.norm1(w - previous) <= 0.1],
        w,
    )
    assert np.abs(ours - previous).sum() <= 0.1 + 1e-6
    assert variance(ours, cov) == pytest.approx(variance(ref, cov), rel=1e-4)


def test_turnover_from_cash_is_a_partial_step() -> None:
    returns = sp500()
    previous = np.zeros(6)
    limits = Constraints(max_turnover=0.4)
    full = create_allocator("hrp").weights(returns, None, Constraints(), None)
    ours = create_allocator("hrp").weights(returns, None, limits, previous)
    np.testing.assert_allclose(ours, full * 0.4, atol=1e-9)


def test_kelly_matches_closed_form_when_unconstrained() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    mu = np.array([3e-4, -1e-4, 4e-4, 1e-4, 2e-4, 0.0])
    loose = Constraints(
        long_only=False,
        min_weight=-50,
        max_weight=50,
        max_gross_leverage=100,
        max_net_leverage=100,
        budget=0.0,
    )
    ours = create_allocator("kelly", fraction=0.5).weights(returns, mu, loose, None)
    np.testing.assert_allclose(ours, 0.5 * np.linalg.solve(cov, mu), rtol=1e-4, atol=1e-6)


def test_kelly_respects_leverage() -> None:
    returns = sp500()
    mu = np.full(6, 5e-3)
    limits = Constraints(max_gross_leverage=1.0, max_weight=0.5)
    ours = create_allocator("kelly").weights(returns, mu, limits, None)
    assert np.abs(ours).sum() == pytest.approx(1.0, abs=1e-6)
    assert ours.max() <= 0.5 + 1e-6


def test_inverse_volatility_and_equal_weight_closed_forms() -> None:
    returns = sp500()
    limits = Constraints(budget=0.9)
    vols = np.sqrt(np.diag(np.cov(returns.T)))
    inverse = create_allocator("inverse_volatility").weights(returns, None, limits, None)
    np.testing.assert_allclose(inverse, 0.9 * (1 / vols) / (1 / vols).sum(), rtol=1e-9)
    equal = create_allocator("equal_weight").weights(returns, None, limits, None)
    np.testing.assert_allclose(equal, np.full(6, 0.15), rtol=1e-12)
    capped = create_allocator("inverse_volatility").weights(
        returns, None, Constraints(max_weight=0.2), None
    )
    assert capped.max() <= 0.2 + 1e-12 and capped.sum() == pytest.approx(1.0)


def test_hrp_on_two_uncorrelated_assets_is_inverse_variance() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 1, (400, 2)) * np.array([0.01, 0.02])
    cov = np.cov(returns.T)
    ours = create_allocator("hrp").weights(returns, None, Constraints(), None)
    inverse_variance = (1 / np.diag(cov)) / (1 / np.diag(cov)).sum()
    np.testing.assert_allclose(ours, inverse_variance, atol=1e-9)


def test_factory_errors() -> None:
    with pytest.raises(ConfigError, match="unknown allocator"):
        create_allocator("magic")
    with pytest.raises(ConfigError, match="bad parameters"):
        create_allocator("kelly", leverage=3)
    with pytest.raises(ConfigError, match="fraction"):
        create_allocator("kelly", fraction=2.0)
    with pytest.raises(ConfigError, match="target_vol"):
        create_allocator("target_volatility", target_vol=0.0)


def test_input_errors() -> None:
    returns = sp500()
    allocator = create_allocator("min_variance")
    with pytest.raises(ConfigError, match="forecasts"):
        allocator.weights(returns, np.ones(3), Constraints(), None)
    with pytest.raises(ConfigError, match="previous"):
        allocator.weights(returns, None, Constraints(), np.ones(2))
    with pytest.raises(ConfigError, match="budget"):
        allocator.weights(returns, None, Constraints(max_weight=0.1), None)
    # holdings far outside the bounds: brought back inside, not an error
    limits = Constraints(max_turnover=0.1)
    drifted = create_allocator("kelly").weights(returns, np.ones(6), limits, np.full(6, 5.0))
    assert limits.violations(drifted) == []
