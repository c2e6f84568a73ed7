"""``CcxtBarFeed``: closed bars from an exchange, for the paper and live drivers (the ``Feed``
protocol of :mod:`neo.engine.paper`).

Bars come from ccxt.pro's ``watch_ohlcv`` where the exchange has it, else from REST polling of
``fetch_ohlcv``. Either way the feed yields **closed** bars only, in time order per instrument,
each once:

* a bar is closed when the exchange says so (Binance's kline ``x`` flag, read from the raw
  message), when a later bar of the same instrument arrived, or when the exchange's clock
  (``fetch_time``, else ours) has passed its end;
* a heartbeat (``heartbeat_s`` without any message) or a socket error counts as a dropped
  stream: the websocket is closed, reopened after a backoff with jitter and resubscribed;
* every subscription, the first one too, is followed by a REST back-fill of the gap since the
  last bar, made once the exchange has acknowledged the subscription (Binance's
  ``{"result": null, "id": N}``, read from the raw message; other exchanges: at once). A bar
  that closed between the last REST page and the subscription going live was pushed to nobody;
  REST has it. Without this the feed waited for the next kline, and an exchange that only
  speaks when a bar closes (``neo exchange-sim``, a quiet market) never sent one: the live
  SIGKILL test's stall. A bar seen twice (REST and socket) is yielded once;
* the forming bar from a REST page is never yielded as closed on the strength of a later bar
  or of the socket's closing kline (its values are a snapshot from before it closed, and the
  closing message may have come while the page was in flight): the socket's own values of it
  are taken, or it is fetched again over REST; after a REST call the feed reads ccxt.pro's
  cache, since a message that came between two watch calls wakes nobody;
* :meth:`staleness_seconds` / :meth:`is_stale` say how long it is since an instrument's last
  bar; beyond two bars the instrument is *stale* (new entries must stop: the session's risk gate
  reads :meth:`is_stale` and denies them with ``stale_data``), and
  ``on_stale(instrument, stale, age_s)`` is called on every change (the CLI feeds the metrics
  ``neo_data_stale{instrument}`` / ``neo_data_staleness_seconds{instrument}`` from it).

Two clocks judge age, neither of them a bar's time against our wall clock (a sim's bars, or a
replayed path, are not wall time): **receipt** (our monotonic clock since the last closed bar
arrived: a silent or stalled stream) and the **venue's bar clock** (the open time of the newest
bar, forming or closed, the exchange has shown us). A bar back-filled over REST after a gap is
fresh by receipt, yet when it arrives the venue may already be more than two bars past its
close: such a bar is *late*, and an entry decided on it (the engine's time is that bar's) is
denied too. Lateness is judged when the bar arrives, not when the engine gets to it, so a
replayed or time-compressed path is judged as it streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from neo.adapters.ccxt.client import stream_mode
from neo.adapters.ccxt.errors import translate
from neo.adapters.ccxt.history import bar_closed
from neo.adapters.ccxt.ratelimit import Backoff, RetryBudget, retry_call_async
from neo.domain.bar import Bar
from neo.domain.errors import NeoError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.logs import get_logger

log = get_logger("adapters.ccxt.feed")
_MS = 1_000_000
_LATE_KEPT = 1_000
"""How many bars back a late bar is remembered (the engine is never further behind)."""

StaleCallback = Callable[[InstrumentId, bool, float], None]


@dataclass
class _Series:
    """What the feed knows of one instrument."""

    instrument: InstrumentId
    market_id: str
    last_ts: int | None = None  # ms of the last bar yielded
    pending: list[float] | None = None  # the bar still forming
    received: float = field(default_factory=time.monotonic)
    stale: bool = False
    venue_ms: int | None = None  # open time of the newest bar (even forming) the venue showed
    pending_from_rest: bool = False  # pending is a REST snapshot, not the socket's latest word
    late: set[int] = field(default_factory=set)  # ms opens of bars that arrived > 2 bars late


@dataclass
class FeedStats:
    bars: int = 0
    reconnects: int = 0
    heartbeats_missed: int = 0
    backfilled: int = 0
    duplicates_dropped: int = 0
    polls: int = 0
    subscriptions_acked: int = 0  # gap back-fills started on the exchange's acknowledgement
    subscriptions_unacked: int = 0  # ... started without one (none came in time)


class CcxtBarFeed:
    """Closed bars of ``symbols`` on an async ccxt client (see the module docstring).

    ``mode``: ``"auto"`` (websocket when ``exchange.has['watchOHLCV']``), ``"watch"`` or
    ``"poll"``. ``since_ms`` back-fills from that time before going live (default: live only).
    """

    def __init__(
        self,
        exchange: Any,
        symbols: Iterable[str],
        timeframe: Timeframe | str,
        *,
        mode: str = "auto",
        heartbeat_s: float = 30.0,
        poll_s: float = 5.0,
        since_ms: int | None = None,
        backoff: Backoff | None = None,
        on_stale: StaleCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.exchange = exchange
        self._timeframe = Timeframe.parse(timeframe)
        self.step_ms = self._timeframe.nanos // _MS
        names = list(dict.fromkeys(symbols))
        self.mode = stream_mode(exchange, mode, "watchOHLCV")
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.since_ms = since_ms
        self.backoff = backoff or Backoff()
        self.on_stale = on_stale
        self.clock = clock
        self.stats = FeedStats()
        self.offset_ms = 0
        self.series = {
            name: _Series(InstrumentId(exchange.id, name), name, received=clock()) for name in names
        }
        self._closed_marks: set[tuple[str, str, int]] = set()
        self._acks_hooked = False
        self._acked: set[tuple[str, str]] = set()  # (socket url, request id) acknowledged
        self._ack_waiters: dict[tuple[str, str], asyncio.Future[None]] = {}
        self.subscribe_timeout_s = min(heartbeat_s, 5.0)
        self._queue: asyncio.Queue[Bar] = asyncio.Queue()

    # -- the Feed protocol ----------------------------------------------------------------
    @property
    def instruments(self) -> list[InstrumentId]:
        return [s.instrument for s in self.series.values()]

    @property
    def timeframe(self) -> Timeframe:
        return self._timeframe

    async def stream(self) -> AsyncGenerator[Bar, None]:
        """Closed bars as they complete, until cancelled."""
        await self._prepare()
        tasks = [asyncio.create_task(self._run(s)) for s in self.series.values()]
        tasks.append(asyncio.create_task(self._watchdog()))
        try:
            while True:
                getter = asyncio.create_task(self._queue.get())
                done, _ = await asyncio.wait([getter, *tasks], return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                for task in done:  # a series task ended: only by a fatal error
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, NeoError, Exception):
                    await task

    # -- staleness ------------------------------------------------------------------------
    def staleness_seconds(self, instrument: InstrumentId) -> float:
        """Seconds since ``instrument``'s last closed bar was due (its last bar's receipt)."""
        for series in self.series.values():
            if series.instrument == instrument:
                return max(0.0, self.clock() - series.received)
        raise KeyError(instrument)

    def is_stale(self, instrument: InstrumentId, engine_ts: int | None = None) -> bool:
        """Older than two bars, so no new entries should be made on it: nothing received for
        two bar lengths, or the bar opening at ``engine_ts`` (ns; the engine's time when it
        decides on that bar) arrived late (the module docstring)."""
        if self.staleness_seconds(instrument) > 2 * self._timeframe.seconds:
            return True
        if engine_ts is None:
            return False
        series = next(s for s in self.series.values() if s.instrument == instrument)
        return engine_ts // _MS in series.late

    def check_staleness(self) -> None:
        """Update every instrument's flag; ``on_stale`` hears each change."""
        for series in self.series.values():
            age = self.staleness_seconds(series.instrument)
            stale = age > 2 * self._timeframe.seconds
            if stale != series.stale:
                series.stale = stale
                log.warning(
                    "%s data %s (%.0f s since the last bar)",
                    series.instrument,
                    "stale" if stale else "fresh again",
                    age,
                )
                if self.on_stale is not None:
                    self.on_stale(series.instrument, stale, age)

    async def _watchdog(self) -> None:
        every = max(0.05, min(self.heartbeat_s, self._timeframe.seconds / 4))
        while True:
            await asyncio.sleep(every)
            self.check_staleness()

    # -- setup ----------------------------------------------------------------------------
    async def _prepare(self) -> None:
        exchange = self.exchange
        await self._call(lambda: exchange.load_markets(), "load_markets")
        for name, series in self.series.items():
            series.market_id = str(exchange.market(name)["id"])
        if exchange.has.get("fetchTime"):
            try:
                server = await self._call(lambda: exchange.fetch_time(), "fetch_time")
                self.offset_ms = int(server) - int(time.time() * 1000)
            except NeoError as exc:
                log.info(
                    "%s: no server time (%s); judging bar closes by our clock", exchange.id, exc
                )
        if self.mode == "watch":
            self._mark_closed_klines()
            self._hook_subscription_acks()

    def _mark_closed_klines(self) -> None:
        """Read Binance's kline ``x`` (closed) flag from the raw message: a closing bar is
        yielded at once instead of when the next bar begins."""
        original = getattr(self.exchange, "handle_ohlcv", None)
        if original is None:
            return
        marks = self._closed_marks

        def handle_ohlcv(client: Any, message: Any) -> Any:
            kline = message.get("k") if isinstance(message, dict) else None
            if isinstance(kline, dict) and kline.get("x") and kline.get("t") is not None:
                marks.add((str(kline.get("s")), str(kline.get("i")), int(kline["t"])))
            return original(client, message)

        self.exchange.handle_ohlcv = handle_ohlcv

    def _hook_subscription_acks(self) -> None:
        """Hear the exchange acknowledge a subscription (Binance answers ``SUBSCRIBE`` with
        ``{"result": null, "id": N}`` once the stream is live), so the gap back-fill after a
        (re)subscription starts only when nothing closing from then on can be missed."""
        original = getattr(self.exchange, "handle_subscription_status", None)
        if original is None:
            return
        acked, waiters = self._acked, self._ack_waiters

        def handle_subscription_status(client: Any, message: Any) -> Any:
            ident = message.get("id") if isinstance(message, dict) else None
            if ident is not None:
                key = (str(getattr(client, "url", "")), str(ident))
                acked.add(key)
                waiter = waiters.pop(key, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
            return original(client, message)

        self.exchange.handle_subscription_status = handle_subscription_status
        self._acks_hooked = True

    def _subscription(self, series: _Series) -> tuple[str, str] | None:
        """(socket url, request id) of the live subscription to ``series``' bars, when the
        client keeps one (ccxt.pro's ``client.subscriptions``, keyed by message hash)."""
        wanted = f"ohlcv::{series.instrument.symbol}::{self._timeframe}"
        for client in list((getattr(self.exchange, "clients", None) or {}).values()):
            entry = (getattr(client, "subscriptions", None) or {}).get(wanted)
            if isinstance(entry, dict) and entry.get("id") is not None:
                return str(getattr(client, "url", "")), str(entry["id"])
        return None

    async def _until_subscribed(self, series: _Series, watch: asyncio.Future[Any]) -> None:
        """Wait until the exchange acknowledged the subscription ``watch`` made (or a message
        came, or ``subscribe_timeout_s`` passed: then the back-fill goes ahead regardless)."""
        if not self._acks_hooked:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.subscribe_timeout_s
        await asyncio.sleep(0)  # let the watch call register its subscription
        while not watch.done():
            key = self._subscription(series)
            if key is not None and key in self._acked:
                self.stats.subscriptions_acked += 1
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.stats.subscriptions_unacked += 1
                log.info("%s: subscription not acknowledged in %.1f s: back-filling anyway",
                         series.instrument, self.subscribe_timeout_s)  # fmt: skip
                return
            waiter = self._ack_waiters.setdefault(key, loop.create_future()) if key else None
            # short waits: the subscription may not be registered yet (connecting)
            await asyncio.wait([watch, *([waiter] if waiter else [])], timeout=min(remaining, 0.05))

    # -- one instrument ------------------------------------------------------------------
    async def _run(self, series: _Series) -> None:
        if self.since_ms is not None:
            await self._backfill(series, self.since_ms)
        if self.mode == "poll":
            await self._poll(series)
        else:
            await self._watch(series)

    async def _watch(self, series: _Series) -> None:
        failures = 0
        resubscribed = True
        while True:
            watch = asyncio.ensure_future(
                self.exchange.watch_ohlcv(self._symbol(series), str(self._timeframe))
            )
            try:
                if resubscribed:
                    await self._until_subscribed(series, watch)
                    await self._backfill_gap(series)
                    self._take(series, self._socket_rows(series, []))
                    resubscribed = False
                rows = self._socket_rows(series, await asyncio.wait_for(watch, self.heartbeat_s))
                if self._missed_close(series, rows):
                    await self._backfill_gap(series)
                    rows = self._socket_rows(series, rows)
            except TimeoutError:
                self.stats.heartbeats_missed += 1
                log.warning(
                    "%s: no message for %.1f s: reconnecting", series.instrument, self.heartbeat_s
                )
            except asyncio.CancelledError:
                watch.cancel()
                raise
            except Exception as raw:
                error = translate(raw, self.exchange.id)
                log.warning("%s stream failed (%s): reconnecting", series.instrument, error)
            else:
                failures = 0
                self._take(series, rows)
                continue
            watch.cancel()
            failures += 1
            resubscribed = True
            await self._reconnect(series, failures)

    def _socket_rows(self, series: _Series, rows: Any) -> Any:
        """The socket's latest word on ``series``: ccxt.pro's cache (``exchange.ohlcvs``), not
        only the rows the last watch call returned. ccxt wakes a watch call only if one is
        waiting: a message that came between two calls (during a REST back-fill) updated the
        cache and woke nobody, and from an exchange that then stays silent it would never be
        seen. Falls back to ``rows`` when the client keeps no such cache."""
        symbols = getattr(self.exchange, "ohlcvs", None)
        cache = (symbols.get(series.instrument.symbol) or {}) if isinstance(symbols, dict) else {}
        cached = cache.get(str(self._timeframe)) if isinstance(cache, dict) else None
        if cached is None:
            return rows
        floor = series.last_ts if series.last_ts is not None else -1
        return [list(row) for row in list(cached) if int(row[0]) > floor]

    def _missed_close(self, series: _Series, rows: Any) -> bool:
        """The socket shows a bar after the pending one, which is a REST snapshot the socket
        said nothing about: its final values are REST's to give."""
        pending = series.pending
        if pending is None or not series.pending_from_rest:
            return False
        ts = int(pending[0])
        opens = {int(row[0]) for row in rows or []}
        return ts not in opens and any(t > ts for t in opens)

    async def _backfill_gap(self, series: _Series) -> None:
        """REST from the first bar not yet yielded (nothing when none was yet: live only)."""
        if series.last_ts is not None:
            await self._backfill(series, series.last_ts + self.step_ms)

    async def _reconnect(self, series: _Series, failures: int) -> None:
        self.stats.reconnects += 1
        with contextlib.suppress(Exception):  # drop the sockets, keep the client usable
            await self.exchange.close_ws_clients()
        await asyncio.sleep(self.backoff.delay(failures - 1))
        series.pending = None  # it may have missed its last updates: REST has the truth
        symbols = getattr(self.exchange, "ohlcvs", None)
        if isinstance(symbols, dict) and isinstance(symbols.get(series.instrument.symbol), dict):
            symbols[series.instrument.symbol].pop(str(self._timeframe), None)  # the old socket's

    async def _backfill(self, series: _Series, since_ms: int) -> None:
        symbol = self._symbol(series)
        cursor = since_ms
        while True:
            rows = await self._fetch(symbol, cursor)
            before = self.stats.bars
            self._take(series, rows, backfill=True)
            self.stats.backfilled += self.stats.bars - before
            newest = max((int(r[0]) for r in rows or []), default=None)
            if newest is None or newest < cursor or self.stats.bars == before:
                return
            # from the newest row again: it may be the forming bar, and the next page must hold
            # its closed values (not only a later bar, which would yield its snapshot)
            cursor = newest

    async def _poll(self, series: _Series) -> None:
        symbol = self._symbol(series)
        while True:
            since = series.last_ts + self.step_ms if series.last_ts is not None else None
            try:
                rows = await self._fetch(symbol, since)
            except NeoError as exc:
                log.warning("%s poll failed (%s); polling again", series.instrument, exc)
                rows = []
            self.stats.polls += 1
            if series.last_ts is None and series.pending is None and rows:
                rows = self._start_live(series, rows)
            self._take(series, rows, backfill=True)
            await asyncio.sleep(self.poll_s)

    def _start_live(self, series: _Series, rows: Any) -> Any:
        """The first poll of a live-only feed: history before the newest bar is not news."""
        ordered = sorted(rows, key=lambda r: int(r[0]))
        newest = int(ordered[-1][0])
        series.last_ts = int(ordered[-2][0]) if len(ordered) > 1 else newest - self.step_ms
        return ordered[-1:]

    # -- closing bars -----------------------------------------------------------------------
    def _take(self, series: _Series, rows: Any, *, backfill: bool = False) -> None:
        """Fold rows into the series: yield each bar once it is closed, in order."""
        now_ms = int(time.time() * 1000) + self.offset_ms
        ordered = sorted(rows or [], key=lambda r: int(r[0]))
        if ordered:  # the venue's bar clock: its newest bar, judged before any is emitted
            newest = int(ordered[-1][0])
            series.venue_ms = max(newest, series.venue_ms or newest)
        for row in ordered:
            ts = int(row[0])
            if series.last_ts is not None and ts <= series.last_ts:
                self.stats.duplicates_dropped += 1
                continue
            pending = series.pending
            if pending is not None and ts > int(pending[0]):
                self._emit(series, pending)
            series.pending = [float(v) for v in row]
            series.pending_from_rest = backfill
        pending = series.pending
        if pending is not None and self._closed(series, int(pending[0]), now_ms):
            self._emit(series, pending)

    def _closed(self, series: _Series, ts: int, now_ms: int) -> bool:
        """A socket's closing kline closes the bar the socket gave, never a REST snapshot of
        it: the closing message may have come while that snapshot was in flight."""
        marked = (series.market_id, str(self._timeframe), ts) in self._closed_marks
        if marked and not series.pending_from_rest:
            return True
        return bar_closed(ts, self.step_ms, now_ms)

    def _emit(self, series: _Series, row: list[float]) -> None:
        ts = int(row[0])
        series.pending = None if series.pending is row else series.pending
        if series.last_ts is not None and ts <= series.last_ts:
            self.stats.duplicates_dropped += 1
            return
        series.last_ts = ts
        series.received = self.clock()
        if series.venue_ms is not None and series.venue_ms - (ts + self.step_ms) > 2 * self.step_ms:
            series.late.add(ts)
            horizon = ts - _LATE_KEPT * self.step_ms
            series.late = {t for t in series.late if t >= horizon}
        self._closed_marks.discard((series.market_id, str(self._timeframe), ts))
        self.stats.bars += 1
        bar = Bar(
            instrument=series.instrument,
            timeframe=self._timeframe,
            ts=ts * _MS,
            open=row[1],
            high=row[2],
            low=row[3],
            close=row[4],
            volume=row[5],
        )
        self._queue.put_nowait(bar)

    # -- helpers --------------------------------------------------------------------------------
    def _symbol(self, series: _Series) -> str:
        return series.instrument.symbol

    async def _fetch(self, symbol: str, since: int | None) -> Any:
        async def page() -> Any:
            return await self.exchange.fetch_ohlcv(symbol, str(self._timeframe), since)

        return await self._call(page, f"fetch_ohlcv {symbol}")

    async def _call(self, call: Callable[[], Any], what: str) -> Any:
        return await retry_call_async(
            call,
            what=f"{self.exchange.id} {what}",
            translate=lambda e: translate(e, self.exchange.id),
            backoff=self.backoff,
            budget=getattr(self.exchange, "neo_budget", None) or RetryBudget(),
        )
