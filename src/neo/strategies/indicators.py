"""Causal, vectorised indicators the shipped strategies use (SMA, EMA, RSI, volatility).

Every function maps a price array to an array of the same length whose value at ``i`` depends on
inputs ``[0, i]`` only (NaN until enough bars exist), so computing it once over a whole backtest
is the same as recomputing it bar by bar in paper trading. Paper and live trading extend them
with :func:`incremental` forms instead, O(1) or O(window) per bar and bit-identical to the batch
values.

EMA, RSI and volatility are not defined here: they run the one definition in
:mod:`neo.features.steps` (which the feature kernels compile too), with their conventions (EMA
seed, RSI's value on a flat market) as explicit parameters. The loops run over Python floats
unless numba is already loaded (the compiled fast path loads it), in which case the same update
runs compiled. Both do the same IEEE operations in the same order (no fast-math), so they give
bit-identical values; the event-driven path thereby never pays numba's import and compile
memory (~130 MB).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError
from neo.features.steps import ema_next, ema_update, rsi_update


def _check(values: npt.ArrayLike, period: int) -> FloatArray:
    if int(period) != period or period < 1:
        raise ConfigError(f"indicator period must be a whole number >= 1, got {period}")
    array: FloatArray = np.ascontiguousarray(values, dtype=np.float64)
    return array


def sma(values: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average; each window summed on its own (no drifting running sum)."""
    array = _check(values, period)
    out = np.full(len(array), np.nan)
    if len(array) >= period:
        out[period - 1 :] = np.convolve(array, np.ones(period), "valid") / period
    return out


def _ema_batch(values: FloatArray, period: int, first_seed: bool, out: FloatArray) -> None:
    """The batch as numba runs it (compiled by :func:`_compiled_kernels`)."""
    state = np.zeros(2)
    for m in range(values.shape[0]):
        ready = ema_update(state, 0, 1, values[m], m, period, first_seed)
        out[m] = state[1] if ready else np.nan


def _rsi_batch(
    values: FloatArray, period: int, flat: float, epsilon: float, out: FloatArray
) -> None:
    """The batch as numba runs it (compiled by :func:`_compiled_kernels`)."""
    state = np.zeros(4)
    for m in range(values.shape[0]):
        out[m] = rsi_update(state, 0, values[m], period, epsilon, flat)


@lru_cache(maxsize=1)
def _compiled_kernels() -> tuple[Callable[..., Any], Callable[..., Any]]:
    from neo.features import kernels  # compiled steps (imports numba)
    from neo.jit import compile_shared

    return (
        compile_shared(_ema_batch, ema_update=kernels._ema_update),
        compile_shared(_rsi_batch, rsi_update=kernels._rsi_update),
    )


def _kernels(compiled: bool | None) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """The compiled loops when asked for, or (``None``) when numba is already imported."""
    if compiled is None:
        compiled = "numba" in sys.modules
    return _compiled_kernels() if compiled else None


def ema(
    values: npt.ArrayLike, period: int, first_seed: bool = False, *, compiled: bool | None = None
) -> FloatArray:
    """Exponential moving average, alpha = 2/(period+1) (:func:`neo.features.steps.ema_update`).

    ``first_seed`` False (default, TA-Lib): NaN until bar ``period - 1``, which holds the SMA of
    the first ``period`` values; True (pandas ``adjust=False``): the first value seeds it.
    ``compiled`` forces (True) or avoids (False) the numba loop; the values are the same.
    """
    array = _check(values, period)
    n = len(array)
    out = np.full(n, np.nan)
    kernels = _kernels(compiled)
    if kernels is not None:
        kernels[0](array, int(period), bool(first_seed), out)
        return out
    # the seed through the shared update, then its steady branch (ema_next) as a tight loop
    state = [0.0, 0.0]
    head = min(n, 1 if first_seed else int(period))
    for m in range(head):
        if ema_update(state, 0, 1, float(array[m]), m, int(period), bool(first_seed)):
            out[m] = state[1]
    if n > head:
        value, alpha = state[1], 2.0 / (int(period) + 1)
        out[head:] = [value := ema_next(value, x, alpha) for x in array[head:].tolist()]
    return out


def rsi(
    values: npt.ArrayLike,
    period: int = 14,
    flat: float = 100.0,
    epsilon: float = 0.0,
    *,
    compiled: bool | None = None,
) -> FloatArray:
    """Wilder's relative strength index, 0..100 (:func:`neo.features.steps.rsi_update`).

    ``flat`` is the value when nothing moved over the smoothing (gain + loss within
    ``epsilon`` of 0): 100 by default, so a flat market never looks oversold (TA-Lib, and the
    features, say 0 with epsilon 1e-8). ``compiled`` as for :func:`ema`.
    """
    array = _check(values, period)
    n = len(array)
    out = np.full(n, np.nan)
    kernels = _kernels(compiled)
    if kernels is not None:
        kernels[1](array, int(period), float(flat), float(epsilon), out)
        return out
    state = [0.0, 0.0, 0.0, 0.0]
    out[:] = [
        rsi_update(state, 0, x, int(period), float(epsilon), float(flat)) for x in array.tolist()
    ]
    return out


def _log_returns(array: FloatArray) -> FloatArray:
    """One-bar log returns ``log(close / previous)`` with :func:`math.log`, the function the
    shared step (and numba) uses, so the bits match; NaN where the ratio is not positive."""
    ratios = (array[1:] / array[:-1]).tolist()
    return np.array([math.log(r) if r > 0.0 else math.nan for r in ratios], dtype=np.float64)


def rolling_volatility(values: npt.ArrayLike, period: int = 20) -> FloatArray:
    """Rolling sample standard deviation (ddof=1) of log returns over ``period`` returns.

    :func:`neo.features.steps.volatility_update` across all windows at once: the same IEEE
    operations in the same order (sums oldest first, then the squared deviations), so the
    values are its values bit for bit; each window is computed on its own (no running sums).
    """
    array = _check(values, max(int(period), 2))
    period = int(period)
    out = np.full(len(array), np.nan)
    if len(array) > period:
        windows = sliding_window_view(_log_returns(array), period)
        total = np.zeros(len(windows))
        for k in range(period):
            total += windows[:, k]
        mean = total / period
        acc = np.zeros(len(windows))
        for k in range(period):
            deviation = windows[:, k] - mean
            acc += deviation * deviation
        out[period:] = np.sqrt(acc / (period - 1))
    return out


# ---------------------------------------------------------------------------- incremental forms
class Incremental(Protocol):
    """Extends one indicator by one bar on the live path, giving the batch function's value."""

    def update(self, history: Any, i: int) -> float:
        """The value at ``i`` once ``history[i]`` arrived (called for i = 0, 1, 2, … in order)."""
        ...


class _Tail:
    """A window function recomputed over the last ``lookback`` inputs only.

    Each batch value of a window function (SMA, rolling volatility) is computed from its window
    alone, so the same call on just that window gives the same bits: O(window) per bar, however
    long the history.
    """

    __slots__ = ("args", "func", "lookback")

    def __init__(self, func: Callable[..., FloatArray], args: tuple[Any, ...], lookback: int):
        self.func = func
        self.args = args
        self.lookback = max(1, int(lookback))

    def update(self, history: Any, i: int) -> float:
        start = max(0, i + 1 - self.lookback)
        window = np.array(history[start : i + 1], dtype=np.float64)
        return float(self.func(window, *self.args)[-1])


class _EmaStep:
    """:func:`ema` one bar at a time: O(1), the shared update on its own state."""

    __slots__ = ("first_seed", "period", "state")

    def __init__(self, period: int, first_seed: bool = False) -> None:
        self.period = int(period)
        self.first_seed = bool(first_seed)
        self.state = [0.0, 0.0]

    def update(self, history: Any, i: int) -> float:
        ready = ema_update(self.state, 0, 1, float(history[i]), i, self.period, self.first_seed)
        return self.state[1] if ready else math.nan


class _RsiStep:
    """:func:`rsi` one bar at a time: O(1), the shared update on its own state."""

    __slots__ = ("epsilon", "flat", "period", "state")

    def __init__(self, period: int = 14, flat: float = 100.0, epsilon: float = 0.0) -> None:
        self.period = int(period)
        self.flat = float(flat)
        self.epsilon = float(epsilon)
        self.state = [0.0, 0.0, 0.0, 0.0]

    def update(self, history: Any, i: int) -> float:
        return rsi_update(self.state, 0, float(history[i]), self.period, self.epsilon, self.flat)


def incremental(
    func: Callable[..., FloatArray], args: tuple[Any, ...], lookback: int | None = None
) -> Incremental | None:
    """The live-path form of ``func(values, *args)``, or None when only a full recompute works.

    The shipped indicators have one; any other window function gets one from ``lookback`` (how
    many trailing inputs determine its last value).
    """
    if func is sma:
        return _Tail(func, args, int(args[0]))
    if func is rolling_volatility:
        return _Tail(func, args, int(args[0] if args else 20) + 1)
    if func is ema:
        return _EmaStep(*args)
    if func is rsi:
        return _RsiStep(*args)
    if lookback is not None:
        return _Tail(func, args, lookback)
    return None
