"""Running a sim: in a background thread for tests (``serve_in_thread``), or in the foreground
until SIGINT/SIGTERM for the CLI (``run_forever``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web

from neo.exchange_sim.dialect import Dialect
from neo.exchange_sim.engine import EngineConfig, SimEngine
from neo.exchange_sim.faults import parse_fault
from neo.exchange_sim.market import FEE_COIN, SymbolSpec
from neo.exchange_sim.server import ExchangeSim, build_app

T = TypeVar("T")
DEFAULT_SEED = 7


def make_dialect(name: str) -> Dialect:
    """The dialect called ``name`` (binance or kraken)."""
    if name == "binance":
        from neo.exchange_sim.binance import BinanceDialect

        return BinanceDialect()
    if name == "kraken":
        from neo.exchange_sim.kraken import KrakenDialect

        return KrakenDialect()
    raise ValueError(f"unknown dialect {name!r}; use binance or kraken")


def make_sim(dialect: str, *, seed: int = DEFAULT_SEED, bar_seconds: float | None = None,
             history_bars: int | None = None, start_ms: int | None = None,
             max_fill_per_bar: Decimal | float | str | None = None,
             fee_asset: str | None = None) -> ExchangeSim:  # fmt: skip
    """A sim of ``dialect`` with the dialect's engine defaults (not yet serving).

    ``start_ms`` is the open time of the first history bar (default 2024-01-01T00:00Z, a time
    in the past, so no client caps it); :func:`start_now` gives the start that makes the
    forming bar open at the current wall-clock bar. ``fee_asset`` overrides the dialect's:
    ``received``, ``quote``, or ``BNB`` (fees in BNB while the account holds enough, with a
    BNB/USDT market added).
    """
    chosen = make_dialect(dialect)
    config = chosen.engine_config(seed)
    if history_bars is not None:
        config = replace(config, history_bars=history_bars)
    if start_ms is not None:
        config = replace(config, start_ms=start_ms - start_ms % config.bar_ms)
    if max_fill_per_bar is not None:
        config = replace(config, max_fill_per_bar=Decimal(str(max_fill_per_bar)))
    if fee_asset is not None:
        config = replace(config, fee_asset=fee_asset, symbols=_symbols_for_fees(config, fee_asset))
    return ExchangeSim(chosen, SimEngine(config), bar_seconds=bar_seconds)


def _symbols_for_fees(config: EngineConfig, fee_asset: str) -> tuple[SymbolSpec, ...]:
    if fee_asset in ("received", "quote"):
        return config.symbols
    if fee_asset != FEE_COIN.base:
        raise ValueError(f"fee asset must be received, quote or {FEE_COIN.base}, not {fee_asset!r}")
    return (*config.symbols, FEE_COIN)


def start_now(history_bars: int = 1000, bar_ms: int = 60_000) -> int:
    """The ``start_ms`` whose forming bar opens at the current wall-clock bar."""
    now = int(time.time() * 1000)
    return now - now % bar_ms - history_bars * bar_ms


class SimHandle:
    """A sim serving in a background thread: its URL, state and admin calls, and ``stop()``.

    Calls that change the sim run on the server's event loop, so they never race a request.
    """

    def __init__(self, sim: ExchangeSim, loop: asyncio.AbstractEventLoop,
                 thread: threading.Thread, runner: web.AppRunner, port: int) -> None:  # fmt: skip
        self.sim = sim
        self.dialect = sim.dialect.name
        self.seed = sim.seed
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._loop = loop
        self._thread = thread
        self._runner = runner

    @property
    def engine(self) -> SimEngine:
        return self.sim.engine

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the sim's loop and return its result."""

        async def wrapped() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout=30)

    def advance(self, bars: int = 1) -> dict[str, Any]:
        """Close ``bars`` bars (resting orders fill, ws clients get klines); the new state."""

        def go() -> dict[str, Any]:
            self.sim.advance(bars)
            return self.sim.state()

        return self.call(go)

    def add_fault(self, kind: str, path: str = "*", count: int = 1, **extra: Any) -> None:
        """Queue a fault (as ``POST /__sim/faults`` does)."""
        fault = parse_fault({"kind": kind, "path": path, "count": count, **extra})

        def go() -> None:
            self.sim.faults.add(fault)
            for connection in list(self.sim.ws_connections):
                connection.check_faults()

        self.call(go)

    def set_balances(self, balances: dict[str, str]) -> None:
        self.call(lambda: self.sim.engine.set_balances(balances))

    def set_max_fill_per_bar(self, value: Decimal | float | str | None) -> None:
        cap = None if value is None else Decimal(str(value))

        def go() -> None:
            self.sim.engine.max_fill_per_bar = cap

        self.call(go)

    def orders(self) -> list[dict[str, Any]]:
        return self.call(lambda: [o.to_record() for o in self.sim.engine.orders])

    def requests(self) -> list[dict[str, Any]]:
        return self.call(lambda: [dict(r) for r in self.sim.engine.requests])

    def fills(self) -> list[dict[str, Any]]:
        return self.call(lambda: [f.to_record() for f in self.sim.engine.fills])

    def state(self) -> dict[str, Any]:
        return self.call(self.sim.state)

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            self.sim.stopping.set()
            await self._runner.cleanup()

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _start(sim: ExchangeSim, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(build_app(sim), handle_signals=False, shutdown_timeout=1.0,
                           access_log=None)  # fmt: skip
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # the bound socket tells the port chosen for port 0
    sockets = getattr(server, "sockets", None) or []
    if not sockets:
        raise OSError(f"the sim did not bind {host}:{port}")
    return runner, int(sockets[0].getsockname()[1])


def serve_in_thread(dialect: str = "binance", *, seed: int = DEFAULT_SEED, host: str = "127.0.0.1",
                    port: int = 0, **options: Any) -> SimHandle:  # fmt: skip
    """Serve a sim of ``dialect`` on ``host`` (port 0: a free one) in a daemon thread.

    ``options`` go to :func:`make_sim` (``bar_seconds``, ``history_bars``, ``max_fill_per_bar``).
    """
    sim = make_sim(dialect, seed=seed, **options)
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            started["value"] = loop.run_until_complete(_start(sim, host, port))
        except BaseException as exc:  # reported to the caller below
            started["error"] = exc
            loop.close()
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=main, name=f"exchange-sim-{dialect}", daemon=True)
    thread.start()
    ready.wait(timeout=30)
    if "error" in started:
        raise started["error"]
    runner, bound = started["value"]
    return SimHandle(sim, loop, thread, runner, bound)


async def serve_until_signalled(sim: ExchangeSim, host: str, port: int,
                                on_ready: Callable[[str], None]) -> None:  # fmt: skip
    """Serve ``sim`` until SIGINT or SIGTERM, then shut down cleanly.

    The signal handlers are in place before the port opens, so a client that got an answer can
    stop the sim with a signal at once.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner, bound = await _start(sim, host, port)
    on_ready(f"http://{host}:{bound}")
    try:
        await stop.wait()
    finally:
        sim.stopping.set()
        await runner.cleanup()
