"""Clocks: the only source of "now" for the trading loop.

Backtest and paper/live differ in the clock they inject: the backtest driver moves a
:class:`SimulatedClock` to each bar's time, paper and live read a :class:`WallClock`. Nothing in
the loop calls ``time.time()`` itself, so a replay is deterministic.
"""

from __future__ import annotations

import time
from typing import Protocol

from neo.domain.errors import ConfigError


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current engine time, integer nanoseconds UTC."""
        ...


class SimulatedClock:
    """Time set by the driver; it may only move forward."""

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)

    def now_ns(self) -> int:
        return self._now

    def set(self, ts_ns: int) -> None:
        """Move to ``ts_ns``; going backwards would let a replay see the past twice."""
        if ts_ns < self._now:
            raise ConfigError(
                f"simulated clock cannot go back from {self._now} to {ts_ns}: "
                "feed bars in time order"
            )
        self._now = ts_ns


class WallClock:
    """The machine's UTC time."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()
