from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf

from neo.domain.errors import ConfigError
from neo.portfolio.covariance import estimate_covariance

RNG = np.random.default_rng(7)
RETURNS = RNG.normal(0.0005, 0.01, size=(250, 4)) @ (np.eye(4) + 0.4)


def test_sample_is_the_unbiased_covariance() -> None:
    np.testing.assert_allclose(
        estimate_covariance(RETURNS, "sample"), np.cov(RETURNS.T), rtol=1e-10
    )


def test_ewma_weights_recent_bars_by_half_life() -> None:
    half_life = 20.0
    decay = 0.5 ** (1.0 / half_life)
    weights = decay ** np.arange(len(RETURNS) - 1, -1, -1)
    expected = (RETURNS * weights[:, None]).T @ RETURNS / weights.sum()
    np.testing.assert_allclose(estimate_covariance(RETURNS, "ewma", half_life), expected, rtol=1e-8)


def test_ewma_reacts_to_a_recent_shock_more_than_sample() -> None:
    shocked = RETURNS.copy()
    shocked[-5:, 0] *= 10
    ratio_ewma = (
        estimate_covariance(shocked, "ewma", 10)[0, 0]
        / estimate_covariance(RETURNS, "ewma", 10)[0, 0]
    )
    ratio_sample = np.cov(shocked.T)[0, 0] / np.cov(RETURNS.T)[0, 0]
    assert ratio_ewma > ratio_sample


def test_ledoit_wolf_matches_sklearn_and_shrinks() -> None:
    few = RETURNS[:30]
    reference, shrinkage = ledoit_wolf(few)
    ours = estimate_covariance(few, "ledoit_wolf")
    np.testing.assert_allclose(ours, reference, rtol=1e-8)
    assert 0 < shrinkage < 1
    sample = np.cov(few.T, ddof=0)
    off = ~np.eye(4, dtype=bool)
    assert np.abs(ours[off]).sum() < np.abs(sample[off]).sum()


@pytest.mark.parametrize(
    ("returns", "method", "message"),
    [
        (np.zeros(5), "sample", "T×N"),
        (np.zeros((1, 3)), "sample", "at least 2"),
        (np.full((5, 2), np.nan), "sample", "NaN"),
        (np.zeros((5, 2)), "median", "unknown covariance"),
    ],
)
def test_bad_input(returns: np.ndarray, method: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        estimate_covariance(returns, method)


def test_bad_half_life() -> None:
    with pytest.raises(ConfigError, match="half_life"):
        estimate_covariance(RETURNS, "ewma", 0.0)
