"""Binance's user data stream in the sim (``/ws-api/v3``): what the unmodified ccxt.pro client
subscribes to, and the wire protocol checked message by message."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest

from neo.exchange_sim import SimHandle
from neo.exchange_sim.client import SIM_KEY, SIM_SECRET, make_ccxt_client

pytestmark = pytest.mark.integration


def signed(params: dict[str, Any], secret: str = SIM_SECRET) -> dict[str, Any]:
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return {**params, "signature": signature}


async def ask(ws: aiohttp.ClientWebSocketResponse, ident: str, method: str,
              params: Any = None) -> dict[str, Any]:  # fmt: skip
    await ws.send_str(json.dumps({"id": ident, "method": method, "params": params or {}}))
    answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.receive_str(), 5))
    return answer


def test_every_fill_of_a_partly_filled_order_reaches_every_subscribed_socket(
    binance_sim: SimHandle,
) -> None:
    binance_sim.set_max_fill_per_bar("0.004")
    sim = binance_sim

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        url = sim.url.replace("http", "ws") + "/ws-api/v3"
        async with aiohttp.ClientSession() as http:
            a, b, idle = [await http.ws_connect(url) for _ in range(3)]
            for ws in (a, b):
                sub = await ask(ws, "1", "userDataStream.subscribe.signature",
                                signed({"apiKey": SIM_KEY, "timestamp": 1}))  # fmt: skip
                assert sub["status"] == 200 and sub["result"] == {"subscriptionId": 0}
            assert (await ask(idle, "9", "ping")) == {"id": "9", "status": 200, "result": {}}
            client = make_ccxt_client("binance", sim.url)
            last = float(sim.engine.last_price("BTC/USDT"))
            client.create_order("BTC/USDT", "limit", "buy", 0.01, round(last * 1.01, 2),
                                {"clientOrderId": "u-1"})  # fmt: skip
            client.close()
            sim.advance(2)
            seen = []
            for ws in (a, b):
                events = [json.loads(await asyncio.wait_for(ws.receive_str(), 5)) for _ in range(6)]
                seen.append([e["event"] for e in events])
            unsub = await ask(a, "2", "userDataStream.unsubscribe", {"subscriptionId": 0})
            return seen[0], seen[1], unsub

    first, second, unsub = asyncio.run(main())
    assert first == second  # both sockets got every event
    reports = [e for e in first if e["e"] == "executionReport"]
    fills = sim.fills()
    assert [r["t"] for r in reports] == [f["trade_id"] for f in fills]  # one per fill
    assert [r["l"] for r in reports] == ["0.00400000", "0.00400000", "0.00200000"]
    assert [r["X"] for r in reports] == ["PARTIALLY_FILLED", "PARTIALLY_FILLED", "FILLED"]
    assert {r["c"] for r in reports} == {"u-1"} and reports[-1]["z"] == "0.01000000"
    assert sum(Decimal(r["n"]) for r in reports) == sum(Decimal(f["fee"]) for f in fills)
    balances = [e for e in first if e["e"] == "outboundAccountPosition"]
    assert len(balances) == 3 and {b["a"] for b in balances[-1]["B"]} == {"BTC", "USDT"}
    assert unsub == {"id": "2", "status": 200, "result": {}}


def test_a_bad_signature_or_key_is_refused_as_binance_does(binance_sim: SimHandle) -> None:
    async def main() -> list[dict[str, Any]]:
        url = binance_sim.url.replace("http", "ws") + "/ws-api/v3"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            return [
                await ask(ws, "1", "userDataStream.subscribe.signature",
                          signed({"apiKey": SIM_KEY, "timestamp": 1}, "wrong")),
                await ask(ws, "2", "userDataStream.subscribe.signature",
                          signed({"apiKey": "nobody", "timestamp": 1})),
                await ask(ws, "3", "order.place", {}),
                await ask(ws, "4", "userDataStream.subscribe.signature", "not an object"),
            ]  # fmt: skip

    answers = asyncio.run(main())
    assert [a["error"]["code"] for a in answers] == [-1022, -2015, -1100, -1102]
    assert [a["status"] for a in answers] == [400, 401, 400, 400]


def test_ccxt_pro_cannot_subscribe_with_a_refused_key(
    binance_sim: SimHandle,
) -> None:
    async def main() -> None:
        client = make_ccxt_client("binance", binance_sim.url, pro=True, secret="wrong")
        try:
            await client.load_markets()
            # ccxt 4.5's error path rejects with AuthenticationError, then trips on its own
            # bookkeeping (KeyError 'spot'); either way the refused key never subscribes
            with pytest.raises((ccxt.AuthenticationError, KeyError)):
                await asyncio.wait_for(client.watch_my_trades(), 5)
            assert not any(c.subscriptions for c in binance_sim.sim.ws_connections)
        finally:
            await client.close()

    asyncio.run(main())
