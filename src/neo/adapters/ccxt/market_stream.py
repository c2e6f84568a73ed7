"""``CcxtMarketStream``: the venue's trades and top of book as NEO values (:class:`TradeTick`,
:class:`Quote`), over ccxt.pro's websockets where the exchange has them (``watchTrades``,
``watchBidsAsks``), else by REST polling (``fetch_trades``, ``fetch_bids_asks``).

A silent socket (``heartbeat_s`` without a message) or a socket error drops the websocket and
reopens it after a backoff with jitter; a trade is yielded once (by trade id) whichever way it
came. Trades printed while the socket was down are not back-filled (the bar feed back-fills
bars; the tape is for reaction, not for records). A quote is yielded when the top of book
changes; its time is the venue's when it gives one, else the time we received it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

from neo.adapters.ccxt.client import stream_mode
from neo.adapters.ccxt.errors import translate
from neo.adapters.ccxt.ratelimit import Backoff
from neo.domain.enums import Side
from neo.domain.errors import NeoError
from neo.domain.ids import InstrumentId
from neo.domain.market import Quote, TradeTick
from neo.logs import get_logger

log = get_logger("adapters.ccxt.market_stream")
_MS = 1_000_000
_SEEN = 10_000
"""Trade ids remembered per instrument to drop repeats."""


class CcxtMarketStream:
    """Trades and quotes of ``symbols`` on an async ccxt client (see the module docstring).

    ``mode``: ``"auto"`` (websocket for each kind the exchange can watch), ``"watch"`` or
    ``"poll"``.
    """

    def __init__(
        self,
        exchange: Any,
        symbols: Iterable[str],
        *,
        mode: str = "auto",
        heartbeat_s: float = 30.0,
        poll_s: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.exchange = exchange
        self.symbols = list(dict.fromkeys(symbols))
        self.mode = stream_mode(exchange, mode)
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.backoff = backoff or Backoff()
        self.reconnects = 0

    def _watching(self, capability: str) -> bool:
        return stream_mode(self.exchange, self.mode, capability) == "watch"

    def _iid(self, symbol: str) -> InstrumentId:
        return InstrumentId(self.exchange.id, symbol)

    # -- trades ---------------------------------------------------------------------------------
    async def trades(self) -> AsyncGenerator[TradeTick, None]:
        """Each trade printed on ``symbols``, once, until cancelled."""
        watch = self._watching("watchTrades")
        seen = {s: _Seen() for s in self.symbols}

        def source(symbol: str) -> Callable[[], Awaitable[Any]]:
            if watch:
                return lambda: self.exchange.watch_trades(symbol)
            return lambda: self.exchange.fetch_trades(symbol)

        async for symbol, rows in self._merge(source, watch):
            for row in sorted(rows or [], key=lambda r: r.get("timestamp") or 0):
                tick = self._tick(symbol, row)
                if tick is not None and seen[symbol].first(tick.trade_id):
                    yield tick

    def _tick(self, symbol: str, row: dict[str, Any]) -> TradeTick | None:
        price, amount, stamp = row.get("price"), row.get("amount"), row.get("timestamp")
        if price is None or amount is None:
            return None
        side = row.get("side")
        return TradeTick(
            instrument=self._iid(symbol),
            ts=int(stamp) * _MS if stamp is not None else time.time_ns(),
            price=float(price),
            quantity=float(amount),
            trade_id=str(row.get("id") or ""),
            aggressor=Side(side) if side in ("buy", "sell") else None,
        )

    # -- quotes ---------------------------------------------------------------------------------
    async def quotes(self) -> AsyncGenerator[Quote, None]:
        """The top of book of ``symbols`` each time it changes, until cancelled."""
        watch = self._watching("watchBidsAsks")
        last: dict[str, tuple[float, float, float, float]] = {}

        def source(symbol: str) -> Callable[[], Awaitable[Any]]:
            if watch:
                return lambda: self.exchange.watch_bids_asks([symbol])
            return lambda: self.exchange.fetch_bids_asks([symbol])

        async for symbol, tickers in self._merge(source, watch):
            row = (tickers or {}).get(symbol)
            quote = None if row is None else self._quote(symbol, row)
            if quote is None:
                continue
            top = (quote.bid, quote.ask, quote.bid_size, quote.ask_size)
            if last.get(symbol) != top:
                last[symbol] = top
                yield quote

    def _quote(self, symbol: str, row: dict[str, Any]) -> Quote | None:
        bid, ask = row.get("bid"), row.get("ask")
        if bid is None or ask is None:
            return None
        stamp = row.get("timestamp")
        return Quote(
            instrument=self._iid(symbol),
            ts=int(stamp) * _MS if stamp is not None else time.time_ns(),
            bid=float(bid),
            ask=float(ask),
            bid_size=float(row.get("bidVolume") or 0.0),
            ask_size=float(row.get("askVolume") or 0.0),
        )

    # -- plumbing -------------------------------------------------------------------------------
    async def _merge(
        self, source: Callable[[str], Callable[[], Awaitable[Any]]], watch: bool
    ) -> AsyncGenerator[tuple[str, Any], None]:
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        run = self._watch if watch else self._poll
        tasks = [asyncio.create_task(run(s, source(s), queue)) for s in self.symbols]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _watch(
        self, symbol: str, call: Callable[[], Awaitable[Any]], queue: asyncio.Queue[Any]
    ) -> None:
        failures = 0
        while True:
            try:
                result = await asyncio.wait_for(call(), self.heartbeat_s)
            except TimeoutError:
                log.warning("%s: no message for %.1f s: reconnecting", symbol, self.heartbeat_s)
            except Exception as raw:
                log.warning("%s stream failed (%s): reconnecting", symbol, translate(raw, ""))
            else:
                failures = 0
                queue.put_nowait((symbol, result))
                continue
            failures += 1
            self.reconnects += 1
            with contextlib.suppress(Exception):
                await self.exchange.close_ws_clients()
            await asyncio.sleep(self.backoff.delay(failures - 1))

    async def _poll(
        self, symbol: str, call: Callable[[], Awaitable[Any]], queue: asyncio.Queue[Any]
    ) -> None:
        failures = 0
        while True:
            try:
                queue.put_nowait((symbol, await call()))
                failures = 0
                await asyncio.sleep(self.poll_s)
            except Exception as raw:
                error = raw if isinstance(raw, NeoError) else translate(raw, self.exchange.id)
                log.warning("%s poll failed (%s); polling again", symbol, error)
                failures += 1
                await asyncio.sleep(max(self.poll_s, self.backoff.delay(failures - 1)))


class _Seen:
    """Recent trade ids of one instrument (bounded): a repeat is dropped."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.order: deque[str] = deque()

    def first(self, trade_id: str) -> bool:
        if not trade_id:
            return True
        if trade_id in self.ids:
            return False
        self.ids.add(trade_id)
        self.order.append(trade_id)
        if len(self.order) > _SEEN:
            self.ids.discard(self.order.popleft())
        return True
