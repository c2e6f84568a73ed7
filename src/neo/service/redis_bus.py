"""Candles between processes over Redis Streams: an ingesting process publishes, a trading
process consumes, and a crash of either loses none and processes none twice.

Layout: one stream per instrument and timeframe (:func:`stream_key`), whose entry ids are the
bars' open times in milliseconds (``<ms>-0``). Redis refuses an id not above the stream's last,
so the stream itself keeps each instrument's bars in time order and a producer that restarts
and publishes the same candles again adds nothing (counted as ``duplicate``).

Delivery: each trading session is a consumer group (``XREADGROUP``) reading its instruments'
streams. A bar is acknowledged (``XACK``) only after the loop ran its cycle, in one
``MULTI`` with the group's done-marker (a hash: stream → last processed id). On restart the
consumer first takes back what it had been given but not acknowledged (its own pending entries,
then — after ``claim_idle_ms`` — those of consumers that died, by ``XAUTOCLAIM``), skips (and
acknowledges) any entry at or below the done-marker, and only then reads new entries. Across
instruments, bars are handed to the loop in time order: the feed holds each stream's next bar
and yields the earliest once every stream has one (or a read comes back empty).

The limit of the guarantee: a process killed inside one cycle — after the strategy saw a bar
and before the commit, some tens of microseconds — is given that bar again on restart (the new
process has none of the dead one's memory, so its loop sees it once). Everything the commit
covers (acknowledgement, done-marker) advances exactly once.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from neo.domain.bar import Bar, BarBatch
from neo.domain.errors import ConfigError, NetworkError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.logs import get_logger
from neo.service.telemetry import BUS_MESSAGES

log = get_logger("service.redis_bus")

STREAM_PREFIX = "neo:bars"
DEFAULT_MAXLEN = 1_000_000
_CHUNK = 500  # bars per publish script call
_NS_PER_MS = 1_000_000

# XADD each (id, payload) pair; an id Redis refuses (not above the stream's last) is a
# duplicate of a candle already published, counted and skipped, never an error.
_PUBLISH = """
local added = 0
for i = 2, #ARGV, 2 do
  local ok = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i], 'bar', ARGV[i + 1])
  if type(ok) ~= 'table' or not ok.err then added = added + 1 end
end
return added
"""


def stream_key(instrument: InstrumentId, timeframe: Timeframe | str) -> str:
    """The stream of one instrument's bars of one timeframe."""
    return f"{STREAM_PREFIX}:{instrument.venue}:{instrument.symbol}:{Timeframe.parse(timeframe)}"


def done_key(group: str) -> str:
    """The hash of a consumer group's done-markers (stream → last processed entry id)."""
    return f"neo:bus:{group}:done"


def entry_id(ts_ns: int) -> str:
    """A bar's stream id: its open time in ms (bars are at least a second long)."""
    return f"{ts_ns // _NS_PER_MS}-0"


def unreachable(url: str, exc: BaseException) -> NetworkError:
    """The one-line error for a Redis that cannot be reached (its password never shown)."""
    from neo.logs import redact

    return NetworkError(
        f"cannot reach Redis at {redact(url)} ({type(exc).__name__}: {redact(str(exc))}): "
        "start it (scripts/ci/redis.sh start) or set redis.url / NEO_REDIS__URL"
    )


# -- producer --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PublishResult:
    """What :func:`publish_candles` did: ``published`` new entries, ``duplicates`` refused
    because the stream already held that bar (or a later one)."""

    published: int
    duplicates: int

    def to_dict(self) -> dict[str, int]:
        return {"published": self.published, "duplicates": self.duplicates}


def _rows(bars: BarBatch | Iterable[Bar]) -> dict[str, list[tuple[str, bytes]]]:
    """(id, payload) pairs per stream, in time order within each."""
    out: dict[str, list[tuple[str, bytes]]] = {}
    if isinstance(bars, BarBatch):
        columns = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)
        key = stream_key(bars.instrument, bars.timeframe)
        out[key] = [
            (entry_id(int(ts)), msgspec.json.encode([int(ts), o, h, lo, c, v]))
            for ts, o, h, lo, c, v in zip(*(col.tolist() for col in columns), strict=True)
        ]
        return out
    for bar in sorted(bars, key=lambda b: b.ts):
        row = [bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume]
        out.setdefault(stream_key(bar.instrument, bar.timeframe), []).append(
            (entry_id(bar.ts), msgspec.json.encode(row))
        )
    return out


class CandlePublisher:
    """Publishes completed candles to their streams (and the latest-bar cache when given)."""

    def __init__(
        self, client: redis.Redis, *, maxlen: int = DEFAULT_MAXLEN, cache: Any = None
    ) -> None:
        self.client = client
        self.maxlen = maxlen
        self.cache = cache
        self._script = client.register_script(_PUBLISH)

    def publish(self, bars: BarBatch | Iterable[Bar]) -> PublishResult:
        published = total = 0
        for key, rows in _rows(bars).items():
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                args: list[Any] = [self.maxlen]
                for ident, payload in chunk:
                    args += [ident, payload]
                published += int(self._script(keys=[key], args=args))
                total += len(chunk)
        if self.cache is not None:
            self.cache.put_bars(bars)
        BUS_MESSAGES.labels("published").inc(published)
        BUS_MESSAGES.labels("duplicate").inc(total - published)
        return PublishResult(published, total - published)


def connect(url: str) -> redis.Redis:
    """A client of ``url``, checked with a PING (a NetworkError when unreachable)."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise unreachable(url, exc) from None
    return client


def publish_candles(
    bars: BarBatch | Iterable[Bar],
    *,
    url: str | None = None,
    client: redis.Redis | None = None,
    maxlen: int = DEFAULT_MAXLEN,
    cache_ttl_s: int | None = None,
) -> PublishResult:
    """Publish stored candles for trading processes (``neo ingest --publish``, ``POST
    /v1/candles``): call it after the store accepted them, with the accepted bars.

    Give ``client`` (reused) or ``url``; ``cache_ttl_s`` also refreshes the latest-bar cache.
    Publishing the same candles again adds nothing, so a producer may simply retry.
    """
    if client is None:
        if not url:
            raise ConfigError("publishing candles needs redis.url (NEO_REDIS__URL)")
        owned = connect(url)
    else:
        owned = None
    target = client or owned
    assert target is not None
    try:
        from neo.service.cache import BarCache

        cache = None if cache_ttl_s is None else BarCache(target, ttl_s=cache_ttl_s)
        return CandlePublisher(target, maxlen=maxlen, cache=cache).publish(bars)
    except redis.ConnectionError as exc:
        raise unreachable(url or "redis", exc) from None
    finally:
        if owned is not None:
            owned.close()


def publish_ingested(store: Any, reports: Iterable[Any], settings: Any) -> PublishResult:
    """``neo ingest --publish``: publish the stored bars each report accepted (its
    ``first_ts``..``last_ts``, read back from ``store``) to the Redis bus of ``settings``."""
    config = settings.redis
    if not config.url:
        raise ConfigError(
            "--publish needs a Redis server: set redis.url in neo.toml or NEO_REDIS__URL "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    client = connect(config.url)
    published = duplicates = 0
    try:
        for report in reports:
            if not report.accepted or report.first_ts is None:
                continue
            iid = InstrumentId.parse(report.instrument)
            batch = store.read(iid, report.timeframe, report.first_ts, report.last_ts + 1)
            done = publish_candles(
                batch, client=client, maxlen=config.stream_maxlen, cache_ttl_s=config.cache_ttl_s
            )
            published += done.published
            duplicates += done.duplicates
    finally:
        client.close()
    log.info("published %d candles to the Redis bus (%d already there)", published, duplicates)
    return PublishResult(published, duplicates)


# -- consumer --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Entry:
    key: str
    ident: str
    bar: Bar


class RedisBarFeed:
    """A paper/live :class:`~neo.engine.paper.Feed` reading candles from the Redis bus.

    Parameters
    ----------
    url:
        The Redis server.
    instruments, timeframe:
        What the session trades; one stream each.
    group, consumer:
        The consumer group (one per trading session: it owns the done-markers) and this
        process's name in it; a restart with the same names resumes exactly where it stopped.
    limit:
        End the stream after this many bars (``--cycles``); the last is committed before the
        stream ends, so a clean stop never redelivers.
    block_ms:
        How long a read waits for new entries; an empty read releases the bars held for
        cross-instrument ordering and, with ``idle_exit``, may end the stream.
    claim_idle_ms:
        Entries another consumer of the group has held this long unacknowledged are taken
        over at start (it died).
    start_id:
        Where a new group starts reading: ``0`` (everything the stream retains) or ``$``
        (only candles published from now on).
    idle_exit:
        End the stream after this many consecutive empty reads (None: never).
    """

    def __init__(
        self,
        url: str,
        instruments: Sequence[InstrumentId],
        timeframe: Timeframe | str,
        *,
        group: str = "paper",
        consumer: str = "main",
        limit: int | None = None,
        block_ms: int = 1_000,
        batch: int = 200,
        claim_idle_ms: int = 60_000,
        start_id: str = "0",
        idle_exit: int | None = None,
    ) -> None:
        if not instruments:
            raise ConfigError("the Redis feed needs at least one instrument")
        self.url = url
        self._instruments = list(instruments)
        self._timeframe = Timeframe.parse(timeframe)
        self.group = group
        self.consumer = consumer
        self.limit = limit
        self.block_ms = block_ms
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.start_id = start_id
        self.idle_exit = idle_exit
        self.keys = {stream_key(iid, self._timeframe): iid for iid in self._instruments}
        self.delivered = 0
        self.redelivered = 0
        self.skipped = 0

    @property
    def instruments(self) -> list[InstrumentId]:
        return list(self._instruments)

    @property
    def timeframe(self) -> Timeframe:
        return self._timeframe

    async def stream(self) -> AsyncIterator[Bar]:
        """Bars in time order; each is committed when the caller asks for the next."""
        client = aioredis.Redis.from_url(self.url)
        try:
            session = _Consumer(self, client)
            await session.setup()
            async for bar in session.bars():
                yield bar
        except redis.ConnectionError as exc:
            raise unreachable(self.url, exc) from None
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()


class _Consumer:
    """One run of a :class:`RedisBarFeed`: its buffers, done-markers and reads."""

    def __init__(self, feed: RedisBarFeed, client: aioredis.Redis) -> None:
        self.feed = feed
        self.client = client
        self.done: dict[str, int] = {}
        self.buffers: dict[str, deque[_Entry]] = {key: deque() for key in feed.keys}

    async def setup(self) -> None:
        feed = self.feed
        for key in feed.keys:
            try:
                await self.client.xgroup_create(key, feed.group, id=feed.start_id, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        raw: Any = await self.client.hgetall(done_key(feed.group))
        self.done = {k.decode(): int(v) for k, v in raw.items()}
        await self._take_pending()
        await self._claim_abandoned()

    async def _take_pending(self) -> None:
        """This consumer's entries delivered before a crash and never acknowledged."""
        for key in self.feed.keys:
            after = "0"
            while True:
                got: Any = await self.client.xreadgroup(
                    self.feed.group, self.feed.consumer, {key: after}, count=self.feed.batch
                )
                entries = got[0][1] if got else []
                if not entries:
                    break
                await self._accept(key, entries, redelivered=True)
                after = entries[-1][0].decode()

    async def _claim_abandoned(self) -> None:
        """Entries other consumers of the group held for ``claim_idle_ms`` (they died)."""
        feed = self.feed
        for key in feed.keys:
            cursor = "0-0"
            while True:
                reply: Any = await self.client.xautoclaim(
                    key, feed.group, feed.consumer, feed.claim_idle_ms, cursor, count=feed.batch
                )
                cursor, entries = reply[0].decode(), reply[1]
                await self._accept(key, [e for e in entries if e[1]], redelivered=True)
                if cursor == "0-0":
                    break
        for key in feed.keys:  # claimed entries may interleave with our own: keep time order
            self.buffers[key] = deque(sorted(self.buffers[key], key=lambda e: e.bar.ts))

    async def _accept(self, key: str, entries: list[Any], *, redelivered: bool) -> None:
        """Buffer entries not yet processed; acknowledge those the done-marker covers."""
        iid, tf = self.feed.keys[key], self.feed.timeframe
        held = self.buffers[key]
        known = {entry.ident for entry in held} if redelivered else set()
        stale: list[str] = []
        for raw_id, fields in entries:
            ident = raw_id.decode()
            if not fields or int(ident.split("-")[0]) <= self.done.get(key, -1):
                stale.append(ident)  # processed already, or trimmed away while pending
                continue
            if ident in known:  # our own pending entry, claimed a second time
                continue
            ts, o, h, lo, c, v = msgspec.json.decode(fields[b"bar"])
            bar = Bar(instrument=iid, timeframe=tf, ts=ts, open=o, high=h, low=lo, close=c,
                      volume=v)  # fmt: skip
            held.append(_Entry(key, ident, bar))
            known.add(ident)
            if redelivered:
                self.feed.redelivered += 1
                BUS_MESSAGES.labels("redelivered").inc()
        if stale:
            self.feed.skipped += len(stale)
            BUS_MESSAGES.labels("skipped").inc(len(stale))
            await self.client.xack(key, self.feed.group, *stale)

    async def _read_new(self) -> bool:
        feed = self.feed
        got: Any = await self.client.xreadgroup(
            feed.group, feed.consumer, dict.fromkeys(feed.keys, ">"), count=feed.batch,
            block=feed.block_ms,
        )  # fmt: skip
        for raw_key, entries in got or []:
            await self._accept(raw_key.decode(), entries, redelivered=False)
        return bool(got)

    def _ready(self) -> bool:
        return all(self.buffers.values())

    def _earliest(self) -> _Entry | None:
        best: _Entry | None = None
        for held in self.buffers.values():
            if held and (best is None or held[0].bar.ts < best.bar.ts):
                best = held[0]
        return best

    async def _commit(self, entry: _Entry) -> None:
        ms = int(entry.ident.split("-")[0])
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(done_key(self.feed.group), entry.key, ms)
            pipe.xack(entry.key, self.feed.group, entry.ident)
            await pipe.execute()
        self.done[entry.key] = ms
        BUS_MESSAGES.labels("consumed").inc()

    async def bars(self) -> AsyncIterator[Bar]:
        feed = self.feed
        limit = math.inf if feed.limit is None else feed.limit
        idle = 0
        flush = False
        while feed.delivered < limit:
            entry = self._earliest() if (flush or self._ready()) else None
            if entry is None:
                flush = False
                if await self._read_new():
                    idle = 0
                    continue
                idle += 1
                if feed.idle_exit is not None and idle >= feed.idle_exit and not self._held():
                    return
                flush = True  # a quiet read: release what is held, in time order
                continue
            self.buffers[entry.key].popleft()
            feed.delivered += 1
            yield entry.bar
            await self._commit(entry)  # the caller came back: the cycle is done

    def _held(self) -> int:
        return sum(len(held) for held in self.buffers.values())


def pending_count(client: redis.Redis, key: str, group: str) -> int:
    """Entries of ``key`` delivered to ``group`` and not yet acknowledged."""
    try:
        info: Any = client.xpending(key, group)
    except ResponseError:
        return 0
    return int(info["pending"])
