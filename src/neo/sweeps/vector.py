"""Targets of many configurations on the same bars, sharing their indicators.

A sweep runs the same strategy with many parameter sets over the same window: every
``sma_cross`` pair with ``slow=200`` needs the same 200-bar average. :class:`IndicatorCache`
computes each (indicator, period) once per window and process; :func:`sweep_targets` builds the
crossover targets from it with a compiled loop doing exactly what the strategy's
``vector_targets`` does (a test compares them bit for bit), and falls back to the strategy's own
``vector_targets`` (through :func:`neo.engine.fast.strategy_targets`) for every other strategy.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from numba import njit

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.instrument import Instrument
from neo.engine.fast import strategy_targets
from neo.strategies.base import Strategy
from neo.strategies.moving_average import EmaCross, SmaCross

DEFAULT_CACHE_BYTES = 1 << 30
"""Indicator arrays a worker process keeps (1 GiB: ~130 arrays of 1 M bars)."""


class IndicatorCache:
    """Indicator arrays by key, least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._arrays: OrderedDict[Hashable, FloatArray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], FloatArray]) -> FloatArray:
        array = self._arrays.get(key)
        if array is not None:
            self._arrays.move_to_end(key)
            self.hits += 1
            return array
        self.misses += 1
        array = compute()
        array.flags.writeable = False
        self._arrays[key] = array
        self._bytes += array.nbytes
        while self._bytes > self.max_bytes and len(self._arrays) > 1:
            _, dropped = self._arrays.popitem(last=False)
            self._bytes -= dropped.nbytes
        return array

    def clear(self) -> None:
        self._arrays.clear()
        self._bytes = 0


@njit(cache=True, nogil=True)
def _cross_targets(fast: FloatArray, slow: FloatArray, size: float) -> FloatArray:
    """``size`` where the spread turns positive, ``-size`` where it turns negative, else NaN
    (strict on both sides, as :meth:`SmaCross.vector_targets`)."""
    n = fast.shape[0]
    out = np.full(n, np.nan)
    before = np.nan
    for i in range(n):
        now = fast[i] - slow[i]
        if before < 0.0 < now:
            out[i] = size
        elif before > 0.0 > now:
            out[i] = -size
        before = now
    return out


_CROSSOVERS: tuple[type[Strategy], ...] = (SmaCross, EmaCross)


def sweep_targets(
    strategy: Strategy,
    batch: BarBatch,
    instrument: Instrument,
    cache: IndicatorCache,
    window_key: Hashable,
) -> FloatArray:
    """The fast path's targets of ``strategy`` on ``batch`` (lot-rounded like
    :func:`strategy_targets`), indicators shared through ``cache`` under ``window_key``."""
    if type(strategy) not in _CROSSOVERS or strategy.fast_path_problem(1):
        return strategy_targets(strategy, batch, instrument)
    params: dict[str, Any] = strategy.param_values()
    average: Callable[[FloatArray, int], FloatArray] = getattr(type(strategy), "average")  # noqa: B009
    close = np.asarray(batch.close, dtype=np.float64)

    def indicator(period: int) -> FloatArray:
        key = (window_key, strategy.name, period)
        return cache.get(key, lambda: np.asarray(average(close, period), dtype=np.float64))

    if strategy.vector_all_equity:
        unit = 1.0
    else:
        size = strategy.sizing.value
        lot = instrument.lot_size
        unit = math.copysign(math.floor(abs(size) / lot * (1.0 + 1e-12)) * lot, size)
    return np.asarray(_cross_targets(indicator(params["fast"]), indicator(params["slow"]), unit))
