"""How much to believe the winner of a sweep: deflated Sharpe ratio and PBO.

Trying many configurations and keeping the best one inflates its Sharpe ratio; these two
statistics say by how much.

* :func:`deflated_sharpe_ratio` (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014):
  the probability that the winner's true Sharpe ratio exceeds the best one expected from
  ``trials`` unskilled configurations, given the non-normality (skew, kurtosis) and length of
  its returns. All Sharpe ratios here are per observation (not annualised).
* :func:`probability_of_backtest_overfitting` (Bailey, Borwein, López de Prado & Zhu, "The
  Probability of Backtest Overfitting", 2015): combinatorially symmetric cross-validation
  (CSCV). The observations are cut into ``S`` blocks; for every way to pick ``S/2`` of them as
  in-sample, the configuration best in-sample is ranked out-of-sample; PBO is the share of
  splits where it lands in the bottom half (logit of its relative rank ≤ 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError

EULER_GAMMA = 0.5772156649015329
MAX_SPLITS_PER_STEP = 2048
"""CSCV splits evaluated at once (bounds memory to splits × configurations floats)."""


def expected_max_sharpe(trials: int, variance: float) -> float:
    """Expected maximum Sharpe ratio of ``trials`` unskilled configurations whose Sharpe
    estimates vary with ``variance`` (the False Strategy theorem's approximation)."""
    if trials < 1:
        raise ConfigError(f"trials must be >= 1, got {trials}")
    if trials == 1 or variance <= 0.0:
        return 0.0
    z_first = norm.ppf(1.0 - 1.0 / trials)
    z_second = norm.ppf(1.0 - 1.0 / (trials * math.e))
    return float(math.sqrt(variance) * ((1.0 - EULER_GAMMA) * z_first + EULER_GAMMA * z_second))


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, observations: int, skew: float, kurtosis: float
) -> float:
    """P(true Sharpe > ``benchmark``) for an observed per-observation ``sharpe`` over
    ``observations`` returns with the given skew and (non-excess) kurtosis."""
    if observations < 2:
        return float("nan")
    spread = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if spread <= 0.0 or not math.isfinite(spread):
        return float("nan")
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(spread)
    return float(norm.cdf(z))


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The winner's deflated Sharpe ratio and what went into it (per-observation Sharpe)."""

    dsr: float
    sharpe: float
    benchmark: float
    trials: int
    observations: int
    skew: float
    kurtosis: float


def deflated_sharpe_ratio(
    sharpe: float,
    trial_sharpes: npt.ArrayLike,
    observations: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> DeflatedSharpe:
    """The DSR of a winner with per-observation ``sharpe`` chosen among ``trial_sharpes``
    (every configuration tried, the winner included)."""
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    trials = trials[np.isfinite(trials)]
    if trials.size == 0:
        raise ConfigError("no finite trial Sharpe ratios to deflate against")
    variance = float(np.var(trials, ddof=1)) if trials.size > 1 else 0.0
    benchmark = expected_max_sharpe(int(trials.size), variance)
    dsr = probabilistic_sharpe_ratio(sharpe, benchmark, observations, skew, kurtosis)
    return DeflatedSharpe(
        dsr=dsr,
        sharpe=sharpe,
        benchmark=benchmark,
        trials=int(trials.size),
        observations=observations,
        skew=skew,
        kurtosis=kurtosis,
    )


@dataclass(frozen=True, slots=True)
class Overfitting:
    """CSCV's result: PBO and the logit of the in-sample winner's out-of-sample rank for
    every split (``logits <= 0``: it did worse than the median configuration)."""

    pbo: float
    logits: FloatArray
    splits: int
    blocks: int

    @property
    def median_logit(self) -> float:
        return float(np.median(self.logits))


def block_moments(returns: npt.ArrayLike, blocks: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per block of rows and per column: count, sum and sum of squares of ``returns``
    (T × N); the first ``T mod blocks`` rows are left out so blocks are equal."""
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.ndim != 2:
        raise ConfigError(f"returns must be a T x N matrix, got shape {matrix.shape}")
    rows = matrix.shape[0] - matrix.shape[0] % blocks
    if rows < blocks:
        raise ConfigError(f"need at least {blocks} observations for {blocks} blocks")
    parts = matrix[matrix.shape[0] - rows :].reshape(blocks, rows // blocks, matrix.shape[1])
    counts = np.full(parts.shape[::2], float(rows // blocks))
    return counts, parts.sum(axis=1), (parts * parts).sum(axis=1)


def probability_of_backtest_overfitting(returns: npt.ArrayLike, blocks: int = 16) -> Overfitting:
    """CSCV on a T × N matrix of returns (one column per configuration, rows in time order),
    performance measured by the Sharpe ratio of each half's rows."""
    _check_blocks(blocks)
    return pbo_from_moments(*block_moments(returns, blocks))


def pbo_from_moments(counts: FloatArray, sums: FloatArray, squares: FloatArray) -> Overfitting:
    """CSCV from per-block moments (blocks × configurations each): count, sum and sum of
    squares of the returns in each block. Equal to :func:`probability_of_backtest_overfitting`
    on the rows behind them, without keeping the rows."""
    blocks, configs = sums.shape
    _check_blocks(blocks)
    if configs < 2:
        raise ConfigError("PBO needs at least two configurations")
    chosen = np.array(list(combinations(range(blocks), blocks // 2)), dtype=np.int64)
    mask = np.zeros((len(chosen), blocks))
    np.put_along_axis(mask, chosen, 1.0, axis=1)
    logits = np.empty(len(chosen))
    for start in range(0, len(chosen), MAX_SPLITS_PER_STEP):
        part = mask[start : start + MAX_SPLITS_PER_STEP]
        inside = _sharpe(part @ counts, part @ sums, part @ squares)
        outside = _sharpe((1 - part) @ counts, (1 - part) @ sums, (1 - part) @ squares)
        winner = np.argmax(inside, axis=1)
        best_out = outside[np.arange(len(part)), winner][:, None]
        # rank 1..N of the winner out of sample (ties share the average rank)
        rank = (outside < best_out).sum(axis=1) + ((outside == best_out).sum(axis=1) + 1) / 2.0
        omega = rank / (configs + 1.0)
        logits[start : start + len(part)] = np.log(omega / (1.0 - omega))
    return Overfitting(
        pbo=float(np.mean(logits <= 0.0)), logits=logits, splits=len(chosen), blocks=blocks
    )


def _sharpe(counts: FloatArray, sums: FloatArray, squares: FloatArray) -> FloatArray:
    """Per-observation Sharpe ratio from moments (sample std); 0 where the std is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
        variance = np.maximum(squares - sums * mean, 0.0) / (counts - 1.0)
        std = np.sqrt(variance)
        ratio: FloatArray = np.where(std > 0.0, mean / std, 0.0)
    return ratio


def _check_blocks(blocks: int) -> None:
    if blocks < 2 or blocks % 2:
        raise ConfigError(f"CSCV needs an even number of blocks >= 2, got {blocks}")
