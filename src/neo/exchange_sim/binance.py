"""Binance spot's REST API (``/api/v3``) over the sim's engine, as ccxt's ``binance`` calls it.

Signed endpoints check the ``X-MBX-APIKEY`` header against the sim's keys and verify the
HMAC-SHA256 signature of the query string (GET/DELETE) or form body (POST) with that key's
secret, exactly as Binance does; errors use Binance's ``{"code", "msg"}`` bodies and codes so
ccxt raises the class it raises against the real exchange (see docs/exchange-sim.md).
"""

from __future__ import annotations

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
from neo.exchange_sim.klines import INTERVAL_MS, aggregate_range, kline_interval_ms
from neo.exchange_sim.server import ExchangeSim, sim_of

API = "/api/v3"
ERRORS: dict[str, tuple[int, int, str]] = {
    "insufficient_balance": (400, -2010, "Account has insufficient balance for requested action."),
    "order_not_found": (400, -2013, "Order does not exist."),
    "duplicate": (400, -2010, "Duplicate order sent."),
    "bad_symbol": (400, -1121, "Invalid symbol."),
    "invalid": (400, -1013, "Invalid quantity."),
    "bad_param": (400, -1102, "Mandatory parameter was not sent, was empty/null, or malformed."),
    "no_signature": (400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, "
                                 "or malformed."),
    "bad_signature": (400, -1022, "Signature for this request is not valid."),
    "no_key": (401, -2014, "API-key format invalid."),
    "bad_key": (401, -2015, "Invalid API-key, IP, or permissions for action."),
    "internal": (500, -1000, "An unknown error occurred while processing the request."),
}  # fmt: skip
STATUS = {"closed": "FILLED", "canceled": "CANCELED"}


def fmt(value: Decimal | None) -> str:
    """Binance prints amounts with eight decimals."""
    return f"{(value or Decimal(0)):.8f}"


def market_id(symbol: str) -> str:
    return symbol.replace("/", "")


class BinanceDialect:
    """Binance spot over the sim's engine."""

    name = "binance"

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys = dict(keys or {"sim-key": "sim-secret"})

    def engine_config(self, seed: int) -> EngineConfig:
        return EngineConfig(seed=seed, fee_asset="received")

    # --- errors ----------------------------------------------------------------------------
    def error(self, kind: str, message: str) -> web.Response:
        status, code, msg = ERRORS.get(kind, ERRORS["internal"])
        return web.json_response({"code": code, "msg": msg}, status=status)

    def throttled(self, fault: Fault) -> web.Response:
        banned = fault.kind == "418"
        msg = (
            "Way too much request weight used; IP banned until later."
            if banned
            else "Too much request weight used; current limit is 6000 request weight per 1 "
            "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
        )
        return web.json_response(
            {"code": -1003, "msg": msg},
            status=418 if banned else 429,
            headers={"Retry-After": str(fault.retry_after)},
        )

    # --- request parsing -------------------------------------------------------------------
    async def _raw(self, request: web.Request) -> str:
        if request.method in ("GET", "DELETE"):
            return request.query_string
        return await request.text()

    async def params(self, request: web.Request) -> dict[str, str]:
        return dict(parse_qsl(await self._raw(request), keep_blank_values=True))

    async def describe(self, request: web.Request) -> OrderRequestInfo | None:
        if request.path != f"{API}/order":
            return None
        params = await self.params(request)
        action = {"POST": "create", "DELETE": "cancel"}.get(request.method, "query")
        key = "newClientOrderId" if action == "create" else "origClientOrderId"
        return OrderRequestInfo(action, params.get(key), params)

    async def signed(self, request: web.Request) -> dict[str, str] | web.Response:
        """The request's parameters once its key and signature check out, else the error."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            return self.error("no_key", "")
        secret = self.keys.get(key)
        if secret is None:
            return self.error("bad_key", "")
        raw = await self._raw(request)
        payload, sep, signature = raw.rpartition("&signature=")
        if not sep or not signature:
            return self.error("no_signature", "")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return self.error("bad_signature", "")
        return dict(parse_qsl(raw, keep_blank_values=True))

    # --- routes ----------------------------------------------------------------------------
    def add_routes(self, app: web.Application, sim: ExchangeSim) -> None:
        r = app.router
        r.add_get(f"{API}/ping", self.ping)
        r.add_get("/sapi/v1/system/status", self.system_status)
        r.add_get(f"{API}/time", self.server_time)
        r.add_get(f"{API}/exchangeInfo", self.exchange_info)
        r.add_get(f"{API}/klines", self.klines)
        r.add_get(f"{API}/ticker/price", self.ticker_price)
        r.add_get(f"{API}/ticker/24hr", self.ticker_24hr)
        r.add_get(f"{API}/ticker/bookTicker", self.book_ticker)
        r.add_get(f"{API}/depth", self.depth)
        r.add_get(f"{API}/account", self.account)
        r.add_post(f"{API}/order", self.create_order)
        r.add_get(f"{API}/order", self.query_order)
        r.add_delete(f"{API}/order", self.cancel_order)
        r.add_get(f"{API}/openOrders", self.open_orders)
        r.add_get(f"{API}/allOrders", self.all_orders)
        r.add_get(f"{API}/myTrades", self.my_trades)
        from neo.exchange_sim.binance_ws import add_ws_routes

        add_ws_routes(app, sim)

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def system_status(self, request: web.Request) -> web.Response:
        return web.json_response({"status": 0, "msg": "normal"})

    async def server_time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def exchange_info(self, request: web.Request) -> web.Response:
        engine = sim_of(request).engine
        symbols = [_symbol_info(engine, s) for s in engine.specs]
        return web.json_response({
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        })  # fmt: skip

    def _symbol(self, engine: SimEngine, params: dict[str, str]) -> str | web.Response:
        wanted = params.get("symbol")
        for symbol in engine.specs:
            if market_id(symbol) == wanted:
                return symbol
        return self.error("bad_symbol" if wanted else "bad_param", "")

    async def klines(self, request: web.Request) -> web.Response:
        engine = sim_of(request).engine
        params = dict(request.query)
        symbol = self._symbol(engine, params)
        if isinstance(symbol, web.Response):
            return symbol
        interval_ms = kline_interval_ms(params.get("interval", ""), engine.config.bar_ms)
        if interval_ms is None:
            return web.json_response({"code": -1120, "msg": "Invalid interval."}, status=400)
        try:
            limit = min(max(int(params.get("limit", 500)), 1), 1000)
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return self.error("bad_param", "")
        rows = aggregate_range(engine, symbol, interval_ms, start, end, limit)
        return web.json_response([
            [b.open_ms, fmt(b.open), fmt(b.high), fmt(b.low), fmt(b.close), fmt(b.volume),
             b.open_ms + interval_ms - 1, fmt(b.volume * b.close), b.trades,
             fmt(b.volume / 2), fmt(b.volume * b.close / 2), "0"]
            for b in rows
        ])  # fmt: skip

    def _selected(self, engine: SimEngine, query: dict[str, str]) -> list[str] | web.Response:
        """The symbols a ticker request names (``symbol=``), else all of them."""
        if "symbol" not in query:
            return list(engine.specs)
        found = self._symbol(engine, query)
        return found if isinstance(found, web.Response) else [found]

    def _ticker_answer(self, query: dict[str, str], rows: list[dict[str, Any]]) -> web.Response:
        return web.json_response(rows[0] if "symbol" in query else rows)

    async def ticker_price(self, request: web.Request) -> web.Response:
        engine, query = sim_of(request).engine, dict(request.query)
        symbols = self._selected(engine, query)
        if isinstance(symbols, web.Response):
            return symbols
        rows = [{"symbol": market_id(s), "price": fmt(engine.last_price(s))} for s in symbols]
        return self._ticker_answer(query, rows)

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        engine, query = sim_of(request).engine, dict(request.query)
        symbols = self._selected(engine, query)
        if isinstance(symbols, web.Response):
            return symbols
        return self._ticker_answer(query, [_ticker_24hr(engine, s) for s in symbols])

    def _book(self, engine: SimEngine, symbol: str) -> tuple[Decimal, Decimal]:
        tick = engine.specs[symbol].tick
        last = engine.last_price(symbol)
        return last - tick, last + tick

    async def book_ticker(self, request: web.Request) -> web.Response:
        engine, query = sim_of(request).engine, dict(request.query)
        symbols = self._selected(engine, query)
        if isinstance(symbols, web.Response):
            return symbols
        out = []
        for s in symbols:
            bid, ask = self._book(engine, s)
            out.append({"symbol": market_id(s), "bidPrice": fmt(bid), "bidQty": "1.00000000",
                        "askPrice": fmt(ask), "askQty": "1.00000000"})  # fmt: skip
        return self._ticker_answer(query, out)

    async def depth(self, request: web.Request) -> web.Response:
        engine = sim_of(request).engine
        symbol = self._symbol(engine, dict(request.query))
        if isinstance(symbol, web.Response):
            return symbol
        return web.json_response(depth_snapshot(engine, symbol))

    async def account(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0, "canTrade": True, "canWithdraw": True, "canDeposit": True,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": engine.now_ms(), "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
                for asset, b in sorted(engine.balances.items())
            ],
            "permissions": ["SPOT"], "uid": 1,
        })  # fmt: skip

    async def create_order(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        symbol = self._symbol(engine, params)
        if isinstance(symbol, web.Response):
            return symbol
        try:
            order = _place(engine, symbol, params)
        except SimOrderError as exc:
            return self.error(exc.kind, str(exc))
        response_type = params.get("newOrderRespType", "FULL")
        body = order_json(order, engine, transact=True)
        if response_type == "FULL":
            fills = [f for f in engine.fills if f.order_id == order.order_id]
            body["fills"] = [_fill_json(f) for f in fills]
        elif response_type == "ACK":
            body = {k: body[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId",
                                         "transactTime")}  # fmt: skip
        return web.json_response(body)

    async def _find(self, request: web.Request) -> tuple[SimOrder, SimEngine] | web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        symbol = self._symbol(engine, params)
        if isinstance(symbol, web.Response):
            return symbol
        client_id = params.get("origClientOrderId")
        order_id = params.get("orderId")
        if client_id is None and order_id is None:
            return self.error("bad_param", "")
        try:
            order = engine.find_order(
                order_id=int(order_id) if order_id is not None else None,
                client_order_id=client_id,
            )
        except (SimOrderError, ValueError):
            return self.error("order_not_found", "")
        if order.symbol != symbol:
            return self.error("order_not_found", "")
        return order, engine

    async def query_order(self, request: web.Request) -> web.Response:
        found = await self._find(request)
        if isinstance(found, web.Response):
            return found
        order, engine = found
        return web.json_response(order_json(order, engine))

    async def cancel_order(self, request: web.Request) -> web.Response:
        found = await self._find(request)
        if isinstance(found, web.Response):
            return found
        order, engine = found
        try:
            engine.cancel_order(order)
        except SimOrderError:
            return web.json_response({"code": -2011, "msg": "Unknown order sent."}, status=400)
        body = order_json(order, engine, transact=True)
        body["origClientOrderId"] = order.client_order_id
        return web.json_response(body)

    async def open_orders(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        symbol: str | None = None
        if "symbol" in params:
            found = self._symbol(engine, params)
            if isinstance(found, web.Response):
                return found
            symbol = found
        return web.json_response([order_json(o, engine) for o in engine.open_orders(symbol)])

    async def all_orders(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        symbol = self._symbol(engine, params)
        if isinstance(symbol, web.Response):
            return symbol
        orders = [o for o in engine.orders if o.symbol == symbol]
        orders = _window(orders, params, lambda o: o.created_ms, lambda o: o.order_id)
        return web.json_response([order_json(o, engine) for o in orders])

    async def my_trades(self, request: web.Request) -> web.Response:
        params = await self.signed(request)
        if isinstance(params, web.Response):
            return params
        engine = sim_of(request).engine
        symbol = self._symbol(engine, params)
        if isinstance(symbol, web.Response):
            return symbol
        fills = engine.fills_of(symbol)
        if "orderId" in params:
            fills = [f for f in fills if str(f.order_id) == params["orderId"]]
        fills = _window(fills, params, lambda f: f.time_ms, lambda f: f.trade_id)
        return web.json_response([_trade_json(f) for f in fills])


def _window(items: list[Any], params: dict[str, str], when: Any, ident: Any) -> list[Any]:
    """Binance's startTime / endTime / fromId / limit selection (oldest first)."""
    try:
        if "fromId" in params:
            items = [i for i in items if ident(i) >= int(params["fromId"])]
        if "startTime" in params:
            items = [i for i in items if when(i) >= int(params["startTime"])]
        if "endTime" in params:
            items = [i for i in items if when(i) <= int(params["endTime"])]
        limit = min(max(int(params.get("limit", 500)), 1), 1000)
    except ValueError:
        return []
    has_start = "startTime" in params or "fromId" in params
    return items[:limit] if has_start else items[-limit:]


def _place(engine: SimEngine, symbol: str, params: dict[str, str]) -> SimOrder:
    side = params.get("side", "").lower()
    kind = params.get("type", "").lower()
    if side not in ("buy", "sell") or kind not in ("market", "limit"):
        raise SimOrderError("invalid", f"unsupported side/type {side}/{kind}")
    try:
        price = Decimal(params["price"]) if "price" in params else None
        if "quantity" in params:
            quantity = Decimal(params["quantity"])
        elif "quoteOrderQty" in params and kind == "market":
            spec = engine.specs[symbol]
            raw = Decimal(params["quoteOrderQty"]) / engine.last_price(symbol)
            quantity = (raw // spec.step) * spec.step
        else:
            raise SimOrderError("bad_param", "quantity is required")
    except InvalidOperation:
        raise SimOrderError("invalid", "quantity and price must be numbers") from None
    client_id = params.get("newClientOrderId") or f"sim-{len(engine.orders) + 1}"
    return engine.create_order(
        symbol=symbol, side=side,  # type: ignore[arg-type]  # checked above
        kind=kind,  # type: ignore[arg-type]
        quantity=quantity, price=price, client_order_id=client_id,
    )  # fmt: skip


def order_status(order: SimOrder) -> str:
    if order.status == "open":
        return "PARTIALLY_FILLED" if order.filled > 0 else "NEW"
    return STATUS[order.status]


def order_json(order: SimOrder, engine: SimEngine, *, transact: bool = False) -> dict[str, Any]:
    """An order as Binance's order endpoints return it."""
    body: dict[str, Any] = {
        "symbol": market_id(order.symbol),
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.quantity),
        "executedQty": fmt(order.filled),
        "cummulativeQuoteQty": fmt(order.cost),
        "status": order_status(order),
        "timeInForce": "GTC",
        "type": order.kind.upper(),
        "side": order.side.upper(),
        "workingTime": order.created_ms,
        "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    if transact:
        body["transactTime"] = order.updated_ms
    else:
        body.update(
            stopPrice="0.00000000", icebergQty="0.00000000", time=order.created_ms,
            updateTime=order.updated_ms, isWorking=True,
        )  # fmt: skip
    return body


def _fill_json(fill: SimFill) -> dict[str, Any]:
    return {"price": fmt(fill.price), "qty": fmt(fill.quantity), "commission": fmt(fill.fee),
            "commissionAsset": fill.fee_asset, "tradeId": fill.trade_id}  # fmt: skip


def _trade_json(fill: SimFill) -> dict[str, Any]:
    return {
        "symbol": market_id(fill.symbol), "id": fill.trade_id, "orderId": fill.order_id,
        "orderListId": -1, "price": fmt(fill.price), "qty": fmt(fill.quantity),
        "quoteQty": fmt(fill.price * fill.quantity), "commission": fmt(fill.fee),
        "commissionAsset": fill.fee_asset, "time": fill.time_ms, "isBuyer": fill.side == "buy",
        "isMaker": fill.maker, "isBestMatch": True,
    }  # fmt: skip


def book_levels(price: Decimal, tick: Decimal, levels: int = 5) -> dict[str, list[list[str]]]:
    """A small synthetic book around ``price``: ``levels`` ticks each side, 1, 2, 3 … deep."""
    bids = [[fmt(price - tick * (i + 1)), fmt(Decimal(i + 1))] for i in range(levels)]
    asks = [[fmt(price + tick * (i + 1)), fmt(Decimal(i + 1))] for i in range(levels)]
    return {"bids": bids, "asks": asks}


def depth_snapshot(engine: SimEngine, symbol: str) -> dict[str, Any]:
    """The book around the last price; its ``lastUpdateId`` counts closed bars, so each bar's
    ``depthUpdate`` (see binance_ws) follows it with no gap."""
    book = book_levels(engine.last_price(symbol), engine.specs[symbol].tick)
    return {"lastUpdateId": engine.closed_bars, **book}


def _ticker_24hr(engine: SimEngine, symbol: str) -> dict[str, Any]:
    """Binance's rolling 24-hour statistics over the last day of closed bars."""
    bars = engine.paths[symbol].bars[-(86_400_000 // engine.config.bar_ms) :]
    first, last = bars[0], bars[-1]
    volume = sum((b.volume for b in bars), Decimal(0))
    quote = sum((b.volume * b.close for b in bars), Decimal(0))
    tick = engine.specs[symbol].tick
    change = last.close - first.open
    return {
        "symbol": market_id(symbol), "priceChange": fmt(change),
        "priceChangePercent": f"{change / first.open * 100:.3f}",
        "weightedAvgPrice": fmt(quote / volume if volume else last.close),
        "prevClosePrice": fmt(first.open), "lastPrice": fmt(last.close), "lastQty": "1.00000000",
        "bidPrice": fmt(last.close - tick), "bidQty": "1.00000000",
        "askPrice": fmt(last.close + tick), "askQty": "1.00000000", "openPrice": fmt(first.open),
        "highPrice": fmt(max(b.high for b in bars)), "lowPrice": fmt(min(b.low for b in bars)),
        "volume": fmt(volume), "quoteVolume": fmt(quote), "openTime": first.open_ms,
        "closeTime": engine.now_ms() - 1, "firstId": 1, "lastId": sum(b.trades for b in bars),
        "count": sum(b.trades for b in bars),
    }  # fmt: skip


def _symbol_info(engine: SimEngine, symbol: str) -> dict[str, Any]:
    spec = engine.specs[symbol]
    return {
        "symbol": market_id(symbol), "status": "TRADING", "baseAsset": spec.base,
        "baseAssetPrecision": 8, "quoteAsset": spec.quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": True,
        "ocoAllowed": False, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
        "cancelReplaceAllowed": False, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(spec.tick),
             "maxPrice": "1000000.00000000", "tickSize": fmt(spec.tick)},
            {"filterType": "LOT_SIZE", "minQty": fmt(spec.min_qty), "maxQty": "9000.00000000",
             "stepSize": fmt(spec.step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
             "maxQty": "9000.00000000", "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": fmt(spec.min_notional),
             "applyMinToMarket": True, "maxNotional": "9000000.00000000",
             "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }  # fmt: skip


__all__ = ["INTERVAL_MS", "BinanceDialect", "book_levels", "depth_snapshot", "order_json"]
