"""The latest bar and latest features of each instrument, shared between processes in Redis.

One hash per (instrument, timeframe) for the bar and one for the features, each with a TTL
renewed on every write, so a series nobody updates any more disappears by itself. A write only
replaces what is there when it is newer (compared inside Redis, in one script), so two
publishers racing, or a late replay, never move the cache back in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis

from neo.domain.bar import Bar, BarBatch
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

CACHE_PREFIX = "neo:cache"
_FIELDS = ("ts", "open", "high", "low", "close", "volume")

# KEYS[1] hash; ARGV[1] ttl seconds, ARGV[2] ts, then field/value pairs. Newer ts only.
_PUT_NEWER = """
local current = redis.call('HGET', KEYS[1], 'ts')
if current and tonumber(current) >= tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'ts', ARGV[2], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


def bar_key(instrument: InstrumentId, timeframe: Timeframe | str) -> str:
    return f"{CACHE_PREFIX}:bar:{instrument.venue}:{instrument.symbol}:{Timeframe.parse(timeframe)}"


def features_key(instrument: InstrumentId, timeframe: Timeframe | str) -> str:
    tf = Timeframe.parse(timeframe)
    return f"{CACHE_PREFIX}:features:{instrument.venue}:{instrument.symbol}:{tf}"


class BarCache:
    """Latest bars and features in Redis hashes with a TTL (``redis.cache_ttl_s``)."""

    def __init__(self, client: redis.Redis, *, ttl_s: int = 3_600) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._put = client.register_script(_PUT_NEWER)

    def put_bar(self, bar: Bar) -> bool:
        """Store ``bar`` unless a newer one is cached; True when it replaced the entry."""
        values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        args: list[Any] = [self.ttl_s, bar.ts]
        for name, value in zip(_FIELDS[1:], values, strict=True):
            args += [name, repr(float(value))]
        return bool(self._put(keys=[bar_key(bar.instrument, bar.timeframe)], args=args))

    def put_bars(self, bars: BarBatch | Iterable[Bar]) -> None:
        """Cache the last bar of each series in ``bars``."""
        if isinstance(bars, BarBatch):
            if len(bars):
                self.put_bar(bars.bar(len(bars) - 1))
            return
        last: dict[tuple[InstrumentId, Timeframe], Bar] = {}
        for bar in bars:
            key = (bar.instrument, bar.timeframe)
            if key not in last or bar.ts > last[key].ts:
                last[key] = bar
        for bar in last.values():
            self.put_bar(bar)

    def latest_bar(self, instrument: InstrumentId, timeframe: Timeframe | str) -> Bar | None:
        raw: Any = self.client.hgetall(bar_key(instrument, timeframe))
        if not raw:
            return None
        values = {k.decode(): v.decode() for k, v in raw.items()}
        return Bar(
            instrument=instrument,
            timeframe=Timeframe.parse(timeframe),
            ts=int(values["ts"]),
            **{name: float(values[name]) for name in _FIELDS[1:]},
        )

    def put_features(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe | str,
        ts: int,
        features: Mapping[str, float],
    ) -> bool:
        """Store the feature vector computed at bar ``ts`` unless a newer one is cached."""
        args: list[Any] = [self.ttl_s, ts]
        for name, value in features.items():
            if name == "ts":
                raise ConfigError(
                    "a feature may not be named 'ts' (the cache's time field): rename it"
                )
            args += [name, repr(float(value))]
        return bool(self._put(keys=[features_key(instrument, timeframe)], args=args))

    def features(
        self, instrument: InstrumentId, timeframe: Timeframe | str
    ) -> tuple[int, dict[str, float]] | None:
        """``(ts, {name: value})`` of the latest cached features, or None."""
        raw: Any = self.client.hgetall(features_key(instrument, timeframe))
        if not raw:
            return None
        values = {k.decode(): v.decode() for k, v in raw.items()}
        ts = int(values.pop("ts"))
        return ts, {name: float(value) for name, value in values.items()}
