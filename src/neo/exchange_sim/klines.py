"""Klines of any interval that is a whole number of the sim's bars, and the window selection
(``startTime`` / ``endTime`` / ``limit``) both dialects share.

The last kline is the forming one, as on a real exchange: it holds the bars closed so far in its
interval, or just the last close (no volume) when none has closed yet.
"""

from __future__ import annotations

from decimal import Decimal

from neo.exchange_sim.engine import SimEngine
from neo.exchange_sim.market import SimBar

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}  # fmt: skip


def kline_interval_ms(interval: str, bar_ms: int) -> int | None:
    """The interval in ms when it is a whole number of sim bars, else None."""
    ms = INTERVAL_MS.get(interval)
    if ms is None or ms % bar_ms:
        return None
    return ms


def group_bar(engine: SimEngine, symbol: str, group: int, per: int) -> SimBar:
    """Kline number ``group`` of ``per`` sim bars each (the last may be forming)."""
    bars = engine.paths[symbol].bars[group * per : (group + 1) * per]
    open_ms = engine.config.start_ms + group * per * engine.config.bar_ms
    if not bars:
        last = engine.last_price(symbol)
        return SimBar(group, open_ms, last, last, last, last, Decimal(0), 0)
    return SimBar(
        index=group,
        open_ms=open_ms,
        open=bars[0].open,
        high=max(b.high for b in bars),
        low=min(b.low for b in bars),
        close=bars[-1].close,
        volume=sum((b.volume for b in bars), Decimal(0)),
        trades=sum(b.trades for b in bars),
    )


def aggregate_range(engine: SimEngine, symbol: str, interval_ms: int, start_ms: int | None,
                    end_ms: int | None, limit: int) -> list[SimBar]:  # fmt: skip
    """Klines with open time in [start_ms, end_ms], the first ``limit`` when a start is given,
    else the last ``limit`` (Binance's rule)."""
    per = interval_ms // engine.config.bar_ms
    origin = engine.config.start_ms
    groups = engine.closed_bars // per + 1  # the last one is forming
    first = 0 if start_ms is None else max(0, -(-(start_ms - origin) // interval_ms))
    last = groups - 1 if end_ms is None else min(groups - 1, (end_ms - origin) // interval_ms)
    if last < first:
        return []
    if start_ms is not None:
        last = min(last, first + limit - 1)
    else:
        first = max(first, last - limit + 1)
    return [group_bar(engine, symbol, g, per) for g in range(first, last + 1)]
