"""Numba kernels for the validator's sequential rules (jump reference, rolling median/MAD).

They live apart so the numba compile cache (``cache=True``) is keyed on a small, stable module.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from neo.domain.bar import BoolArray, FloatArray, IntArray

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


@njit(cache=True)
def jump_scan(
    close: FloatArray, limit: float, prev_close: float, confirm: bool, final: bool
) -> tuple[BoolArray, BoolArray, float, int]:
    """The jump rule over the candidate closes, resumable across chunks.

    A close that moved more than ``limit`` from the previous accepted close (the reference)
    is a *jump*. With ``confirm`` the next close decides: if it agrees with the jump (within
    ``limit`` of it) the level really moved, so the jump bar is kept and flagged in
    ``confirmed``; otherwise (it reverts, or jumps again) the jump bar is an isolated spike and
    is rejected. Without ``confirm`` every jump is rejected.

    Returns ``(rejected, confirmed, reference, settled)``: rows from ``settled`` on are not
    decided yet (only when ``final`` is False and the last row is a jump awaiting its next
    bar); ``reference`` is the accepted close before row ``settled``, to resume from.
    """
    n = close.shape[0]
    rejected = np.zeros(n, dtype=np.bool_)
    confirmed = np.zeros(n, dtype=np.bool_)
    ref = prev_close
    for i in range(n):
        price = close[i]
        if np.isnan(ref) or abs(price / ref - 1.0) <= limit:
            ref = price
            continue
        if confirm:
            if i + 1 >= n:
                if not final:
                    return rejected, confirmed, ref, i
            elif abs(close[i + 1] / price - 1.0) <= limit:
                confirmed[i] = True
                ref = price
                continue
        rejected[i] = True
    return rejected, confirmed, ref, n


@njit(cache=True)
def jump_mask(close: FloatArray, limit: float, prev_close: float, confirm: bool) -> BoolArray:
    """Rows rejected by the jump rule over a whole series (see :func:`jump_scan`)."""
    rejected, _, _, _ = jump_scan(close, limit, prev_close, confirm, True)
    return rejected


@njit(cache=True)
def _exact_mad(buf: FloatArray, window: int, median: float) -> float:
    """Median absolute deviation of a sorted window by merging the two sides outwards."""
    left = (window - 1) // 2
    right = left + 1
    k_hi = window // 2
    k_lo = (window - 1) // 2
    lo_value = 0.0
    value = 0.0
    for k in range(k_hi + 1):
        take_left = right >= window or (left >= 0 and median - buf[left] <= buf[right] - median)
        if take_left:
            value = median - buf[left]
            left -= 1
        else:
            value = buf[right] - median
            right += 1
        if k == k_lo:
            lo_value = value
    return 0.5 * (lo_value + value)


@njit(cache=True)
def _lower_bound(buf: FloatArray, count: int, value: float) -> int:
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) >> 1
        if buf[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _replace(buf: FloatArray, count: int, old: float, value: float) -> None:
    """Swap ``old`` for ``value`` in a sorted buffer, shifting only the rows between them."""
    pos = _lower_bound(buf, count, old)
    if value > old:
        while pos + 1 < count and buf[pos + 1] < value:
            buf[pos] = buf[pos + 1]
            pos += 1
    else:
        while pos > 0 and buf[pos - 1] > value:
            buf[pos] = buf[pos - 1]
            pos -= 1
    buf[pos] = value


@njit(cache=True)
def rolling_robust_zscore(returns: FloatArray, window: int, threshold: float) -> FloatArray:
    """Robust z-score of each return against the ``window`` returns strictly before it.

    Only scores beyond ``threshold`` are computed exactly (the rest stay NaN): a cheap count of
    deviations below the cut proves most rows cannot be anomalies without computing their MAD.
    The window is kept sorted, so each step costs one binary search and a short shift.
    """
    n = returns.shape[0]
    z = np.full(n, np.nan)
    buf = np.empty(window)
    count = 0
    need = (window + 1) // 2
    for i in range(n):
        value = returns[i]
        if count == window:
            if window % 2 == 1:
                median = buf[window // 2]
            else:
                median = 0.5 * (buf[window // 2 - 1] + buf[window // 2])
            cut = abs(value - median) / (threshold * MAD_TO_SIGMA)
            # >= need values within cut of the median <=> the block ending at ``hi`` fits
            hi = _lower_bound(buf, window, median + cut)
            if cut > 0.0 and hi >= need and buf[hi - need] >= median - cut:
                mad = _exact_mad(buf, window, median)
                if mad > 0.0:
                    z[i] = (value - median) / (MAD_TO_SIGMA * mad)
            _replace(buf, window, returns[i - window], value)
        else:
            pos = _lower_bound(buf, count, value)
            for j in range(count, pos, -1):
                buf[j] = buf[j - 1]
            buf[pos] = value
            count += 1
    return z


@njit(cache=True)
def row_flags(
    ts: IntArray,
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    ts_valid: BoolArray,
    origin: int,
    step: int,
    bits: IntArray,
) -> npt.NDArray[np.uint16]:
    """The per-row rules in one pass; ``bits`` holds the flag of invalid_ts, non_finite,
    non_positive_price, negative_volume, ohlc_order and misaligned_ts, in that order."""
    n = ts.shape[0]
    out = np.zeros(n, dtype=np.uint16)
    for i in range(n):
        o, h, lo, c, v = open_[i], high[i], low[i], close[i], volume[i]
        flag = 0
        if not ts_valid[i]:
            flag |= bits[0]
        elif (ts[i] - origin) % step != 0:
            flag |= bits[5]
        finite = np.isfinite(o) and np.isfinite(h) and np.isfinite(lo) and np.isfinite(c)
        if not (finite and np.isfinite(v)):
            flag |= bits[1]
        if o <= 0.0 or h <= 0.0 or lo <= 0.0 or c <= 0.0:
            flag |= bits[2]
        if v < 0.0:
            flag |= bits[3]
        if lo > o or lo > c or h < o or h < c or lo > h:
            flag |= bits[4]
        out[i] = flag
    return out


@njit(cache=True)
def displaced_rows(ts: IntArray) -> int:
    """The fewest rows that must move for ``ts`` to be non-decreasing.

    That is ``n`` minus the longest non-decreasing subsequence (patience sorting, O(n log n)):
    one far-future row at the start counts 1, not the ``n - 1`` rows that follow it.
    """
    n = ts.shape[0]
    tails = np.empty(n, dtype=np.int64)
    size = 0
    for i in range(n):
        value = ts[i]
        lo = 0
        hi = size
        while lo < hi:  # first tail greater than value (equal values may follow each other)
            mid = (lo + hi) >> 1
            if tails[mid] <= value:
                lo = mid + 1
            else:
                hi = mid
        tails[lo] = value
        if lo == size:
            size += 1
    return int(n - size)
