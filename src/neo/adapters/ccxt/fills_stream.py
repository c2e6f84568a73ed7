"""``CcxtFillStream``: our own fills over the exchange's websocket, REST when it has none.

The exchange broker (:class:`~neo.adapters.ccxt.broker.CcxtBroker`) learns of fills from its
create answers and its REST polls, at the loop's pace. This stream runs beside the session on
its event loop and hears them as they happen, from ccxt.pro's ``watch_my_trades`` where
``exchange.has['watchMyTrades']`` (Binance: the user data stream of its WebSocket API), else
from REST polls of ``fetch_my_trades``:

* Every trade goes into a :class:`FillInbox`; the session drains the inbox into
  :meth:`CcxtBroker.on_trade <neo.adapters.ccxt.broker.CcxtBroker.on_trade>` exactly where it
  applies REST fills (the venue broker's ``before_bar``, on the loop's thread, before the REST
  poll), so the one de-duplication by trade id and the overfill refusal apply to all sources,
  and a fill is booked at the same point of the loop whichever source brought it (a restart's
  replay, which plays fills back at the bar they were booked at, decides as the run did).
* Heartbeat: a quiet my-trades stream is normal (no trade, no message), so liveness is the
  socket's own: ccxt pings every ``heartbeat_s / 3`` and a socket with neither a pong nor a
  message for ``heartbeat_s`` is stalled. A stalled or failed socket is closed and reopened
  after a backoff with jitter.
* Each (re)connect first re-subscribes (``authenticate``: for Binance that is the user data
  subscription itself), then back-fills over REST every trade since the last one seen
  (``fetch_my_trades(symbol, since)``), then listens: a trade made while the socket was down is
  found by the back-fill, one made after it by the socket; one seen by both is applied once.
* An exchange whose websocket cannot be reached (never subscribed after ``fallback_after``
  tries) or that has no ``watchMyTrades`` is polled over REST every ``poll_s`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from neo.adapters.ccxt.client import stream_mode
from neo.adapters.ccxt.errors import translate
from neo.adapters.ccxt.orders import trades_since
from neo.adapters.ccxt.ratelimit import Backoff, RetryBudget, retry_call_async
from neo.domain.errors import NeoError
from neo.logs import get_logger

log = get_logger("adapters.ccxt.fills")
T = TypeVar("T")
ApplyTrade = Callable[[dict[str, Any], str], bool]
"""``CcxtBroker.on_trade``: ``(trade, source) -> True`` when it was a new fill."""
PAGE = 500
KEPT_IDS = 20_000
"""Trade ids remembered so a back-fill does not hand the inbox what the socket already did."""
"""Trades asked for per REST page (Binance's default; a full page asks for the next)."""


class StalledError(Exception):
    """The socket answered neither pings nor anything else for a heartbeat."""


class FillInbox:
    """Trades handed from the stream to the session's loop, applied in arrival order.

    ``put`` may be called from any task or thread (a deque's append and popleft are atomic);
    ``drain`` runs on the loop's thread, where the broker and the journal live.
    """

    def __init__(self) -> None:
        self._items: deque[tuple[dict[str, Any], str]] = deque()
        self.applied = 0
        self.ignored = 0
        self.by_source: dict[str, int] = {}

    def put(self, trade: dict[str, Any], source: str) -> None:
        self._items.append((trade, source))

    def __len__(self) -> int:
        return len(self._items)

    def drain(self, apply: ApplyTrade) -> int:
        """Apply every trade waiting; the number that were new fills."""
        new = 0
        while True:
            try:
                trade, source = self._items.popleft()
            except IndexError:
                return new
            if apply(trade, source):
                new += 1
                self.applied += 1
                self.by_source[source] = self.by_source.get(source, 0) + 1
            else:
                self.ignored += 1  # a duplicate, or not an order of this session


@dataclass
class FillStreamStats:
    trades: int = 0
    """Trades received over the websocket."""
    backfilled: int = 0
    """Trades fetched over REST after a (re)connect, or by a poll."""
    subscribed: int = 0
    reconnects: int = 0
    heartbeats_missed: int = 0
    polls: int = 0


class CcxtFillStream:
    """Our fills on ``symbols`` from an async ccxt.pro client with keys (module docstring).

    ``mode``: ``"auto"`` (websocket when ``exchange.has['watchMyTrades']``), ``"watch"`` or
    ``"poll"``. Use a client of its own: its websocket keep-alive is set from ``heartbeat_s``.
    """

    def __init__(
        self,
        exchange: Any,
        symbols: Iterable[str],
        inbox: FillInbox,
        *,
        mode: str = "auto",
        heartbeat_s: float = 30.0,
        poll_s: float = 5.0,
        fallback_after: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        self.exchange = exchange
        self.symbols = list(dict.fromkeys(symbols))
        self.inbox = inbox
        self.mode = stream_mode(exchange, mode, "watchMyTrades")
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.fallback_after = fallback_after
        self.backoff = backoff or Backoff()
        self.stats = FillStreamStats()
        self.since: dict[str, int] = {}
        """Per symbol: the time (ms) of the newest trade seen; a back-fill starts there."""
        self._handed: dict[str, None] = {}
        """Ids of the trades handed lately, oldest first (at most ``KEPT_IDS``)."""
        self.subscribed = asyncio.Event()
        """Set while the websocket is subscribed and the back-fill behind it done: from then on
        a new fill comes over the socket (tests and status wait on it)."""
        streaming = getattr(exchange, "streaming", None)
        if self.mode == "watch" and isinstance(streaming, dict):
            streaming["keepAlive"] = max(50, int(heartbeat_s * 1000 / 3))

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Hand every trade to the inbox until cancelled. A fatal error (keys refused, …)
        ends the stream with a warning: the broker's REST polls still bring every fill."""
        try:
            await self._call(lambda: self.exchange.load_markets(), "load_markets")
            if self.mode == "watch":
                await self._watch()
            await self._poll()
        except asyncio.CancelledError:
            raise
        except NeoError as exc:
            log.warning(
                "%s: fills stream stopped (%s); fills still come over REST at each bar",
                self.exchange.id,
                exc,
            )

    async def _watch(self) -> None:
        """Subscribe, back-fill, listen; reconnect on a stall or a failure. Returns only to
        fall back to polling (the websocket never worked)."""
        failures = 0
        ever = False
        while True:
            try:
                await self._subscribe()
                ever = True
                await self._backfill()
                failures = 0  # caught up: the next trouble starts the backoff afresh
                self.subscribed.set()
                await self._listen()
            except asyncio.CancelledError:
                raise
            except StalledError:
                self.stats.heartbeats_missed += 1
                log.warning(
                    "%s: user data stream silent for %.1f s: reconnecting",
                    self.exchange.id,
                    self.heartbeat_s,
                )
            except Exception as raw:
                if type(raw).__name__ == "RequestTimeout":  # ccxt's own ping-pong keep-alive
                    self.stats.heartbeats_missed += 1
                error = translate(raw, self.exchange.id)
                log.warning("%s: user data stream failed (%s): reconnecting", self.exchange.id,
                            error)  # fmt: skip
            self.subscribed.clear()
            failures += 1
            if not ever and failures >= self.fallback_after:
                log.warning(
                    "%s: no websocket my-trades after %d tries: polling them over REST",
                    self.exchange.id,
                    failures,
                )
                self.mode = "poll"
                return
            await self._reconnect(failures)

    async def _subscribe(self) -> None:
        """Open the user data subscription before anything is back-filled, so that no trade
        falls between the REST answer and the socket (ccxt's ``authenticate`` does it for
        Binance; elsewhere the first ``watch_my_trades`` does)."""
        balance = getattr(self.exchange, "balance", None)
        if isinstance(balance, dict):
            # ccxt.pro binance reads its balance cache on the balance event that follows each
            # fill, and only watch_my_trades creates it: a fill between the subscription and
            # that call would raise inside ccxt's receive loop and leave the socket unread.
            balance.setdefault("spot", {})
        authenticate = getattr(self.exchange, "authenticate", None)
        if authenticate is not None:
            await asyncio.wait_for(authenticate({"type": "spot"}), self.heartbeat_s)
        self.stats.subscribed += 1

    async def _listen(self) -> None:
        pending = asyncio.ensure_future(self.exchange.watch_my_trades())
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=self.heartbeat_s / 3)
                if pending in done:
                    trades = pending.result()  # raises what the socket raised
                    self.stats.trades += self._take(trades, "ws")
                    pending = asyncio.ensure_future(self.exchange.watch_my_trades())
                elif self._silent_s() > self.heartbeat_s:
                    raise StalledError
                self.stats.trades += self._take(self._cached(), "ws")
        finally:
            if not pending.done():
                pending.cancel()
            with contextlib.suppress(BaseException):
                await pending

    def _cached(self) -> list[dict[str, Any]]:
        """The trades ccxt parsed from the socket: one that arrived between two
        ``watch_my_trades`` calls is in its cache, though no call returned it."""
        cache = getattr(self.exchange, "myTrades", None)
        return list(cache) if cache else []

    def _silent_s(self) -> float:
        """Seconds since the newest pong or message on any of the client's open sockets."""
        newest: float | None = None
        for client in list((getattr(self.exchange, "clients", None) or {}).values()):
            if getattr(client, "connection", None) is None:
                continue  # never dialled (ccxt parks flights on such clients)
            for stamp in (getattr(client, "lastPong", None), getattr(client, "last_message_at",
                                                                     None)):  # fmt: skip
                if stamp is not None:
                    newest = stamp if newest is None else max(newest, stamp)
        if newest is None:
            return 0.0
        return max(0.0, time.time() - newest / 1000.0)

    async def _reconnect(self, failures: int) -> None:
        self.stats.reconnects += 1
        with contextlib.suppress(Exception):  # drop the sockets, keep the client usable
            await self.exchange.close_ws_clients()
        await asyncio.sleep(self.backoff.delay(failures - 1))

    async def _poll(self) -> None:
        while True:
            try:
                await self._backfill()
            except NeoError as exc:
                log.warning("%s: my-trades poll failed (%s); polling again", self.exchange.id,
                            exc)  # fmt: skip
            self.stats.polls += 1
            await asyncio.sleep(self.poll_s)

    # ------------------------------------------------------------------ trades
    async def _backfill(self) -> None:
        """Every trade of each symbol since the newest one seen, with an overlap (see
        :func:`~neo.adapters.ccxt.orders.trades_since`; the last page when none)."""
        for symbol in self.symbols:
            while True:
                newest = self.since.get(symbol)
                page = await self._fetch(symbol, trades_since(newest))
                self.stats.backfilled += self._take(page or [], "rest")
                if len(page or []) < PAGE or self.since.get(symbol) == newest:
                    break

    async def _fetch(self, symbol: str, since: int | None) -> list[dict[str, Any]]:
        async def page() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = await self.exchange.fetch_my_trades(symbol, since, PAGE)
            return found

        return await self._call(page, f"fetch_my_trades {symbol}")

    def _take(self, trades: Iterable[dict[str, Any]], source: str) -> int:
        """Hand the trades not handed before to the inbox, oldest first; how many."""
        handed = 0
        for trade in sorted(trades, key=lambda t: int(t.get("timestamp") or 0)):
            symbol = str(trade.get("symbol"))
            if symbol not in self.symbols:
                continue  # another market: none of this session's orders
            ident = str(trade.get("id"))
            if ident in self._handed:
                continue  # handed already (the broker would refuse it anyway)
            self._handed[ident] = None
            if len(self._handed) > KEPT_IDS:
                del self._handed[next(iter(self._handed))]
            stamp = int(trade.get("timestamp") or 0)
            self.since[symbol] = max(stamp, self.since.get(symbol, stamp))
            self.inbox.put(trade, source)
            handed += 1
        return handed

    async def _call(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        result: T = await retry_call_async(
            call,
            what=f"{self.exchange.id} {what}",
            translate=lambda e: translate(e, self.exchange.id),
            backoff=self.backoff,
            budget=getattr(self.exchange, "neo_budget", None) or RetryBudget(),
        )
        return result


async def run_beside(stream: CcxtFillStream, main: Awaitable[T]) -> T:
    """Await ``main`` (the session) with ``stream`` running beside it on the same event loop;
    the stream stops when ``main`` ends, whichever way."""
    task = asyncio.create_task(stream.run(), name="neo-fills-stream")
    try:
        return await main
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


__all__ = ["CcxtFillStream", "FillInbox", "FillStreamStats", "StalledError", "run_beside"]
