"""Every allocator respects its constraints on random covariance structures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.domain.errors import ConfigError
from neo.portfolio import create_allocator
from neo.portfolio.allocators import ALLOCATORS
from neo.portfolio.constraints import (
    Box,
    Constraints,
    fit_to_bounds,
    limit_turnover,
    turnover_room,
)

FULLY_INVESTED = {
    "equal_weight",
    "inverse_volatility",
    "min_variance",
    "max_sharpe",
    "risk_parity",
    "hrp",
}


@st.composite
def markets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Returns with a random factor structure (so a random covariance) and random forecasts."""
    n_assets = draw(st.integers(3, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    loadings = rng.normal(0, 1, (n_assets, 2))
    vols = rng.uniform(0.005, 0.04, n_assets)
    factors = rng.normal(0, 0.01, (120, 2))
    returns = factors @ loadings.T + rng.normal(0, 1, (120, n_assets)) * vols
    forecasts = rng.normal(2e-4, 5e-4, n_assets)
    return returns, forecasts


@st.composite
def limits(draw: st.DrawFn, n_assets: int) -> Constraints:
    long_only = draw(st.booleans())
    gross = draw(st.floats(1.0, 2.0))
    max_weight = draw(st.floats(max(1.0 / n_assets + 0.05, 0.3), 0.9))
    min_weight = 0.0 if long_only else -draw(st.floats(0.05, 0.5))
    turnover = draw(st.none() | st.floats(0.05, 1.0))
    return Constraints(
        long_only=long_only,
        min_weight=min_weight,
        max_weight=max_weight,
        budget=1.0,
        max_gross_leverage=gross,
        max_net_leverage=1.0,
        max_turnover=turnover,
    )


@pytest.mark.parametrize("name", sorted(ALLOCATORS))
@settings(max_examples=8, deadline=None)
@given(market=markets(), data=st.data())
def test_constraints_hold(
    name: str, market: tuple[np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    returns, forecasts = market
    n_assets = returns.shape[1]
    constraints = data.draw(limits(n_assets))
    previous = data.draw(
        st.sampled_from([None, np.zeros(n_assets), np.full(n_assets, 1 / n_assets)])
        | st.lists(st.floats(-1.5, 1.5), min_size=n_assets, max_size=n_assets).map(np.array)
    )  # the last: drifted holdings, often outside every bound
    weights = (
        create_allocator(name, target_vol=0.01).weights(returns, forecasts, constraints, previous)
        if name == "target_volatility"
        else create_allocator(name).weights(returns, forecasts, constraints, previous)
    )
    assert weights.shape == (n_assets,)
    allocator = create_allocator(name)
    box = allocator.box(constraints, n_assets)  # type: ignore[attr-defined]
    # every bound holds whatever the holdings were
    assert constraints.violations(weights, None, tol=1e-5) == []
    if previous is not None and constraints.max_turnover is not None:
        # turnover within the limit, or within what bringing the holdings back inside costs
        _, _, allowed = turnover_room(previous, box, constraints.max_turnover)
        assert np.abs(weights - previous).sum() <= allowed + 1e-5
        if box.holds(previous):
            assert allowed == constraints.max_turnover
    if name in FULLY_INVESTED and (constraints.max_turnover is None or previous is None):
        assert weights.sum() == pytest.approx(1.0, abs=1e-5)


def test_violations_names_each_broken_limit() -> None:
    c = Constraints(
        long_only=False,
        min_weight=-0.2,
        max_weight=0.5,
        max_gross_leverage=1.0,
        max_net_leverage=0.6,
        budget=0.5,
        max_turnover=0.1,
    )
    assert c.violations(np.array([0.6, -0.3, 0.3]), np.zeros(3)) == [
        "min_weight",
        "max_weight",
        "max_gross_leverage",
        "max_turnover",
    ]
    assert c.violations(np.array([0.5, 0.5, 0.0])) == ["max_net_leverage"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_gross_leverage": 0.0}, "max_gross_leverage"),
        ({"max_net_leverage": 3.0}, "max_net_leverage"),
        ({"budget": 1.5}, "budget"),
        ({"long_only": True, "budget": -0.5, "max_net_leverage": 1.0}, "long-only"),
        ({"max_turnover": 0.0}, "max_turnover"),
    ],
)
def test_invalid_constraints(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Constraints(**kwargs)  # type: ignore[arg-type]


def test_per_asset_bounds() -> None:
    c = Constraints(min_weight=(0.1, 0.0, 0.0), max_weight=(0.2, 1.0, 0.3))
    lower, upper = c.bounds(3)
    assert lower.tolist() == [0.1, 0.0, 0.0] and upper.tolist() == [0.2, 1.0, 0.3]
    with pytest.raises(ConfigError, match="3 values for 2"):
        c.bounds(2)
    with pytest.raises(ConfigError, match="exceeds max_weight"):
        Constraints(min_weight=(0.5, 0.0), max_weight=(0.4, 1.0)).bounds(2)


def test_limit_turnover_and_fit_to_bounds() -> None:
    target, previous = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(limit_turnover(target, previous, 0.5), [0.25, 0.75])
    assert limit_turnover(target, None, 0.5) is target
    assert limit_turnover(target, previous, 5.0) is target
    fitted = fit_to_bounds(np.array([0.7, 0.2, 0.1]), np.zeros(3), np.full(3, 0.4), 1.0)
    np.testing.assert_allclose(fitted, [0.4, 0.4, 0.2])


@pytest.mark.parametrize("name", sorted(ALLOCATORS))
def test_drifted_holdings_above_a_cap_are_brought_back(name: str) -> None:
    """The audit's case: [0.8, 0.1, 0.1] held under max_weight=0.5 with a turnover limit."""
    rng = np.random.default_rng(2)
    returns = rng.normal(3e-4, 0.01, (200, 3)) * np.array([1.0, 1.5, 2.0])
    limits = Constraints(max_weight=0.5, max_turnover=0.1)
    drifted = np.array([0.8, 0.1, 0.1])
    weights = (
        create_allocator(name, target_vol=0.01)
        if name == "target_volatility"
        else create_allocator(name)
    ).weights(returns, np.array([4e-4, 3e-4, 2e-4]), limits, drifted)
    assert weights.max() <= 0.5 + 1e-6 and weights.min() >= -1e-9
    # back to the cap costs 0.3 of turnover; no more than that is spent
    assert np.abs(weights - drifted).sum() <= 0.3 + 1e-6


def test_box_anchor_and_limit_turnover_from_outside() -> None:
    box = Box(np.zeros(3), np.full(3, 0.5), 1.0, 1.0)
    np.testing.assert_allclose(box.anchor(np.array([0.8, 0.1, 0.1])), [0.5, 0.1, 0.1])
    over = box.anchor(np.array([0.5, 0.5, 0.5]))  # gross 1.5 > 1: pulled toward cash
    assert box.holds(over) and np.abs(over).sum() == pytest.approx(1.0, abs=1e-8)
    moved = limit_turnover(np.array([0.3, 0.3, 0.3]), np.array([0.8, 0.1, 0.1]), 0.1, box)
    assert box.holds(moved)
    np.testing.assert_allclose(moved, [0.5, 0.1, 0.1])  # all the room went to the cap
