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


def reference_hrp(cov: np.ndarray) -> np.ndarray:
    """López de Prado's HRP written out independently: angular distance of the correlation,
    Ward linkage with optimal leaf order (skfolio's defaults), then recursive bisection that
    splits each cluster's weight by the inverse variance of its inverse-variance portfolio."""
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import squareform

    vol = np.sqrt(np.diag(cov))
    corr = np.clip(cov / np.outer(vol, vol), -1.0, 1.0)
    distance = np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, None))
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(distance, checks=False)
    linkage = hierarchy.optimal_leaf_ordering(hierarchy.linkage(condensed, "ward"), condensed)
    order = list(hierarchy.leaves_list(linkage))
    weights = np.ones(len(cov))

    def cluster_variance(items: list[int]) -> float:
        sub = cov[np.ix_(items, items)]
        inverse = 1.0 / np.diag(sub)
        w = inverse / inverse.sum()
        return float(w @ sub @ w)

    clusters = [order]
    while clusters:
        nxt = []
        for items in clusters:
            if len(items) < 2:
                continue
            left, right = items[: len(items) // 2], items[len(items) // 2 :]
            v_left, v_right = cluster_variance(left), cluster_variance(right)
            alpha = 1.0 - v_left / (v_left + v_right)
            weights[left] *= alpha
            weights[right] *= 1.0 - alpha
            nxt += [left, right]
        clusters = nxt
    return weights / weights.sum()


def test_hrp_on_correlated_stocks_matches_an_independent_implementation() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    assert np.abs(np.corrcoef(returns.T) - np.eye(6)).max() > 0.3  # really correlated
    ours = create_allocator("hrp").weights(returns, None, Constraints(), None)
    np.testing.assert_allclose(ours, reference_hrp(cov), atol=1e-8)
    # and a synthetic 8-asset market with two correlated blocks
    rng = np.random.default_rng(11)
    block = rng.normal(0, 0.01, (600, 2))
    synthetic = np.repeat(block, 4, axis=1) + rng.normal(0, 0.006, (600, 8)) * np.linspace(
        0.5, 2.0, 8
    )
    mine = create_allocator("hrp").weights(synthetic, None, Constraints(), None)
    np.testing.assert_allclose(mine, reference_hrp(np.cov(synthetic.T)), atol=1e-8)


def test_kelly_with_constraints_matches_cvxpy() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    mu = np.array([8e-4, -2e-4, 6e-4, 3e-4, 9e-4, 1e-4])
    previous = np.array([0.1, 0.3, 0.0, 0.2, 0.1, 0.0])
    limits = Constraints(max_weight=0.4, max_gross_leverage=1.0, max_turnover=0.5)
    ours = create_allocator("kelly", fraction=0.5).weights(returns, mu, limits, previous)
    w = cp.Variable(6)
    growth = mu @ w - cp.quad_form(w, cp.psd_wrap(cov)) / (2 * 0.5)
    ref = solve(
        cp.Maximize(growth),
        [w >= 0, w <= 0.4, cp.norm1(w) <= 1.0, cp.sum(w) <= 1.0, cp.norm1(w - previous) <= 0.5],
        w,
    )

    def value(x: np.ndarray) -> float:
        return float(mu @ x - x @ cov @ x)

    assert value(ours) == pytest.approx(value(ref), rel=1e-4)
    np.testing.assert_allclose(ours, ref, atol=2e-3)
    assert np.abs(ours - previous).sum() <= 0.5 + 1e-6  # the limit binds and holds


def reference_max_sharpe(
    mu: np.ndarray, cov: np.ndarray, limits: list[object], w: cp.Variable
) -> float:
    """The best Sharpe ratio by bisection on its level s: the largest margin
    ``mu·w - s·|Lᵀw|`` over the feasible set is >= 0 exactly when some allocation reaches s
    (a second-order cone program per level; independent of the Charnes-Cooper transform)."""
    scale = 1.0 / np.abs(mu).mean()  # both sides scaled alike: same s, better conditioning
    chol = np.linalg.cholesky(cov) * scale
    target = mu * scale
    low, high = 0.0, 1.0
    for _ in range(40):
        level = (low + high) / 2
        margin = target @ w - level * cp.norm(chol.T @ w, 2)
        problem = cp.Problem(cp.Maximize(margin), limits)  # type: ignore[arg-type]
        problem.solve(solver=cp.CLARABEL)
        assert problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
        low, high = (level, high) if problem.value >= 0 else (low, level)
    return low


@pytest.mark.parametrize("turnover", [None, 0.3])
def test_max_sharpe_with_bounds_and_turnover_matches_an_independent_solution(
    turnover: float | None,
) -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    mu = np.array([6e-4, 1e-4, 5e-4, -1e-4, 7e-4, 2e-4])
    previous = np.full(6, 1 / 6)
    limits = Constraints(max_weight=0.35, max_turnover=turnover)
    ours = create_allocator("max_sharpe").weights(returns, mu, limits, previous)
    w = cp.Variable(6)
    bounds: list[object] = [w >= 0, w <= 0.35, cp.sum(w) == 1]
    if turnover is not None:
        bounds.append(cp.norm1(w - previous) <= turnover)
        assert np.abs(ours - previous).sum() <= turnover + 1e-6
    best = reference_max_sharpe(mu, cov, bounds, w)

    def sharpe(x: np.ndarray) -> float:
        return float(mu @ x / np.sqrt(x @ cov @ x))

    assert sharpe(ours) == pytest.approx(best, rel=1e-4)
    assert ours.max() <= 0.35 + 1e-6 and ours.sum() == pytest.approx(1.0, abs=1e-6)
    if turnover is not None:  # better than stepping toward the unconstrained optimum
        free = create_allocator("max_sharpe").weights(
            returns, mu, Constraints(max_weight=0.35), None
        )
        blended = previous + (free - previous) * min(1.0, turnover / np.abs(free - previous).sum())
        assert sharpe(ours) >= sharpe(blended) - 1e-9


def test_risk_parity_matches_the_cvxpy_log_barrier_solution() -> None:
    returns = sp500()
    cov = np.cov(returns.T)
    budget = np.array([0.3, 0.1, 0.2, 0.1, 0.2, 0.1])
    ours = create_allocator("risk_parity", risk_budget=tuple(budget)).weights(
        returns, None, Constraints(budget=0.9), None
    )
    y = cp.Variable(6)
    raw = solve(
        cp.Minimize(0.5 * cp.quad_form(y, cp.psd_wrap(cov)) - budget @ cp.log(y)), [y >= 1e-9], y
    )
    np.testing.assert_allclose(ours, 0.9 * raw / raw.sum(), rtol=5e-4)
    contributions = ours * (cov @ ours)
    np.testing.assert_allclose(contributions / contributions.sum(), budget, rtol=1e-3)


def test_capped_risk_parity_matches_the_homogenised_cvxpy_problem() -> None:
    """With a binding cap, risk budgeting among the assets the cap leaves free: the solution of
    min ½ yᵀΣy − bᵀlog y subject to y_i <= cap · Σy (the cap made scale-free), normalised."""
    returns = sp500()
    cov = np.cov(returns.T)
    free = create_allocator("risk_parity").weights(returns, None, Constraints(), None)
    cap = 0.8 * float(free.max())  # binds on the largest weight
    ours = create_allocator("risk_parity").weights(returns, None, Constraints(max_weight=cap), None)
    y = cp.Variable(6)
    objective = 0.5 * cp.quad_form(y, cp.psd_wrap(cov)) - np.full(6, 1 / 6) @ cp.log(y)
    raw = solve(cp.Minimize(objective), [y >= 1e-9, y <= cap * cp.sum(y)], y)
    np.testing.assert_allclose(ours, raw / raw.sum(), rtol=2e-3, atol=1e-5)
    assert ours.max() == pytest.approx(cap, rel=1e-6) and ours.sum() == pytest.approx(1.0)
    clipped = np.minimum(free, cap)  # what capping after the fact would have started from
    assert not np.allclose(ours, clipped / clipped.sum(), rtol=1e-3)
