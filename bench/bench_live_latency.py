"""Bar-to-order latency of a live session against ``neo exchange-sim``.

    .venv/bin/python bench/bench_live_latency.py [--bars 300] [--json]

A durable live session (journal, checkpoint per step, CcxtBroker through the unmodified ccxt
client) trades a strategy that changes its target on every bar, so every bar sends one market
order. The clock starts when the websocket message that closes a kline is received (ccxt.pro's
``handle_ohlcv``, before any of NEO's code) and stops when the order's create request is handed
to ccxt (``create_order`` called): the feed, the journal writes, the loop's cycle, risk and the
broker's rounding and journal intent, i.e. NEO's own time. The sim closes the next bar only
after the session has checkpointed the previous one, so bars never queue up behind each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from neo.adapters.ccxt import ExchangeConfig, load_instruments, make_exchange
from neo.adapters.ccxt.broker import ccxt_broker
from neo.adapters.ccxt.feed import CcxtBarFeed
from neo.engine.journal import FileJournal, session_dir
from neo.engine.live import TradingSession
from neo.exchange_sim import serve_in_thread
from neo.exchange_sim.client import SIM_KEY, SIM_SECRET
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext

SYMBOL = "BTC/USDT"


class Flip(Strategy):
    """Long 0.01 on even bars, flat on odd ones: one market order per bar."""

    name = "flip"

    def on_bar(self, ctx: StrategyContext) -> None:
        ctx.target_position(0.01 if ctx.i % 2 == 0 else 0.0)


def _config(url: str) -> ExchangeConfig:
    return ExchangeConfig(
        url=url, api_key=SecretStr(SIM_KEY), secret=SecretStr(SIM_SECRET), rate_limit_ms=1.0
    )


def run(bars: int) -> dict[str, Any]:
    sim = serve_in_thread("binance", seed=7, history_bars=200)
    received: dict[int, int] = {}
    latencies: list[float] = []
    stepped = threading.Event()
    try:
        exchange = make_exchange("binance", _config(sim.url), credentials=True)
        stream = make_exchange("binance", _config(sim.url), asynchronous=True)
        original = stream.handle_ohlcv

        def handle_ohlcv(client: Any, message: Any) -> Any:
            kline = message.get("k") if isinstance(message, dict) else None
            if isinstance(kline, dict) and kline.get("x"):
                received[int(kline["t"])] = time.perf_counter_ns()
            return original(client, message)

        stream.handle_ohlcv = handle_ohlcv
        create = exchange.create_order
        session_ref: list[TradingSession] = []

        def timed_create(*args: Any, **kwargs: Any) -> Any:
            ctx = session_ref[0].loop.context(next(iter(session_ref[0].instruments)))
            start = received.get(int(ctx.ts[ctx.i]) // 1_000_000)
            if start is not None:
                latencies.append((time.perf_counter_ns() - start) / 1e6)
            return create(*args, **kwargs)

        exchange.create_order = timed_create
        instruments = load_instruments(exchange, [SYMBOL])
        now = int(sim.state()["now_ms"])
        with tempfile.TemporaryDirectory() as tmp:
            journal = FileJournal(session_dir(Path(tmp), "bench"))
            feed = CcxtBarFeed(stream, [SYMBOL], "1m", since_ms=now - 5 * 60_000)
            session = TradingSession(
                name="bench", mode="live", account="exchange:binance:bench", strategy=Flip(),
                feed=feed, journal=journal, instruments=instruments,
                exchange_broker=ccxt_broker(exchange), fill_scope="", cycles=bars,
                on_step=lambda _s: stepped.set(),
            )  # fmt: skip
            session_ref.append(session)

            def pace() -> None:
                while session.committed_bars < bars:
                    if stepped.wait(timeout=5.0):
                        stepped.clear()
                        sim.advance(1)

            pacer = threading.Thread(target=pace, daemon=True)
            pacer.start()

            async def main() -> Any:
                try:
                    return await session.run()
                finally:
                    await stream.close()

            started = time.perf_counter()
            result = asyncio.run(main())
            elapsed = time.perf_counter() - started
            journal.close()
    finally:
        sim.stop()
    ordered = sorted(latencies)
    return {
        "bars": result.bars,
        "orders_timed": len(ordered),
        "p50_ms": statistics.median(ordered) if ordered else None,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None,
        "max_ms": ordered[-1] if ordered else None,
        "wall_s": elapsed,
        "goal": "p99 < 5 ms of NEO's own time",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.bars)
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"bar-to-order latency over {figures['orders_timed']} orders ({figures['bars']} bars): "
        f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
        f"max {figures['max_ms']:.2f} ms (goal: p99 < 5 ms)"
    )


if __name__ == "__main__":
    main()
