"""The fills stream's own logic on a scripted client (no network): the heartbeat that finds a
stalled socket, the back-fill after a reconnect, the fall-back to REST, the inbox hand-off."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from neo.adapters.ccxt.fills_stream import CcxtFillStream, FillInbox
from neo.adapters.ccxt.orders import TRADES_OVERLAP_MS
from neo.adapters.ccxt.ratelimit import Backoff
from neo.domain.errors import ExchangeAuthError

FAST = Backoff(base_s=0.001, cap_s=0.005, ban_s=0.005, seed=1)


def trade(ident: int, stamp: int, symbol: str = "BTC/USDT") -> dict[str, Any]:
    return {"id": str(ident), "timestamp": stamp, "symbol": symbol, "order": "1"}


class Socket:
    """What ccxt keeps of one open websocket: when it last heard a pong or a message."""

    def __init__(self) -> None:
        self.connection = object()
        self.lastPong: float | None = time.time() * 1000
        self.last_message_at: float | None = None


class Scripted:
    """A ccxt.pro-like client: ``watch_my_trades`` answers from ``pushed``; REST from
    ``history``; a socket that goes quiet stops answering pongs."""

    id = "scripted"

    def __init__(self, *, watch: bool = True, auth_fails: int = 0, after: bool = False) -> None:
        self.has = {"watchMyTrades": watch}
        self.after = after  # Kraken: ``since`` is exclusive
        self.streaming: dict[str, Any] = {"keepAlive": 180_000}
        self.balance: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.pushed: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        self.clients: dict[str, Any] = {}
        self.auth_fails = auth_fails
        self.authenticated = 0
        self.closed = 0
        self.fetches: list[int | None] = []

    async def load_markets(self) -> None:
        return None

    async def authenticate(self, params: dict[str, Any]) -> None:
        if self.auth_fails:
            self.auth_fails -= 1
            raise ExchangeAuthError("websocket refused")
        self.authenticated += 1
        self.clients["user"] = Socket()

    async def watch_my_trades(self) -> list[dict[str, Any]]:
        return await self.pushed.get()

    async def fetch_my_trades(self, symbol: str, since: int | None, limit: int) -> Any:
        self.fetches.append(since)
        if since is None:
            return list(self.history)
        if self.after:
            return [t for t in self.history if t["timestamp"] > since]
        return [t for t in self.history if t["timestamp"] >= since]

    async def close_ws_clients(self) -> None:
        self.closed += 1
        self.clients.clear()


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def drive(stream: CcxtFillStream, body: Any) -> None:
    async def main() -> None:
        task = asyncio.create_task(stream.run())
        try:
            await body()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_a_socket_without_pongs_is_stalled_reopened_and_its_gap_backfilled() -> None:
    exchange = Scripted()
    inbox = FillInbox()
    stream = CcxtFillStream(exchange, ["BTC/USDT"], inbox, heartbeat_s=0.15, backoff=FAST)
    assert exchange.streaming["keepAlive"] == 50  # ccxt pings well inside the heartbeat

    async def body() -> None:
        await until(stream.subscribed.is_set)
        exchange.pushed.put_nowait([trade(1, 1000)])
        await until(lambda: len(inbox) == 1)
        exchange.history = [trade(1, 1000), trade(2, 2000)]  # made while the socket is quiet
        exchange.clients["user"].lastPong = time.time() * 1000 - 10_000  # no pong since
        await until(lambda: stream.stats.heartbeats_missed >= 1 and len(inbox) == 2)

    drive(stream, body)
    assert stream.stats.trades == 1 and stream.stats.reconnects >= 1 and exchange.closed >= 1
    assert exchange.fetches[-1] == 1000 - TRADES_OVERLAP_MS  # from the newest trade seen
    handed: list[tuple[str, str]] = []
    inbox.drain(lambda t, source: handed.append((t["id"], source)) is None)
    assert handed == [("1", "ws"), ("2", "rest")]  # the back-fill did not hand trade 1 again


def test_a_quiet_socket_that_answers_pings_is_not_stalled() -> None:
    exchange = Scripted()
    stream = CcxtFillStream(exchange, ["BTC/USDT"], FillInbox(), heartbeat_s=0.1, backoff=FAST)

    async def body() -> None:
        await until(stream.subscribed.is_set)
        for _ in range(10):  # a second of no trades, pongs coming in
            exchange.clients["user"].lastPong = time.time() * 1000
            await asyncio.sleep(0.03)

    drive(stream, body)
    assert stream.stats.heartbeats_missed == 0 and stream.stats.reconnects == 0


def test_trades_of_other_markets_are_not_handed_and_ccxts_cache_is_read() -> None:
    exchange = Scripted()
    inbox = FillInbox()
    stream = CcxtFillStream(exchange, ["BTC/USDT"], inbox, heartbeat_s=0.3, backoff=FAST)

    async def body() -> None:
        await until(stream.subscribed.is_set)
        # a trade ccxt cached between two watch calls: no call returns it, the cache has it
        exchange.myTrades = [trade(7, 700), trade(8, 800, "ETH/USDT")]  # type: ignore[attr-defined]
        await until(lambda: len(inbox) == 1)

    drive(stream, body)
    assert stream.stats.trades == 1
    assert stream.since == {"BTC/USDT": 700}


def test_a_websocket_that_never_subscribes_falls_back_to_rest_polls() -> None:
    exchange = Scripted(auth_fails=99)
    exchange.history = [trade(3, 300)]
    inbox = FillInbox()
    stream = CcxtFillStream(exchange, ["BTC/USDT"], inbox, poll_s=0.01, backoff=FAST)

    async def body() -> None:
        await until(lambda: stream.stats.polls >= 3)

    drive(stream, body)
    assert stream.mode == "poll" and len(inbox) == 1  # polled thrice, handed once


def test_a_poll_finds_a_second_trade_made_in_the_newest_trades_millisecond() -> None:
    """Kraken's ``since`` is exclusive: the old poll, from the newest stamp itself, never
    handed trade 5, made in the same millisecond as trade 4 but listed a poll later."""
    exchange = Scripted(watch=False, after=True)
    exchange.history = [trade(4, 400)]
    inbox = FillInbox()
    stream = CcxtFillStream(exchange, ["BTC/USDT"], inbox, poll_s=0.01, backoff=FAST)

    async def body() -> None:
        await until(lambda: len(inbox) == 1)
        exchange.history = [trade(4, 400), trade(5, 400)]
        polls = stream.stats.polls
        await until(lambda: stream.stats.polls >= polls + 2)

    drive(stream, body)
    handed: list[str] = []
    inbox.drain(lambda t, source: handed.append(t["id"]) is None)
    assert handed == ["4", "5"]


def test_an_exchange_without_watch_my_trades_is_polled_from_the_start() -> None:
    exchange = Scripted(watch=False)
    stream = CcxtFillStream(exchange, ["BTC/USDT"], FillInbox(), poll_s=0.01)
    assert stream.mode == "poll" and exchange.streaming["keepAlive"] == 180_000
    with pytest.raises(ValueError, match="mode must be"):
        CcxtFillStream(exchange, ["BTC/USDT"], FillInbox(), mode="sometimes")


def test_the_inbox_applies_in_arrival_order_and_counts_what_was_new() -> None:
    inbox = FillInbox()
    for ident, source in ((1, "ws"), (1, "rest"), (2, "rest")):
        inbox.put(trade(ident, ident), source)
    booked: set[str] = set()

    def apply(t: dict[str, Any], source: str) -> bool:
        new = t["id"] not in booked
        booked.add(t["id"])
        return new

    assert inbox.drain(apply) == 2 and len(inbox) == 0
    assert inbox.by_source == {"ws": 1, "rest": 1} and inbox.ignored == 1
