"""The async ccxt client and ccxt.pro's websocket watchers against the sim's Binance dialect."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import ccxt
import pytest

from neo.exchange_sim import SimHandle
from neo.exchange_sim.client import make_ccxt_client

pytestmark = pytest.mark.integration
T = TypeVar("T")
MINUTE = 60_000


def run(sim: SimHandle, body: Callable[[Any], Awaitable[T]], *, pro: bool = True) -> T:
    """Run ``body(client)`` with a fresh async/pro client, closed afterwards."""

    async def main() -> T:
        client = make_ccxt_client("binance", sim.url, pro=pro, asyncio=not pro, timeout_ms=3000)
        try:
            await client.load_markets()
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(main())


async def advance_when_watching(sim: SimHandle, watcher: Awaitable[T], bars: int = 1) -> T:
    """Start ``watcher``, let it subscribe, close ``bars`` bars, and return what it saw."""
    task = asyncio.ensure_future(watcher)
    for _ in range(100):  # wait for the subscription itself, not for a fixed time
        await asyncio.sleep(0.01)
        if sim.call(lambda: any(c.streams for c in sim.sim.ws_connections)):
            break
    sim.advance(bars)
    return await asyncio.wait_for(task, 5)


def test_async_rest_trades(binance_sim: SimHandle) -> None:
    async def body(client: Any) -> tuple[Any, Any]:
        order = await client.create_order(
            "ETH/USDT", "market", "sell", 1.5, params={"clientOrderId": "as-1"}
        )
        fetched = await client.fetch_order(None, "ETH/USDT", params={"clientOrderId": "as-1"})
        return order, fetched

    order, fetched = run(binance_sim, body, pro=False)
    assert order["status"] == fetched["status"] == "closed"
    assert fetched["filled"] == 1.5 and order["fee"]["currency"] == "USDT"


def test_watch_ohlcv_gets_the_kline_of_each_closed_bar(binance_sim: SimHandle) -> None:
    async def body(client: Any) -> list[list[Any]]:
        first = await advance_when_watching(binance_sim, client.watch_ohlcv("BTC/USDT", "1m"))
        second = await advance_when_watching(binance_sim, client.watch_ohlcv("BTC/USDT", "1m"))
        return [first[-1], second[-1]]

    seen = run(binance_sim, body)
    rest = make_ccxt_client("binance", binance_sim.url).fetch_ohlcv("BTC/USDT", "1m", limit=3)
    assert seen == rest[:2]  # the two bars closed, exactly as REST reports them afterwards
    assert seen[1][0] - seen[0][0] == MINUTE


def test_watch_trades_and_order_book(binance_sim: SimHandle) -> None:
    async def body(client: Any) -> tuple[Any, Any, Any]:
        trades = await advance_when_watching(binance_sim, client.watch_trades("ETH/USDT"))
        book = await asyncio.wait_for(client.watch_order_book("ETH/USDT"), 5)
        nonce = book["nonce"]
        updated = await advance_when_watching(binance_sim, client.watch_order_book("ETH/USDT"))
        return trades, nonce, updated

    trades, nonce, book = run(binance_sim, body)
    last = float(binance_sim.engine.last_price("ETH/USDT"))
    assert trades[-1]["symbol"] == "ETH/USDT"
    assert book["nonce"] == nonce + 1
    assert len(book["bids"]) == len(book["asks"]) == 5  # the levels of the old price are gone
    assert book["bids"][0][0] == pytest.approx(last - 0.01)
    assert book["asks"][0][0] == pytest.approx(last + 0.01)


def test_ws_cut_closes_the_socket(binance_sim: SimHandle) -> None:
    async def body(client: Any) -> None:
        await advance_when_watching(binance_sim, client.watch_ohlcv("BTC/USDT", "1m"))
        binance_sim.add_fault("ws_cut", "/ws*")
        await asyncio.wait_for(client.watch_ohlcv("BTC/USDT", "1m"), 5)

    with pytest.raises(ccxt.NetworkError, match="closed by remote server"):
        run(binance_sim, body)


def test_after_a_cut_the_client_reconnects_and_streams_again(binance_sim: SimHandle) -> None:
    async def body(client: Any) -> tuple[Any, Any]:
        await advance_when_watching(binance_sim, client.watch_ohlcv("BTC/USDT", "1m"))
        binance_sim.add_fault("ws_cut", "/ws*")
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(client.watch_ohlcv("BTC/USDT", "1m"), 5)
        for _ in range(100):  # the server has dropped the cut socket
            if not binance_sim.call(lambda: len(binance_sim.sim.ws_connections)):
                break
            await asyncio.sleep(0.01)
        again = await advance_when_watching(binance_sim, client.watch_ohlcv("BTC/USDT", "1m"))
        return again, binance_sim.state()["now_ms"]

    candles, now = run(binance_sim, body)
    assert candles[-1][0] == now - MINUTE  # the bar closed after reconnecting


def test_ws_stall_keeps_the_socket_open_but_silent(binance_sim: SimHandle) -> None:
    received: list[Any] = []

    async def body(client: Any) -> None:
        client.streaming["keepAlive"] = 150  # ccxt pings; a stalled socket never pongs
        received.append(
            await advance_when_watching(binance_sim, client.watch_ohlcv("BTC/USDT", "1m"))
        )
        binance_sim.add_fault("ws_stall", "/ws*")
        binance_sim.advance(2)  # klines the stalled socket must not deliver
        await asyncio.wait_for(client.watch_ohlcv("BTC/USDT", "1m"), 5)

    with pytest.raises(ccxt.RequestTimeout, match="ping-pong keepalive"):
        run(binance_sim, body)
    assert len(received) == 1


def test_combined_stream_endpoint(binance_sim: SimHandle) -> None:
    import json

    import aiohttp

    async def main() -> dict[str, Any]:
        url = binance_sim.url.replace("http", "ws") + "/stream?streams=btcusdt@kline_5m"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            for _ in range(100):
                await asyncio.sleep(0.01)
                if binance_sim.call(lambda: len(binance_sim.sim.ws_connections)):
                    break
            binance_sim.advance(5)
            messages = [json.loads((await ws.receive(timeout=5)).data) for _ in range(5)]
        return messages[-1]

    message = asyncio.run(main())
    assert message["stream"] == "btcusdt@kline_5m"
    assert message["data"]["k"]["i"] == "5m" and message["data"]["k"]["x"] is True
