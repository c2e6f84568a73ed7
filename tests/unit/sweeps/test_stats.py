"""Deflated Sharpe ratio and PBO against the papers' numbers and a brute-force CSCV."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import rankdata

from neo.domain.errors import ConfigError
from neo.sweeps.stats import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_from_moments,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)


def test_deflated_sharpe_matches_the_papers_numerical_example() -> None:
    # Bailey & López de Prado (2014), section 3: annualised SR 2.5 over 5 years of daily
    # returns (T = 1250), N = 100 trials with annualised variance 0.5, skew -3, kurtosis 10:
    # SR0 = 0.1132 per day and DSR = 0.9004.
    variance = 0.5 / 250
    benchmark = expected_max_sharpe(100, variance)
    assert benchmark == pytest.approx(0.1132, abs=5e-4)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(250), benchmark, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_expected_maximum_agrees_with_simulated_maxima() -> None:
    rng = np.random.default_rng(3)
    for trials in (10, 100, 1000):
        simulated = rng.standard_normal((4000, trials)).max(axis=1).mean()
        assert expected_max_sharpe(trials, 1.0) == pytest.approx(simulated, rel=0.03)


def test_psr_of_normal_returns_is_the_textbook_z_score() -> None:
    sharpe, n = 0.08, 500
    z = sharpe * math.sqrt(n - 1) / math.sqrt(1 + sharpe**2 / 2)
    assert probabilistic_sharpe_ratio(sharpe, 0.0, n, 0.0, 3.0) == pytest.approx(
        0.5 * math.erfc(-z / math.sqrt(2))
    )


def test_deflated_sharpe_uses_the_variance_of_all_trials() -> None:
    trials = np.array([0.01, 0.05, -0.02, 0.08, 0.03])
    result = deflated_sharpe_ratio(0.08, trials, 1000, 0.1, 4.0)
    assert result.trials == 5
    assert result.benchmark == pytest.approx(expected_max_sharpe(5, np.var(trials, ddof=1)))
    assert 0.0 < result.dsr < probabilistic_sharpe_ratio(0.08, 0.0, 1000, 0.1, 4.0)
    with pytest.raises(ConfigError):
        deflated_sharpe_ratio(0.1, [np.nan], 100)


def brute_force_pbo(matrix: np.ndarray, blocks: int) -> tuple[float, np.ndarray]:
    """CSCV written straight from the paper: rows, np.std, scipy's rankdata."""
    rows = matrix.shape[0] - matrix.shape[0] % blocks
    parts = np.split(matrix[matrix.shape[0] - rows :], blocks)
    logits = []
    for chosen in combinations(range(blocks), blocks // 2):
        train = np.vstack([parts[k] for k in chosen])
        test = np.vstack([parts[k] for k in range(blocks) if k not in chosen])
        is_sharpe = train.mean(axis=0) / train.std(axis=0, ddof=1)
        oos_sharpe = test.mean(axis=0) / test.std(axis=0, ddof=1)
        best = int(np.argmax(is_sharpe))
        omega = rankdata(oos_sharpe)[best] / (matrix.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
    values = np.array(logits)
    return float(np.mean(values <= 0)), values


def test_pbo_equals_a_brute_force_cscv() -> None:
    rng = np.random.default_rng(11)
    matrix = rng.normal(0.0, 0.01, (203, 12)) + np.linspace(-1e-3, 1e-3, 12)
    expected, logits = brute_force_pbo(matrix, 8)
    result = probability_of_backtest_overfitting(matrix, blocks=8)
    assert result.splits == 70
    assert result.pbo == pytest.approx(expected)
    np.testing.assert_allclose(result.logits, logits, rtol=1e-9)


def test_pbo_is_near_one_half_for_noise_and_zero_for_a_real_edge() -> None:
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.01, (1600, 50))
    assert 0.2 < probability_of_backtest_overfitting(noise).pbo < 0.8
    edge = noise.copy()
    edge[:, 7] += 0.004  # one configuration really is better, in every block
    assert probability_of_backtest_overfitting(edge).pbo == 0.0


def test_pbo_is_one_when_in_sample_winners_always_lose() -> None:
    # Each configuration is good in exactly one block and bad elsewhere: the in-sample winner
    # is always the one whose good block is in-sample, so it is bad out of sample.
    blocks = 4
    matrix = np.full((blocks * 10, blocks), -0.001) + np.tile([[0.0], [1e-4]], (blocks * 5, blocks))
    for k in range(blocks):
        matrix[k * 10 : (k + 1) * 10, k] += 0.01
    assert probability_of_backtest_overfitting(matrix, blocks=blocks).pbo == 1.0


def test_pbo_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="even number"):
        probability_of_backtest_overfitting(np.zeros((10, 3)), blocks=3)
    with pytest.raises(ConfigError, match="at least"):
        probability_of_backtest_overfitting(np.zeros((3, 3)), blocks=4)
    with pytest.raises(ConfigError, match="two configurations"):
        pbo_from_moments(np.ones((4, 1)), np.ones((4, 1)), np.ones((4, 1)))
    with pytest.raises(ConfigError, match="matrix"):
        probability_of_backtest_overfitting(np.zeros(10), blocks=2)
