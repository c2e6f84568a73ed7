"""The figures of one window's backtest, split into its in-sample and out-of-sample parts.

One compiled pass over the equity curve gives, per part: the return power sums (pooled later
across windows and symbols for the deflated Sharpe ratio's skew and kurtosis), the total
return and the maximum drawdown; and, over the whole window, per-block moments of the returns
for PBO. Per-bar returns are ``equity[i] / equity[i-1] - 1`` with the starting cash before the
first bar (0 where the previous equity is not positive: a wiped-out account earns nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from neo.domain.bar import FloatArray

PART_FIELDS = ("n", "s1", "s2", "s3", "s4", "total_return", "max_drawdown")


@njit(cache=True, nogil=True)
def _segment_kernel(equity: FloatArray, cash: float, split: int, blocks: int) -> FloatArray:
    """One pass over stretches where both the part (in/out of sample) and the block are
    constant: ``out[0:7]`` and ``out[7:14]`` the parts, then (n, sum, sum of squares) per
    block. Bar ``i`` is in block ``i * blocks // n``."""
    n = equity.shape[0]
    out = np.zeros(14 + 3 * blocks)
    previous = cash
    peak = cash
    worst = 0.0
    start = 0
    for block in range(blocks):
        block_stop = -((-(block + 1) * n) // blocks)
        while start < block_stop:
            if start == split:  # the test part starts: its drawdown from its first equity
                out[5] = previous / cash - 1.0 if cash > 0.0 else 0.0
                out[6] = worst
                out[12] = previous
                peak = previous
                worst = 0.0
            part = 0 if start < split else 7
            stop = split if start < split < block_stop else block_stop
            s1 = s2 = s3 = s4 = 0.0
            for i in range(start, stop):
                value = equity[i]
                r = value / previous - 1.0 if previous > 0.0 else 0.0
                r2 = r * r
                s1 += r
                s2 += r2
                s3 += r2 * r
                s4 += r2 * r2
                if value > peak:
                    peak = value
                elif peak > 0.0 and value < peak * (1.0 + worst):
                    worst = value / peak - 1.0
                previous = value
            out[part] += stop - start
            out[part + 1] += s1
            out[part + 2] += s2
            out[part + 3] += s3
            out[part + 4] += s4
            out[14 + 3 * block] += stop - start
            out[15 + 3 * block] += s1
            out[16 + 3 * block] += s2
            start = stop
    out[12] = previous / out[12] - 1.0 if out[12] > 0.0 else 0.0
    out[13] = worst
    return out


@dataclass(frozen=True, slots=True)
class PartStats:
    """Return power sums, total return and maximum drawdown of one part of a window."""

    n: int
    s1: float
    s2: float
    s3: float
    s4: float
    total_return: float
    max_drawdown: float

    @property
    def sharpe_per_bar(self) -> float:
        """Mean over sample std of the per-bar returns (NaN with < 2 bars, 0 when flat)."""
        if self.n < 2:
            return math.nan
        mean = self.s1 / self.n
        variance = max(self.s2 - self.s1 * mean, 0.0) / (self.n - 1)
        return mean / math.sqrt(variance) if variance > 0.0 else 0.0


@dataclass(frozen=True, slots=True)
class WindowStats:
    in_sample: PartStats
    out_of_sample: PartStats
    block_n: FloatArray
    block_sum: FloatArray
    block_sumsq: FloatArray


def window_stats(equity: FloatArray, cash: float, split: int, blocks: int) -> WindowStats:
    """The window's figures; bars ``[0, split)`` are in-sample, ``[split, len)`` out."""
    values = np.ascontiguousarray(equity, dtype=np.float64)
    if not 0 < split < len(values):
        raise ValueError(f"split {split} must fall inside the {len(values)} bars")
    raw = _segment_kernel(values, float(cash), int(split), int(blocks))
    parts = [PartStats(int(raw[b]), *(float(x) for x in raw[b + 1 : b + 7])) for b in (0, 7)]
    moments = raw[14:].reshape(blocks, 3)
    return WindowStats(
        parts[0], parts[1], moments[:, 0].copy(), moments[:, 1].copy(), moments[:, 2].copy()
    )


def annualised_sharpe(part: PartStats, periods_per_year: float) -> float:
    return part.sharpe_per_bar * math.sqrt(periods_per_year)
