"""Trading calendars: which bars a venue is *expected* to have, so gaps are real gaps.

A daily stock series has no bars on weekends and exchange holidays; counting those as missing
bars buries the real holes (a lost session) under thousands of false ones. A venue's calendar
comes from ``[venues.<name>] calendar = "XNAS"`` (any ``exchange_calendars`` code; the package
ships its calendars, nothing is downloaded); a venue not configured, or configured ``"24/7"``,
trades every bar (crypto). Intraday bars on an exchange are expected on the timeframe's grid
wherever the session is open (from the session's open to its close minute).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from neo.domain.bar import IntArray
from neo.domain.errors import ConfigError
from neo.domain.timeframe import Timeframe

ALWAYS_OPEN = "24/7"
_DAY_NS = 86_400 * 1_000_000_000
_YEAR_NS = 365 * _DAY_NS  # a year or a bit more: a safe margin on both sides
_FIRST_YEAR, _LAST_YEAR = 1950, 2100


class TradingCalendar(Protocol):
    """How many expected bars lie strictly between consecutive timestamps."""

    name: str

    def missing_between(self, ts: IntArray, timeframe: Timeframe) -> IntArray:
        """For sorted unique ``ts``, the expected bars strictly inside each ``(ts[i], ts[i+1])``."""
        ...


class AlwaysOpen:
    """A venue that trades every bar (crypto): every grid step between two bars is missing."""

    name = ALWAYS_OPEN

    def missing_between(self, ts: IntArray, timeframe: Timeframe) -> IntArray:
        if len(ts) < 2:
            return np.empty(0, dtype=np.int64)
        steps: IntArray = (np.diff(ts) // timeframe.nanos - 1).astype(np.int64)
        return np.maximum(steps, 0)


class ExchangeCalendar:
    """An exchange's sessions from ``exchange_calendars`` (e.g. ``XNAS``, ``XNYS``).

    Daily bars are expected on each session's date (00:00 UTC of that date, as daily bars are
    stamped); intraday bars on every grid step that holds a trading minute. Bars coarser than
    a day fall back to the plain grid (weeks have no sessions of their own).
    """

    def __init__(self, code: str) -> None:
        _check_code(code)
        self.name = code

    def missing_between(self, ts: IntArray, timeframe: Timeframe) -> IntArray:
        if len(ts) < 2:
            return np.empty(0, dtype=np.int64)
        if timeframe.nanos > _DAY_NS:
            return AlwaysOpen().missing_between(ts, timeframe)
        with warnings.catch_warnings():  # exchange_calendars' own pandas deprecations
            warnings.simplefilter("ignore")
            expected = self._expected(int(ts[0]), int(ts[-1]), timeframe)
        if expected is None:  # outside the calendar's years: judge by the plain grid
            return AlwaysOpen().missing_between(ts, timeframe)
        key = ts - ts % _DAY_NS if timeframe.nanos == _DAY_NS else ts
        left = np.searchsorted(expected, key[:-1], side="right")
        right = np.searchsorted(expected, key[1:], side="left")
        missing: IntArray = np.maximum(right - left, 0).astype(np.int64)
        return missing

    def _expected(self, first: int, last: int, timeframe: Timeframe) -> IntArray | None:
        year0 = 1970 + first // _YEAR_NS - 1
        year1 = 1970 + last // _YEAR_NS + 1
        if year0 < _FIRST_YEAR or year1 > _LAST_YEAR:
            return None
        calendar = _calendar(self.name, int(year0), int(year1))
        import pandas as pd

        start, end = pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")
        if timeframe.nanos == _DAY_NS:
            sessions = calendar.sessions_in_range(start.tz_localize(None).normalize(),
                                                  end.tz_localize(None).normalize())  # fmt: skip
            days: IntArray = np.asarray(sessions.asi8, dtype=np.int64)
            return days
        minutes = np.asarray(calendar.minutes_in_range(start, end).asi8, dtype=np.int64)
        step, origin = timeframe.nanos, timeframe.origin_ns
        starts: IntArray = np.unique(minutes - (minutes - origin) % step)
        return starts


def _check_code(code: str) -> None:
    """A clear error for a calendar code ``exchange_calendars`` does not know."""
    import exchange_calendars as xcals

    if code not in xcals.get_calendar_names(include_aliases=True):
        raise ConfigError(
            f"unknown trading calendar {code!r} in the venues settings: use an "
            f"exchange_calendars code such as XNAS, XNYS, XLON, or {ALWAYS_OPEN!r} for a venue "
            "that never closes"
        )


@lru_cache(maxsize=8)
def _calendar(code: str, year0: int, year1: int) -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar(code, start=f"{year0}-01-01", end=f"{year1}-12-31")


def calendar_named(code: str | None) -> TradingCalendar:
    """The calendar of a venue config value (None or ``"24/7"`` trade always)."""
    if code is None or code.strip() in (ALWAYS_OPEN, ""):
        return AlwaysOpen()
    return ExchangeCalendar(code.strip().upper())


def calendar_of(venue: str, venues: dict[str, Any] | None) -> TradingCalendar:
    """The calendar configured for ``venue`` in ``settings.venues`` (unlisted: 24/7)."""
    config = (venues or {}).get(venue) or (venues or {}).get(venue.lower())
    return calendar_named(None if config is None else str(config.calendar))
