"""Binance's user data stream, as ccxt.pro's ``binance`` (spot) subscribes to it.

ccxt.pro no longer asks spot for a ``listenKey``: ``watch_my_trades`` / ``watch_orders`` /
``watch_balance`` open Binance's **WebSocket API** (``/ws-api/v3``) and send
``userDataStream.subscribe.signature`` with ``apiKey``, ``timestamp`` and an HMAC-SHA256
``signature`` of the sorted parameters. The sim checks key and signature as the REST dialect
does, answers ``{"id", "status": 200, "result": {"subscriptionId": n}}``, and from then on pushes
``{"subscriptionId": n, "event": {...}}`` on that socket:

* an ``executionReport`` (``x`` = ``TRADE``) for **every** fill of every order, partial fills
  included: trade id ``t``, client order id ``c``, last fill quantity ``l`` and price ``L``,
  cumulative quantity ``z`` and quote ``Z``, commission ``n`` in asset ``N``, order status ``X``;
* an ``outboundAccountPosition`` after it, with the free/locked balances of the two assets.

Every connected, subscribed socket gets every event (Binance sends them to all of an account's
streams). ``userDataStream.unsubscribe`` and ``ping`` are answered too. Faults: ``ws_cut``
closes the socket, ``ws_stall`` keeps it open but sends nothing (no answer, no event, no pong).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from aiohttp import web

from neo.exchange_sim.binance import fmt, market_id, order_status
from neo.exchange_sim.engine import SimFill, SimOrder
from neo.exchange_sim.server import ExchangeSim, sim_of
from neo.exchange_sim.sim_socket import SimSocket

PATH = "/ws-api/v3"
_RATE_LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000, "count": 2}]  # fmt: skip


class UserStream(SimSocket):
    """One ``/ws-api/v3`` socket: its user-data subscriptions."""

    def __init__(self, sim: ExchangeSim, ws: web.WebSocketResponse, path: str) -> None:
        super().__init__(sim, ws, path)
        self.subscriptions: set[int] = set()

    def send(self, body: dict[str, Any]) -> None:
        if not self.stalled:
            self.queue.put_nowait(json.dumps(body))

    def on_fill(self, fill: SimFill) -> None:
        """Push the fill's executionReport and the balances it changed to every subscription."""
        if not self.subscriptions:
            return
        engine = self.sim.engine
        order = engine.find_order(order_id=fill.order_id)
        spec = engine.specs[order.symbol]
        now = engine.now_ms()
        report = execution_report(order, fill, now)
        position = {
            "e": "outboundAccountPosition", "E": now, "u": now,
            "B": [{"a": asset, "f": fmt(engine.balance(asset).free),
                   "l": fmt(engine.balance(asset).locked)} for asset in (spec.base, spec.quote)],
        }  # fmt: skip
        for sid in sorted(self.subscriptions):
            self.send({"subscriptionId": sid, "event": report})
            self.send({"subscriptionId": sid, "event": position})


def execution_report(order: SimOrder, fill: SimFill, now_ms: int) -> dict[str, Any]:
    """Binance's spot ``executionReport`` of one fill (``x`` = ``TRADE``) of ``order``."""
    return {
        "e": "executionReport", "E": now_ms, "s": market_id(order.symbol),
        "c": order.client_order_id, "S": order.side.upper(), "o": order.kind.upper(),
        "f": "GTC", "q": fmt(order.quantity), "p": fmt(order.price), "P": "0.00000000",
        "F": "0.00000000", "g": -1, "C": "", "x": "TRADE", "X": order_status(order),
        "r": "NONE", "i": order.order_id, "l": fmt(fill.quantity), "z": fmt(order.filled),
        "L": fmt(fill.price), "n": fmt(fill.fee), "N": fill.fee_asset, "T": fill.time_ms,
        "t": fill.trade_id, "I": fill.trade_id * 2 + 1, "w": order.status == "open",
        "m": fill.maker, "M": True, "O": order.created_ms, "Z": fmt(order.cost),
        "Y": fmt(fill.price * fill.quantity), "Q": "0.00000000", "W": order.created_ms,
        "V": "EXPIRE_MAKER",
    }  # fmt: skip


def _payload(params: dict[str, Any]) -> str:
    """What ccxt signs: the parameters but the signature, sorted, ``k=v`` joined by ``&``."""
    items = sorted((k, v) for k, v in params.items() if k != "signature")
    return "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in items)


def _error(ident: Any, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": ident, "status": status, "error": {"code": code, "msg": msg}}


def _subscribe(stream: UserStream, ident: Any, params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        return _error(ident, 400, -1102, "Mandatory parameter 'apiKey' was not sent.")
    keys: dict[str, str] = getattr(stream.sim.dialect, "keys", {})
    secret = keys.get(str(params.get("apiKey", "")))
    if secret is None:
        return _error(ident, 401, -2015, "Invalid API-key, IP, or permissions for action.")
    signature = str(params.get("signature", ""))
    expected = hmac.new(secret.encode(), _payload(params).encode(), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature):
        return _error(ident, 400, -1022, "Signature for this request is not valid.")
    sid = len(stream.subscriptions)
    stream.subscriptions.add(sid)
    return {"id": ident, "status": 200, "result": {"subscriptionId": sid},
            "rateLimits": _RATE_LIMITS}  # fmt: skip


def _handle_text(stream: UserStream, text: str) -> None:
    try:
        request = json.loads(text)
        method, ident = str(request["method"]), request.get("id")
    except (ValueError, KeyError, TypeError):
        stream.send(_error(None, 400, -1000, "Malformed request."))
        return
    if stream.stalled:
        return
    params = request.get("params", {})
    if method == "userDataStream.subscribe.signature":
        stream.send(_subscribe(stream, ident, params))
    elif method == "userDataStream.unsubscribe":
        sid = params.get("subscriptionId") if isinstance(params, dict) else None
        if sid is None:
            stream.subscriptions.clear()
        else:
            stream.subscriptions.discard(int(sid))
        stream.send({"id": ident, "status": 200, "result": {}})
    elif method in ("ping", "time"):
        result = {} if method == "ping" else {"serverTime": stream.sim.engine.now_ms()}
        stream.send({"id": ident, "status": 200, "result": result})
    else:
        stream.send(_error(ident, 400, -1100, f"Unknown method {method!r} (the sim serves the "
                                              "user data stream only)."))  # fmt: skip


async def user_ws_handler(request: web.Request) -> web.WebSocketResponse:
    """``/ws-api/v3``: Binance's WebSocket API, the user data stream part of it."""
    sim = sim_of(request)
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    stream = UserStream(sim, ws, request.path)
    await stream.serve(
        sim.engine.fill_listeners, stream.on_fill, lambda text: _handle_text(stream, text)
    )
    return ws


def add_user_routes(app: web.Application) -> None:
    app.router.add_get(PATH, user_ws_handler)


__all__ = ["PATH", "UserStream", "add_user_routes", "execution_report"]
