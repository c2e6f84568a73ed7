"""Binance's market streams for ccxt.pro: ``/ws`` (and ``/ws/<n>``, the way ccxt.pro connects)
with ``SUBSCRIBE`` messages, and the combined ``/stream?streams=a/b``.

Streams: ``<symbol>@kline_<interval>`` (one kline on every bar advance, ``x`` true when the
kline closed), ``<symbol>@trade`` (one trade per bar at its close), ``<symbol>@depth`` /
``@depth@100ms`` (a ``depthUpdate`` per bar whose ids follow the REST snapshot's
``lastUpdateId``), ``<symbol>@bookTicker``. The user data stream (our fills) is served at
``/ws-api/v3`` by :mod:`neo.exchange_sim.binance_user`. Faults: ``ws_cut`` closes the socket,
``ws_stall`` keeps it open but sends nothing, not even a pong.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from neo.exchange_sim.binance import book_levels, depth_snapshot, fmt, market_id
from neo.exchange_sim.klines import INTERVAL_MS, group_bar
from neo.exchange_sim.market import SimBar
from neo.exchange_sim.server import ExchangeSim, sim_of
from neo.exchange_sim.sim_socket import SimSocket


class BinanceStream(SimSocket):
    """One market-stream socket: its subscriptions (``combined``: Binance's ``/stream``)."""

    def __init__(self, sim: ExchangeSim, ws: web.WebSocketResponse, path: str,
                 combined: bool) -> None:  # fmt: skip
        super().__init__(sim, ws, path)
        self.combined = combined
        self.streams: set[str] = set()

    def push(self, stream: str, data: dict[str, Any]) -> None:
        if stream not in self.streams or self.stalled:
            return
        body = {"stream": stream, "data": data} if self.combined else data
        self.queue.put_nowait(json.dumps(body))

    def on_bar(self, symbol: str, bar: SimBar) -> None:
        engine = self.sim.engine
        lower = market_id(symbol).lower()
        now = engine.now_ms()
        for name, interval_ms in INTERVAL_MS.items():
            stream = f"{lower}@kline_{name}"
            if stream in self.streams and interval_ms % engine.config.bar_ms == 0:
                per = interval_ms // engine.config.bar_ms
                group = group_bar(engine, symbol, bar.index // per, per)
                closed = (bar.index + 1) % per == 0
                self.push(stream, _kline(symbol, name, interval_ms, group, closed, now))
        trade = {"e": "trade", "E": now, "s": market_id(symbol), "t": bar.index + 1,
                 "p": fmt(bar.close), "q": fmt(bar.volume / max(bar.trades, 1)), "T": now,
                 "m": bar.index % 2 == 0, "M": True}  # fmt: skip
        self.push(f"{lower}@trade", trade)
        tick = engine.specs[symbol].tick
        update_id = depth_snapshot(engine, symbol)["lastUpdateId"]
        update = {"e": "depthUpdate", "E": now, "s": market_id(symbol), "U": update_id,
                  "u": update_id, **_book_delta(bar.open, bar.close, tick)}  # fmt: skip
        self.push(f"{lower}@depth", update)
        self.push(f"{lower}@depth@100ms", update)
        self.push(f"{lower}@bookTicker", {
            "u": update_id, "s": market_id(symbol), "b": fmt(bar.close - tick),
            "B": "1.00000000", "a": fmt(bar.close + tick), "A": "1.00000000",
        })  # fmt: skip


def _book_delta(before: Decimal, after: Decimal, tick: Decimal) -> dict[str, list[list[str]]]:
    """The depthUpdate that turns the book around ``before`` into the one around ``after``:
    the new levels, and quantity 0 for each old level that is gone (Binance's delete)."""
    old, new = book_levels(before, tick), book_levels(after, tick)
    delta: dict[str, list[list[str]]] = {}
    for side, key in (("bids", "b"), ("asks", "a")):
        kept = {price for price, _ in new[side]}
        gone = [[price, fmt(Decimal(0))] for price, _ in old[side] if price not in kept]
        delta[key] = gone + new[side]
    return delta


def _kline(symbol: str, name: str, interval_ms: int, bar: SimBar, closed: bool,
           now: int) -> dict[str, Any]:  # fmt: skip
    return {
        "e": "kline", "E": now, "s": market_id(symbol),
        "k": {"t": bar.open_ms, "T": bar.open_ms + interval_ms - 1, "s": market_id(symbol),
              "i": name, "f": 0, "L": bar.trades, "o": fmt(bar.open), "c": fmt(bar.close),
              "h": fmt(bar.high), "l": fmt(bar.low), "v": fmt(bar.volume), "n": bar.trades,
              "x": closed, "q": fmt(bar.volume * bar.close), "V": fmt(bar.volume / 2),
              "Q": fmt(bar.volume * bar.close / Decimal(2)), "B": "0"},
    }  # fmt: skip


def _handle_text(stream: BinanceStream, text: str) -> None:
    try:
        request = json.loads(text)
        method, params, ident = request["method"], request.get("params", []), request.get("id")
    except (ValueError, KeyError, TypeError):
        stream.queue.put_nowait(json.dumps({"error": {"code": 2, "msg": "Invalid request"}}))
        return
    if method == "SUBSCRIBE":
        stream.streams.update(str(p) for p in params)
    elif method == "UNSUBSCRIBE":
        stream.streams.difference_update(str(p) for p in params)
    elif method == "LIST_SUBSCRIPTIONS":
        stream.queue.put_nowait(json.dumps({"result": sorted(stream.streams), "id": ident}))
        return
    if not stream.stalled:
        stream.queue.put_nowait(json.dumps({"result": None, "id": ident}))


async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    sim = sim_of(request)
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    combined = request.path.startswith("/stream")
    stream = BinanceStream(sim, ws, request.path, combined)
    if combined:
        stream.streams.update(filter(None, request.query.get("streams", "").split("/")))
    await stream.serve(
        sim.engine.bar_listeners, stream.on_bar, lambda text: _handle_text(stream, text)
    )
    return ws


def add_ws_routes(app: web.Application, sim: ExchangeSim) -> None:
    """``/ws``, ``/ws/<n>`` and ``/stream``: Binance's raw and combined stream endpoints."""
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/ws/{index}", ws_handler)
    app.router.add_get("/stream", ws_handler)
    from neo.exchange_sim.binance_user import add_user_routes

    add_user_routes(app)  # /ws-api/v3: the user data stream (our fills)
