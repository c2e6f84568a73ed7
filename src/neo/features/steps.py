"""The one definition of the recursive indicators (EMA, Wilder RSI, Wilder ATR, volatility).

Each indicator is a scalar *update* on explicit state ``s`` (a float64 array in numba, a list
or array in Python) at offset ``o``, returning the value for the bar or NaN during warm-up.
:mod:`neo.features.kernels` compiles these very functions with numba for the feature pipeline;
:mod:`neo.strategies.indicators` and the stop manager (:mod:`neo.risk.stop_manager`) run them
as plain Python (or compiled, when numba is already loaded), so the event path never pays
numba's import. Same source, same IEEE operations in the same order (no fast-math): every caller
gets the same bits, batch or one bar at a time.

Conventions are explicit parameters, with the defaults of TA-Lib:

* **EMA seed** (``first_seed``): False — the first value is the mean of the first ``period``
  inputs, at input ``period - 1`` (TA-Lib, and the SMA seed of most charting tools); True — the
  first input itself, from input 0 (pandas ``ewm(adjust=False)``, backtesting.py's examples).
  Either way ``ema = (x - ema) × alpha + ema`` with ``alpha = 2 / (period + 1)``.
* **RSI** uses Wilder's smoothing (``(avg × (period - 1) + x) / period``) seeded with the mean
  of the first ``period`` moves; ``rsi = 100 × gain / (gain + loss)``. When ``gain + loss`` is
  within ``epsilon`` of 0 (no movement) the value is ``flat``: TA-Lib says 0 (``epsilon`` 1e-8);
  the strategies say 100 (``epsilon`` 0: only an exactly flat window).
* **ATR** is Wilder's (TA-Lib ``ATR``): true ranges from the second bar on, the first value the
  mean of the first ``period`` of them (at bar ``period``), then Wilder's smoothing.
* **Volatility** is the sample standard deviation (ddof 1) of the last ``window`` one-bar log
  returns ``log(close / previous)``, summed oldest first.

Sums are plain left-to-right float additions (as TA-Lib does them), never ``math.fsum``, which
numba lacks.
"""

from __future__ import annotations

import math
from typing import Any

TA_EPSILON = 1e-8
"""TA-Lib's ``TA_IS_ZERO`` threshold."""


def ema_next(previous: float, x: float, alpha: float) -> float:
    """One EMA step (TA-Lib's form)."""
    return (x - previous) * alpha + previous


def wilder_next(previous: float, x: float, period: int) -> float:
    """One step of Wilder's smoothing (an EMA with alpha = 1 / period, TA-Lib's form)."""
    return (previous * (period - 1) + x) / period


def rsi_value(gain: float, loss: float, epsilon: float, flat: float) -> float:
    """RSI from the smoothed gain and loss; ``flat`` when they sum to (nearly) zero."""
    total = gain + loss
    if total == 0.0 or -epsilon < total < epsilon:
        return flat
    return 100.0 * (gain / total)


def true_range(high: float, low: float, previous_close: float) -> float:
    return max(high - low, abs(high - previous_close), abs(low - previous_close))


def ema_update(
    s: Any, i_sum: int, i_ema: int, x: float, m: int, period: int, first_seed: bool
) -> bool:
    """Feed input number ``m`` (from 0) to the EMA kept at ``s[i_ema]`` (``s[i_sum]`` sums the
    seed; both start at 0). True once the EMA is defined."""
    if first_seed:
        s[i_ema] = x if m == 0 else ema_next(s[i_ema], x, 2.0 / (period + 1))
        return True
    if m < period - 1:
        s[i_sum] += x
        return False
    if m == period - 1:
        s[i_ema] = (s[i_sum] + x) / period
        return True
    s[i_ema] = ema_next(s[i_ema], x, 2.0 / (period + 1))
    return True


def rsi_update(s: Any, o: int, close: float, period: int, epsilon: float, flat: float) -> float:
    """Wilder RSI. State (4 floats, zeros): [bars seen, previous close, gain, loss]."""
    n = int(s[o + 0])
    s[o + 0] = n + 1
    previous = s[o + 1]
    s[o + 1] = close
    if n == 0:
        return math.nan
    change = close - previous
    gain = change if change > 0 else 0.0
    loss = -change if change < 0 else 0.0
    if n < period:
        s[o + 2] += gain
        s[o + 3] += loss
        return math.nan
    if n == period:
        s[o + 2] = (s[o + 2] + gain) / period
        s[o + 3] = (s[o + 3] + loss) / period
    else:
        s[o + 2] = wilder_next(s[o + 2], gain, period)
        s[o + 3] = wilder_next(s[o + 3], loss, period)
    return rsi_value(s[o + 2], s[o + 3], epsilon, flat)


def atr_update(s: Any, o: int, high: float, low: float, close: float, period: int) -> float:
    """Wilder ATR. State (3 floats, zeros): [bars seen, previous close, atr]."""
    n = int(s[o + 0])
    s[o + 0] = n + 1
    previous = s[o + 1]
    s[o + 1] = close
    if n == 0:
        return math.nan
    tr = true_range(high, low, previous)
    if n < period:
        s[o + 2] += tr
        return math.nan
    if n == period:
        s[o + 2] = (s[o + 2] + tr) / period
    else:
        s[o + 2] = wilder_next(s[o + 2], tr, period)
    return float(s[o + 2])


def volatility_update(s: Any, o: int, close: float, window: int) -> float:
    """Sample std (ddof 1) of the last ``window`` log returns.

    State (2 + window floats, zeros): [bars seen, previous close, ring of returns]; the return
    of bar ``n`` sits in slot ``(n - 1) % window``.
    """
    n = int(s[o + 0])
    s[o + 0] = n + 1
    previous = s[o + 1]
    s[o + 1] = close
    if n == 0:
        return math.nan
    s[o + 2 + (n - 1) % window] = math.log(close / previous)
    if n < window:
        return math.nan
    first = n % window  # slot of the oldest return in the window
    total = 0.0
    for k in range(window):
        total += s[o + 2 + (first + k) % window]
    mean = total / window
    acc = 0.0
    for k in range(window):
        deviation = s[o + 2 + (first + k) % window] - mean
        acc += deviation * deviation
    return math.sqrt(acc / (window - 1))
