"""Causal, vectorised indicators the shipped strategies use (SMA, EMA, RSI, volatility).

Every function maps a price array to an array of the same length whose value at ``i`` depends on
inputs ``[0, i]`` only (NaN until enough bars exist), so computing it once over a whole backtest
is the same as recomputing it bar by bar in paper trading. Paper and live trading extend them
with :func:`incremental` forms instead, O(1) or O(window) per bar and bit-identical to the batch
values (neo.features' kernels follow TA-Lib's conventions, which differ in the details, so they
are not reused here).

The recursive EMA and RSI run as loops over Python floats unless numba is already loaded (the
compiled fast path loads it), in which case the same loop runs compiled. Both do the same IEEE
operations in the same order (no fast-math), so they give bit-identical values; the event-driven
path thereby never pays numba's import and compile memory (~130 MB).
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

_BLOCK = 1 << 14


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


def _ema_loop(weighted: FloatArray, keep: float, value: float) -> FloatArray:  # pragma: no cover
    out = np.empty(len(weighted))
    for k in range(len(weighted)):
        value = weighted[k] + keep * value
        out[k] = value
    return out


def _wilder_loop(steps: FloatArray, period: int, value: float) -> FloatArray:  # pragma: no cover
    out = np.empty(len(steps))
    keep = float(period - 1)
    for k in range(len(steps)):
        value = (value * keep + steps[k]) / period
        out[k] = value
    return out


@lru_cache(maxsize=1)
def _compiled_kernels() -> tuple[Callable[..., Any], Callable[..., Any]]:
    from numba import njit

    return njit(cache=True)(_ema_loop), njit(cache=True)(_wilder_loop)


def _kernels(compiled: bool | None) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """The compiled loops when asked for, or (``None``) when numba is already imported."""
    if compiled is None:
        compiled = "numba" in sys.modules
    return _compiled_kernels() if compiled else None


def _ema_steps(weighted: FloatArray, keep: float, value: float, compiled: bool | None) -> Any:
    kernels = _kernels(compiled)
    if kernels is not None:
        return kernels[0](weighted, keep, value)
    return [value := x + keep * value for x in weighted.tolist()]


def _wilder_steps(steps: FloatArray, period: int, value: float, compiled: bool | None) -> Any:
    kernels = _kernels(compiled)
    if kernels is not None:
        return kernels[1](steps, period, value)
    keep = float(period - 1)
    return [value := (value * keep + x) / period for x in steps.tolist()]


def ema(values: npt.ArrayLike, period: int, *, compiled: bool | None = None) -> FloatArray:
    """Exponential moving average, alpha = 2/(period+1), seeded with the SMA of the first bars.

    ``compiled`` forces (True) or avoids (False) the numba loop; the values are the same.
    """
    array = _check(values, period)
    n = len(array)
    out = np.full(n, np.nan)
    if n < period:
        return out
    alpha = 2.0 / (period + 1.0)
    value = math.fsum(array[:period].tolist()) / period
    out[period - 1] = value
    out[period:] = _ema_steps(alpha * array[period:], 1.0 - alpha, value, compiled)
    return out


def rsi(values: npt.ArrayLike, period: int = 14, *, compiled: bool | None = None) -> FloatArray:
    """Wilder's relative strength index (0..100); ``compiled`` as for :func:`ema`."""
    array = _check(values, period)
    n = len(array)
    out = np.full(n, np.nan)
    if n <= period:
        return out
    changes = np.diff(array)
    ups = np.maximum(changes, 0.0)
    downs = np.maximum(-changes, 0.0)
    gain = np.empty(n - period)
    loss = np.empty(n - period)
    gain[0] = math.fsum(ups[:period].tolist()) / period
    loss[0] = math.fsum(downs[:period].tolist()) / period
    gain[1:] = _wilder_steps(ups[period:], period, gain[0], compiled)
    loss[1:] = _wilder_steps(downs[period:], period, loss[0], compiled)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[period:] = np.where(loss == 0.0, 100.0, 100.0 - 100.0 / (1.0 + gain / loss))
    return out


def rolling_volatility(values: npt.ArrayLike, period: int = 20) -> FloatArray:
    """Rolling standard deviation (ddof=1) of log returns over ``period`` returns.

    Each window is computed on its own (no drifting running sums), a block of windows at a time
    so the temporary stays small.
    """
    array = _check(values, max(int(period), 2))
    out = np.full(len(array), np.nan)
    if len(array) > period:
        with np.errstate(divide="ignore", invalid="ignore"):
            returns = np.diff(np.log(array))
        windows = sliding_window_view(returns, period)
        for start in range(0, len(windows), _BLOCK):
            block = windows[start : start + _BLOCK]
            out[period + start : period + start + len(block)] = block.std(axis=1, ddof=1)
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
    """:func:`ema` one bar at a time: O(1), the same IEEE operations in the same order."""

    __slots__ = ("alpha", "keep", "period", "seed", "value")

    def __init__(self, period: int) -> None:
        self.period = int(period)
        self.alpha = 2.0 / (self.period + 1.0)
        self.keep = 1.0 - self.alpha
        self.seed: list[float] = []
        self.value = math.nan

    def update(self, history: Any, i: int) -> float:
        x = float(history[i])
        if i < self.period - 1:
            self.seed.append(x)
            return math.nan
        if i == self.period - 1:
            self.seed.append(x)
            self.value = math.fsum(self.seed) / self.period
            self.seed = []
        else:
            self.value = self.alpha * x + self.keep * self.value
        return self.value


class _RsiStep:
    """:func:`rsi` one bar at a time: O(1), Wilder's smoothing exactly as the batch does it."""

    __slots__ = ("downs", "gain", "keep", "loss", "period", "previous", "ups")

    def __init__(self, period: int) -> None:
        self.period = int(period)
        self.keep = float(self.period - 1)
        self.ups: list[float] = []
        self.downs: list[float] = []
        self.gain = self.loss = self.previous = math.nan

    def update(self, history: Any, i: int) -> float:
        x = float(history[i])
        change = x - self.previous
        self.previous = x
        if i == 0:
            return math.nan
        up = change if change > 0.0 else 0.0
        down = -change if -change > 0.0 else 0.0
        period = self.period
        if i < period:
            self.ups.append(up)
            self.downs.append(down)
            return math.nan
        if i == period:
            self.ups.append(up)
            self.downs.append(down)
            self.gain = math.fsum(self.ups) / period
            self.loss = math.fsum(self.downs) / period
            self.ups, self.downs = [], []
        else:
            self.gain = (self.gain * self.keep + up) / period
            self.loss = (self.loss * self.keep + down) / period
        if self.loss == 0.0:
            return 100.0
        return 100.0 - 100.0 / (1.0 + self.gain / self.loss)


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
        return _EmaStep(int(args[0]))
    if func is rsi:
        return _RsiStep(int(args[0]) if args else 14)
    if lookback is not None:
        return _Tail(func, args, lookback)
    return None
