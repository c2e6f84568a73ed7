"""The aiohttp server: one dialect's routes over the engine, faults, the admin API, the bar timer.

``ExchangeSim`` holds the state of one running sim; ``build_app`` wires it into an aiohttp
application; ``serve_in_thread`` runs it on 127.0.0.1 in a background thread for tests and
returns a ``SimHandle``; ``run_forever`` serves it until SIGINT/SIGTERM for the CLI.

Admin endpoints (not part of any exchange; see docs/exchange-sim.md): ``POST/GET/DELETE
/__sim/faults``, ``GET /__sim/orders``, ``GET /__sim/fills``, ``POST /__sim/advance``,
``GET/POST /__sim/balances``, ``POST /__sim/config``, ``GET /__sim/state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from neo.exchange_sim.dialect import Dialect
from neo.exchange_sim.engine import SimEngine
from neo.exchange_sim.faults import HTTP_FAULTS, Fault, FaultQueue, FaultSpecError, parse_fault
from neo.logs import get_logger

log = get_logger("exchange_sim")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ExchangeSim:
    """The state of one running sim: engine, dialect, faults, websocket subscribers."""

    def __init__(self, dialect: Dialect, engine: SimEngine, *,
                 bar_seconds: float | None = None) -> None:  # fmt: skip
        self.dialect = dialect
        self.engine = engine
        self.seed = engine.config.seed
        self.faults = FaultQueue()
        self.bar_seconds = bar_seconds
        self.stopping = asyncio.Event()
        self.ws_connections: set[Any] = set()  # dialect websocket sessions (see binance_ws)

    async def stall(self, seconds: float) -> None:
        """Wait ``seconds`` or until the server stops, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def advance(self, bars: int) -> None:
        self.engine.advance(bars)

    def state(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "dialect": self.dialect.name,
            "seed": self.seed,
            "closed_bars": engine.closed_bars,
            "now_ms": engine.now_ms(),
            "bar_ms": engine.config.bar_ms,
            "prices": {s: str(engine.last_price(s)) for s in engine.paths},
            "max_fill_per_bar": (
                None if engine.max_fill_per_bar is None else str(engine.max_fill_per_bar)
            ),
        }


SIM_KEY = web.AppKey("neo_exchange_sim", ExchangeSim)


def sim_of(request: web.Request) -> ExchangeSim:
    return request.app[SIM_KEY]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


# --- middlewares ---------------------------------------------------------------------------
@web.middleware
async def record_and_fault(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record order requests, then apply the first pending fault that matches the request."""
    sim = sim_of(request)
    if request.path.startswith("/__sim") or request.headers.get("Upgrade", "").lower() == (
        "websocket"
    ):
        return await handler(request)
    info = await sim.dialect.describe(request)
    entry = None
    if info is not None:
        entry = sim.engine.record_request(
            info.action, request.path, info.client_order_id, info.params
        )
    fault = sim.faults.take(request.method, request.path, HTTP_FAULTS)
    if entry is not None and fault is not None:
        entry["fault"] = fault.kind  # known before a stalled request ever answers
    response = await (handler(request) if fault is None else _apply(fault, request, handler))
    if entry is not None:
        entry["status"] = response.status
    return response


async def _apply(fault: Fault, request: web.Request, handler: Handler) -> web.StreamResponse:
    sim = sim_of(request)
    kind = fault.kind
    if kind in ("429", "418"):
        return sim.dialect.throttled(fault)
    if kind == "5xx":
        return web.Response(
            status=fault.status, text="<html><body>Service Unavailable</body></html>",
            content_type="text/html",
        )  # fmt: skip
    if kind in ("insufficient_balance", "order_not_found"):
        return sim.dialect.error(kind, f"injected {kind}")
    response = await handler(request)  # timeout_after_accept, malformed_json: request accepted
    if kind == "timeout_after_accept":
        await sim.stall(fault.stall_seconds)
        return response
    body = response.body if isinstance(response, web.Response) else b"{}"
    raw = body if isinstance(body, bytes) else b"{}"
    return web.Response(
        status=response.status, body=raw[: max(1, len(raw) // 2)], content_type="application/json"
    )


@web.middleware
async def never_a_traceback(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bug in the sim still answers in the exchange's error shape, never an HTML 500 page."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("exchange-sim: %s %s failed: %r", request.method, request.path, exc,
                    exc_info=True)  # fmt: skip
        return sim_of(request).dialect.error("internal", f"{type(exc).__name__}: {exc}")


# --- admin API -----------------------------------------------------------------------------
async def _body(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body is not JSON: {exc}"}), content_type="application/json"
        ) from None


def _bad(message: str) -> web.Response:
    return _json({"error": message}, status=400)


async def admin_add_faults(request: web.Request) -> web.Response:
    sim = sim_of(request)
    payload = await _body(request)
    items = payload.get("faults") if isinstance(payload, dict) and "faults" in payload else payload
    items = items if isinstance(items, list) else [items]
    try:
        faults = [parse_fault(item) for item in items]
    except FaultSpecError as exc:
        return _bad(str(exc))
    for fault in faults:
        sim.faults.add(fault)
    if any(f.kind in ("ws_cut", "ws_stall") for f in faults):
        for connection in list(sim.ws_connections):
            connection.check_faults()
    return _json({"queued": len(faults), "pending": [f.to_record() for f in sim.faults.pending]})


async def admin_list_faults(request: web.Request) -> web.Response:
    sim = sim_of(request)
    return _json(
        {"pending": [f.to_record() for f in sim.faults.pending], "fired": sim.faults.fired}
    )


async def admin_clear_faults(request: web.Request) -> web.Response:
    sim_of(request).faults.clear()
    return _json({"pending": []})


async def admin_orders(request: web.Request) -> web.Response:
    engine = sim_of(request).engine
    return _json(
        {"orders": [o.to_record() for o in engine.orders], "requests": list(engine.requests)}
    )


async def admin_fills(request: web.Request) -> web.Response:
    return _json({"fills": [f.to_record() for f in sim_of(request).engine.fills]})


async def admin_advance(request: web.Request) -> web.Response:
    sim = sim_of(request)
    payload = await _body(request)
    bars = payload.get("bars", 1) if isinstance(payload, dict) else None
    if not isinstance(bars, int) or isinstance(bars, bool) or not 0 <= bars <= 100_000:
        return _bad("bars must be an integer within 0..100000")
    sim.advance(bars)
    return _json(sim.state())


def _balances(engine: SimEngine) -> dict[str, Any]:
    return {
        asset: {"free": str(b.free), "locked": str(b.locked)}
        for asset, b in sorted(engine.balances.items())
    }


async def admin_get_balances(request: web.Request) -> web.Response:
    return _json({"balances": _balances(sim_of(request).engine)})


async def admin_set_balances(request: web.Request) -> web.Response:
    engine = sim_of(request).engine
    payload = await _body(request)
    values = payload.get("balances", payload) if isinstance(payload, dict) else None
    if not isinstance(values, dict):
        return _bad('send {"balances": {"USDT": "1000", ...}}')
    try:
        parsed = {str(k): str(Decimal(str(v))) for k, v in values.items()}
    except InvalidOperation:
        return _bad("every balance must be a number")
    engine.set_balances(parsed)
    return _json({"balances": _balances(engine)})


async def admin_config(request: web.Request) -> web.Response:
    sim = sim_of(request)
    payload = await _body(request)
    if not isinstance(payload, dict):
        return _bad('send {"max_fill_per_bar": "0.5" | null}')
    if "max_fill_per_bar" in payload:
        value = payload["max_fill_per_bar"]
        try:
            cap = None if value is None else Decimal(str(value))
        except InvalidOperation:
            return _bad("max_fill_per_bar must be a number or null")
        if cap is not None and cap <= 0:
            return _bad("max_fill_per_bar must be positive")
        sim.engine.max_fill_per_bar = cap
    return _json(sim.state())


async def admin_state(request: web.Request) -> web.Response:
    return _json(sim_of(request).state())


async def _bar_timer(app: web.Application) -> Any:
    sim = app[SIM_KEY]
    task = None
    if sim.bar_seconds:
        seconds = sim.bar_seconds

        async def tick() -> None:
            while not sim.stopping.is_set():
                await sim.stall(seconds)
                if not sim.stopping.is_set():
                    sim.advance(1)

        task = asyncio.create_task(tick())
    yield
    sim.stopping.set()
    for connection in list(sim.ws_connections):
        await connection.close()
    if task is not None:
        await task


def build_app(sim: ExchangeSim) -> web.Application:
    """The aiohttp application serving ``sim``'s dialect and the admin API."""
    app = web.Application(middlewares=[never_a_traceback, record_and_fault])
    app[SIM_KEY] = sim
    app.router.add_post("/__sim/faults", admin_add_faults)
    app.router.add_get("/__sim/faults", admin_list_faults)
    app.router.add_delete("/__sim/faults", admin_clear_faults)
    app.router.add_get("/__sim/orders", admin_orders)
    app.router.add_get("/__sim/fills", admin_fills)
    app.router.add_post("/__sim/advance", admin_advance)
    app.router.add_get("/__sim/balances", admin_get_balances)
    app.router.add_post("/__sim/balances", admin_set_balances)
    app.router.add_post("/__sim/config", admin_config)
    app.router.add_get("/__sim/state", admin_state)
    sim.dialect.add_routes(app, sim)
    app.cleanup_ctx.append(_bar_timer)
    return app
