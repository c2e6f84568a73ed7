"""Training labels. They look into the future by design, so they never run on the live path.

Every label also reports the bar at which it becomes known (its *end*): walk-forward training may
only use a label at time t if its end is at or before t, which is what keeps it honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt
from numba import njit

from neo.domain.bar import BarBatch, FloatArray, IntArray
from neo.domain.errors import ConfigError

LabelKind = Literal["forward_return", "sign", "triple_barrier"]
LABEL_KINDS: tuple[str, ...] = ("forward_return", "sign", "triple_barrier")


def _check_horizon(h: int) -> None:
    if h < 1:
        raise ConfigError(f"label horizon must be at least 1 bar, got {h}")


def forward_return(close: npt.ArrayLike, h: int) -> FloatArray:
    """``close[t + h] / close[t] - 1``; NaN for the last ``h`` bars, whose future is unknown."""
    _check_horizon(h)
    prices = np.asarray(close, dtype=np.float64)
    out = np.full(len(prices), np.nan)
    if len(prices) > h:
        out[:-h] = prices[h:] / prices[:-h] - 1.0
    return out


def sign_label(close: npt.ArrayLike, h: int, dead_zone: float = 0.0) -> FloatArray:
    """1.0 if the h-bar forward return exceeds ``dead_zone``, 0.0 if below ``-dead_zone``.

    Returns inside the dead zone (too small to trade) and unknown futures are NaN, so they are
    left out of training rather than taught as noise.
    """
    if dead_zone < 0:
        raise ConfigError(f"dead zone must be >= 0, got {dead_zone}")
    ret = forward_return(close, h)
    out = np.full(len(ret), np.nan)
    out[ret > dead_zone] = 1.0
    out[ret < -dead_zone] = 0.0
    return out


@njit(cache=True, error_model="numpy")
def _triple_barrier(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    tp: float,
    sl: float,
    timeout: int,
    label: FloatArray,
    end: IntArray,
    ret: FloatArray,
) -> None:
    n = close.shape[0]
    for t in range(n):
        entry = close[t]
        upper = entry * (1.0 + tp)
        lower = entry * (1.0 - sl)
        for j in range(t + 1, min(t + timeout, n - 1) + 1):
            if low[j] <= lower:  # both touched in one bar: assume the stop came first
                label[t], end[t], ret[t] = -1.0, j, lower / entry - 1.0
                break
            if high[j] >= upper:
                label[t], end[t], ret[t] = 1.0, j, upper / entry - 1.0
                break
        else:
            if t + timeout <= n - 1:
                label[t], end[t] = 0.0, t + timeout
                ret[t] = close[t + timeout] / entry - 1.0


@dataclass(frozen=True, slots=True)
class BarrierLabels:
    """Triple-barrier outcome per bar: +1 take-profit, -1 stop, 0 timeout, NaN not yet known."""

    label: FloatArray
    end: IntArray
    ret: FloatArray


def triple_barrier(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    tp: float,
    sl: float,
    timeout: int,
) -> BarrierLabels:
    """Label each bar by which barrier its next ``timeout`` bars touch first.

    Entry is the bar's close; the take-profit sits at ``close * (1 + tp)``, the stop at
    ``close * (1 - sl)``. ``end`` is the index of the bar that decided the label (-1 if unknown)
    and ``ret`` the return realised there.
    """
    if tp <= 0 or sl <= 0:
        raise ConfigError(f"triple barrier needs tp > 0 and sl > 0, got tp={tp}, sl={sl}")
    _check_horizon(timeout)
    c = np.ascontiguousarray(close, dtype=np.float64)
    label = np.full(len(c), np.nan)
    end = np.full(len(c), -1, dtype=np.int64)
    ret = np.full(len(c), np.nan)
    _triple_barrier(
        np.ascontiguousarray(high, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        c, float(tp), float(sl), int(timeout), label, end, ret,
    )  # fmt: skip
    return BarrierLabels(label, end, ret)


@dataclass(frozen=True, slots=True)
class LabelSet:
    """What training needs: ``target`` (NaN = unusable), the bar each becomes known at
    (``end``, -1 if never) and the realised return (for hit rates and baselines)."""

    target: FloatArray
    end: IntArray
    realized: FloatArray


class LabelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which label to learn. ``forward_return`` makes a regression; the others classify
    (target 1.0 = price went up / take-profit first)."""

    kind: LabelKind = "sign"
    horizon: int = 1
    dead_zone: float = 0.0
    take_profit: float = 0.01
    stop_loss: float = 0.01
    barrier_timeout: Literal["drop", "sign"] = "drop"
    """Triple barrier, neither barrier touched before the timeout: ``drop`` leaves the bar out
    of training; ``sign`` labels it by the sign of the return at the timeout (López de Prado's
    vertical barrier; an exactly flat return stays out)."""

    def __post_init__(self) -> None:
        if self.kind not in LABEL_KINDS:
            raise ConfigError(f"unknown label {self.kind!r}: use one of {', '.join(LABEL_KINDS)}")
        if self.barrier_timeout not in ("drop", "sign"):
            raise ConfigError(f"unknown barrier_timeout {self.barrier_timeout!r}: use drop or sign")
        _check_horizon(self.horizon)

    @property
    def task(self) -> Literal["classification", "regression"]:
        return "regression" if self.kind == "forward_return" else "classification"

    def compute(self, batch: BarBatch) -> LabelSet:
        n = len(batch)
        if self.kind == "triple_barrier":
            bars = triple_barrier(
                batch.high, batch.low, batch.close, self.take_profit, self.stop_loss, self.horizon
            )
            target = np.where(bars.label > 0, 1.0, np.where(bars.label < 0, 0.0, np.nan))
            if self.barrier_timeout == "sign":
                timed_out = bars.label == 0
                target[timed_out & (bars.ret > 0)] = 1.0
                target[timed_out & (bars.ret < 0)] = 0.0
            return LabelSet(target, bars.end, bars.ret)
        realized = forward_return(batch.close, self.horizon)
        end = np.arange(n, dtype=np.int64) + self.horizon
        if self.kind == "sign":
            target = sign_label(batch.close, self.horizon, self.dead_zone)
        else:
            target = realized.copy()
        end[~np.isfinite(realized)] = -1
        return LabelSet(target, end, realized)
