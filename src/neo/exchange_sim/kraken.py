"""Kraken spot's REST API (``/0/public``, ``/0/private``) over the sim's engine, as ccxt's
``kraken`` calls it.

Private calls must carry ``API-Key`` and an ``API-Sign`` that verifies (HMAC-SHA512 of the path
and SHA-256(nonce + body) with the base64 secret), as on Kraken. Errors are Kraken's
``{"error": ["EOrder:Insufficient funds"]}`` bodies (HTTP 200), so ccxt raises what it raises
against the real exchange. Asset and pair ids are Kraken's (``XXBT``, ``XBTUSDT``), so ccxt's
own mapping turns them into ``BTC/USDT``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from neo.exchange_sim.dialect import OrderRequestInfo
from neo.exchange_sim.engine import EngineConfig, SimEngine, SimFill, SimOrder, SimOrderError
from neo.exchange_sim.faults import Fault
from neo.exchange_sim.klines import aggregate_range
from neo.exchange_sim.server import ExchangeSim, sim_of

PUBLIC = "/0/public"
PRIVATE = "/0/private"
ASSET_IDS = {"BTC": "XXBT", "ETH": "XETH", "USDT": "USDT", "USD": "ZUSD", "EUR": "ZEUR"}
ALTNAMES = {"BTC": "XBT"}
ERRORS = {
    "insufficient_balance": "EOrder:Insufficient funds",
    "order_not_found": "EOrder:Unknown order",
    "duplicate": "EOrder:Duplicate order",
    "bad_symbol": "EQuery:Unknown asset pair",
    "invalid": "EGeneral:Invalid arguments:volume",
    "bad_param": "EGeneral:Invalid arguments",
    "bad_key": "EAPI:Invalid key",
    "bad_signature": "EAPI:Invalid signature",
    "internal": "EService:Unavailable",
}
OHLC_LIMIT = 720
INTERVAL_MINUTES = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)


def asset_id(code: str) -> str:
    return ASSET_IDS.get(code, code)


def pair_id(engine: SimEngine, symbol: str) -> str:
    spec = engine.specs[symbol]
    return ALTNAMES.get(spec.base, spec.base) + ALTNAMES.get(spec.quote, spec.quote)


def order_txid(order_id: int) -> str:
    return f"OSIM{order_id:06d}-NEO-SIM"


def trade_txid(trade_id: int) -> str:
    return f"TSIM{trade_id:06d}-NEO-SIM"


def _decimals(unit: Decimal) -> int:
    return max(0, -unit.normalize().as_tuple().exponent)  # type: ignore[operator]


def ok(result: Any) -> web.Response:
    return web.json_response({"error": [], "result": result})


class KrakenDialect:
    """Kraken spot over the sim's engine."""

    name = "kraken"

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        # secrets are base64, as Kraken's are; the default decodes to b"sim-secret"
        self.keys = dict(keys or {"sim-key": "c2ltLXNlY3JldA=="})

    def engine_config(self, seed: int) -> EngineConfig:
        return EngineConfig(
            seed=seed, fee_asset="quote", maker_fee=Decimal("0.0016"), taker_fee=Decimal("0.0026")
        )

    def error(self, kind: str, message: str) -> web.Response:
        status = 500 if kind == "internal" else 200
        return web.json_response({"error": [ERRORS.get(kind, ERRORS["internal"])]}, status=status)

    def throttled(self, fault: Fault) -> web.Response:
        return web.json_response(
            {"error": ["EAPI:Rate limit exceeded"]},
            status=int(fault.kind),
            headers={"Retry-After": str(fault.retry_after)},
        )

    async def describe(self, request: web.Request) -> OrderRequestInfo | None:
        actions = {"AddOrder": "create", "CancelOrder": "cancel", "QueryOrders": "query"}
        action = actions.get(request.path.rsplit("/", 1)[-1])
        if action is None or not request.path.startswith(PRIVATE):
            return None
        params = dict(parse_qsl(await request.text(), keep_blank_values=True))
        return OrderRequestInfo(action, params.get("cl_ord_id"), params)

    async def signed(self, request: web.Request) -> dict[str, str] | web.Response:
        key = request.headers.get("API-Key", "")
        secret = self.keys.get(key)
        if secret is None:
            return self.error("bad_key", "")
        body = await request.text()
        params = dict(parse_qsl(body, keep_blank_values=True))
        digest = hashlib.sha256((params.get("nonce", "") + body).encode()).digest()
        mac = hmac.new(base64.b64decode(secret), request.path.encode() + digest, hashlib.sha512)
        expected = base64.b64encode(mac.digest()).decode()
        if not hmac.compare_digest(expected, request.headers.get("API-Sign", "")):
            return self.error("bad_signature", "")
        return params

    def add_routes(self, app: web.Application, sim: ExchangeSim) -> None:
        r = app.router
        r.add_get(f"{PUBLIC}/Time", self.server_time)
        r.add_get(f"{PUBLIC}/SystemStatus", self.system_status)
        r.add_get(f"{PUBLIC}/Assets", self.assets)
        r.add_get(f"{PUBLIC}/AssetPairs", self.asset_pairs)
        r.add_get(f"{PUBLIC}/OHLC", self.ohlc)
        for name, handler in (
            ("Balance", self.balance), ("BalanceEx", self.balance_ex),
            ("AddOrder", self.add_order), ("CancelOrder", self.cancel_order),
            ("QueryOrders", self.query_orders), ("OpenOrders", self.open_orders),
            ("ClosedOrders", self.closed_orders), ("TradesHistory", self.trades_history),
        ):  # fmt: skip
            r.add_post(f"{PRIVATE}/{name}", handler)

    async def server_time(self, request: web.Request) -> web.Response:
        now = int(time.time())
        return ok({"unixtime": now, "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000")})

    async def system_status(self, request: web.Request) -> web.Response:
        return ok({"status": "online", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ")})

    async def assets(self, request: web.Request) -> web.Response:
        engine = sim_of(request).engine
        codes = sorted({c for s in engine.specs.values() for c in (s.base, s.quote)})
        return ok({
            asset_id(code): {"aclass": "currency", "altname": ALTNAMES.get(code, code),
                             "decimals": 10, "display_decimals": 5, "status": "enabled"}
            for code in codes
        })  # fmt: skip

    async def asset_pairs(self, request: web.Request) -> web.Response:
        engine = sim_of(request).engine
        pairs = {}
        for symbol, spec in engine.specs.items():
            pid = pair_id(engine, symbol)
            pairs[pid] = {
                "altname": pid, "wsname": f"{ALTNAMES.get(spec.base, spec.base)}/{spec.quote}",
                "aclass_base": "currency", "base": asset_id(spec.base), "aclass_quote":
                "currency", "quote": asset_id(spec.quote), "lot": "unit",
                "cost_decimals": 5, "pair_decimals": _decimals(spec.tick),
                "lot_decimals": _decimals(spec.step), "lot_multiplier": 1,
                "leverage_buy": [], "leverage_sell": [],
                "fees": [[0, 0.26]], "fees_maker": [[0, 0.16]],
                "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
                "ordermin": str(spec.min_qty), "costmin": str(spec.min_notional),
                "tick_size": str(spec.tick), "status": "online",
            }  # fmt: skip
        return ok(pairs)

    def _symbol(self, engine: SimEngine, wanted: str | None) -> str | None:
        for symbol in engine.specs:
            if wanted in (pair_id(engine, symbol), symbol.replace("/", "")):
                return symbol
        return None

    async def ohlc(self, request: web.Request) -> web.Response:
        engine = sim_of(request).engine
        symbol = self._symbol(engine, request.query.get("pair"))
        if symbol is None:
            return self.error("bad_symbol", "")
        try:
            minutes = int(request.query.get("interval", "1"))
            since = int(request.query["since"]) if "since" in request.query else None
        except ValueError:
            return self.error("bad_param", "")
        interval_ms = minutes * 60_000
        if minutes not in INTERVAL_MINUTES or interval_ms % engine.config.bar_ms:
            return self.error("bad_param", "")
        # Kraken's since is exclusive: bars opening strictly after it, at most 720
        start = None if since is None else since * 1000 + 1
        rows = aggregate_range(engine, symbol, interval_ms, start, None, OHLC_LIMIT)
        data = [
            [b.open_ms // 1000, str(b.open), str(b.high), str(b.low), str(b.close),
             str(b.close), str(b.volume), b.trades]
            for b in rows
        ]  # fmt: skip
        last = rows[-1].open_ms // 1000 if rows else (since or 0)
        return ok({pair_id(engine, symbol): data, "last": last})

    async def balance(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        return ok({asset_id(a): f"{b.free + b.locked:.10f}" for a, b in engine.balances.items()})

    async def balance_ex(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        return ok({
            asset_id(a): {"balance": f"{b.free + b.locked:.10f}",
                          "hold_trade": f"{b.locked:.10f}"}
            for a, b in engine.balances.items()
        })  # fmt: skip

    async def add_order(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        symbol = self._symbol(engine, params.get("pair"))
        if symbol is None:
            return self.error("bad_symbol", "")
        try:
            order = _place(engine, symbol, params)
        except SimOrderError as exc:
            return self.error(exc.kind, str(exc))
        pid = pair_id(engine, symbol)
        at = "market" if order.price is None else f"limit {order.price}"
        descr = f"{order.side} {order.quantity:.8f} {pid} @ {at}"
        return ok({"descr": {"order": descr}, "txid": [order_txid(order.order_id)]})

    def _find(self, engine: SimEngine, params: dict[str, str]) -> SimOrder | None:
        try:
            if "cl_ord_id" in params:
                return engine.find_order(client_order_id=params["cl_ord_id"])
            txid = params.get("txid", "")
            return engine.find_order(order_id=_order_number(txid))
        except SimOrderError:
            return None

    async def cancel_order(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        order = self._find(engine, params)
        if order is None or order.status != "open":
            return self.error("order_not_found", "")
        engine.cancel_order(order)
        return ok({"count": 1, "pending": False})

    async def query_orders(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        found: list[SimOrder] = []
        for txid in filter(None, params.get("txid", "").split(",")):
            number = _order_number(txid)
            if number is not None and 0 < number <= len(engine.orders):
                found.append(engine.orders[number - 1])
        if "cl_ord_id" in params:
            found += [o for o in engine.orders if o.client_order_id == params["cl_ord_id"]]
        return ok({order_txid(o.order_id): order_json(o, engine) for o in found})

    def _listing(self, engine: SimEngine, params: dict[str, str], open_: bool) -> dict[str, Any]:
        orders = [o for o in engine.orders if (o.status == "open") == open_]
        if "cl_ord_id" in params:
            orders = [o for o in orders if o.client_order_id == params["cl_ord_id"]]
        return {order_txid(o.order_id): order_json(o, engine) for o in orders}

    async def open_orders(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        return ok({"open": self._listing(sim_of(request).engine, params, True)})

    async def closed_orders(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        closed = self._listing(sim_of(request).engine, params, False)
        return ok({"closed": closed, "count": len(closed)})

    async def trades_history(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        fills = engine.fills
        try:
            if "start" in params:
                fills = [f for f in fills if f.time_ms / 1000 > float(params["start"])]
            if "end" in params:
                fills = [f for f in fills if f.time_ms / 1000 <= float(params["end"])]
        except ValueError:
            return self.error("bad_param", "")
        trades = {trade_txid(f.trade_id): _trade_json(f, engine) for f in fills}
        return ok({"trades": trades, "count": len(trades)})


def _order_number(txid: str) -> int | None:
    if txid.startswith("OSIM") and txid[4:10].isdigit():
        return int(txid[4:10])
    return None


def _place(engine: SimEngine, symbol: str, params: dict[str, str]) -> SimOrder:
    side, kind = params.get("type", ""), params.get("ordertype", "")
    if side not in ("buy", "sell") or kind not in ("market", "limit"):
        raise SimOrderError("bad_param", f"unsupported type/ordertype {side}/{kind}")
    try:
        quantity = Decimal(params.get("volume", ""))
        price = Decimal(params["price"]) if kind == "limit" and "price" in params else None
    except InvalidOperation:
        raise SimOrderError("invalid", "volume and price must be numbers") from None
    client_id = params.get("cl_ord_id") or f"sim-{len(engine.orders) + 1}"
    return engine.create_order(
        symbol=symbol, side=side,  # type: ignore[arg-type]  # checked above
        kind=kind,  # type: ignore[arg-type]
        quantity=quantity, price=price, client_order_id=client_id,
    )  # fmt: skip


def order_json(order: SimOrder, engine: SimEngine) -> dict[str, Any]:
    """An order as Kraken's QueryOrders / OpenOrders / ClosedOrders return it."""
    pid = pair_id(engine, order.symbol)
    price = "0" if order.price is None else str(order.price)
    at = "market" if order.price is None else f"limit {order.price}"
    fee = sum((f.fee for f in engine.fills if f.order_id == order.order_id), Decimal(0))
    body: dict[str, Any] = {
        "refid": None, "userref": 0, "cl_ord_id": order.client_order_id,
        "status": order.status, "opentm": order.created_ms / 1000, "starttm": 0, "expiretm": 0,
        "descr": {"pair": pid, "type": order.side, "ordertype": order.kind, "price": price,
                  "price2": "0", "leverage": "none",
                  "order": f"{order.side} {order.quantity:.8f} {pid} @ {at}", "close": ""},
        "vol": f"{order.quantity:.8f}", "vol_exec": f"{order.filled:.8f}",
        "cost": f"{order.cost:.8f}", "fee": f"{fee:.8f}",
        "price": f"{order.average or Decimal(0):.8f}", "stopprice": "0.00000",
        "limitprice": "0.00000", "misc": "", "oflags": "fciq",
        "trades": [trade_txid(t) for t in order.trade_ids],
    }  # fmt: skip
    if order.status != "open":
        body["closetm"] = order.updated_ms / 1000
        body["reason"] = "User requested" if order.status == "canceled" else None
    return body


def _trade_json(fill: SimFill, engine: SimEngine) -> dict[str, Any]:
    return {
        "ordertxid": order_txid(fill.order_id), "postxid": "PSIM-NEO-SIM",
        "pair": pair_id(engine, fill.symbol), "time": fill.time_ms / 1000,
        "type": fill.side, "ordertype": "limit" if fill.maker else "market",
        "price": str(fill.price), "cost": f"{fill.price * fill.quantity:.8f}",
        "fee": f"{fill.fee:.8f}", "vol": f"{fill.quantity:.8f}", "margin": "0.00000",
        "misc": "", "trade_id": fill.trade_id, "maker": fill.maker,
    }  # fmt: skip
