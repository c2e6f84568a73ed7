"""Fill-to-inbox latency of the fills stream against ``neo exchange-sim``: websocket vs REST.

    .venv/bin/python bench/bench_fill_latency.py [--fills 100] [--json]

A resting limit order fills on a bar the sim closes; the clock starts on the sim's thread the
moment the fill is made (the sim emits its ``executionReport`` then) and stops when the fill
is in the :class:`~neo.adapters.ccxt.fills_stream.FillInbox`, ready for the loop: over the
user data stream (ccxt.pro ``watch_my_trades``, unmodified), and over REST polls every
``--poll-ms`` (the fall-back, and what an exchange without websocket my-trades gets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from pydantic import SecretStr

from neo.adapters.ccxt import ExchangeConfig, make_exchange
from neo.adapters.ccxt.fills_stream import CcxtFillStream, FillInbox
from neo.exchange_sim import SimHandle, serve_in_thread
from neo.exchange_sim.client import SIM_KEY, SIM_SECRET, make_ccxt_client

SYMBOL = "BTC/USDT"


def _fill_once(sim: SimHandle, rest: Any) -> float:
    """Place a resting buy, close bars until it fills; the perf_counter of the fill."""
    last = float(sim.engine.last_price(SYMBOL))
    rest.create_order(SYMBOL, "limit", "buy", 0.001, round(last * 0.9995, 2))

    def go() -> float:
        order = sim.sim.engine.orders[-1]
        for _ in range(10_000):
            if order.status != "open":
                return time.perf_counter()
            sim.sim.advance(1)
        raise RuntimeError("the sim's price never came back to the order")

    return sim.call(go)


async def _measure(sim: SimHandle, mode: str, fills: int, poll_ms: float) -> list[float]:
    config = ExchangeConfig(url=sim.url, api_key=SecretStr(SIM_KEY), secret=SecretStr(SIM_SECRET))
    client = make_exchange("binance", config, asynchronous=True, credentials=True)
    arrived: list[float] = []
    inbox = FillInbox()
    put = inbox.put

    def stamped(trade: dict[str, Any], source: str) -> None:
        arrived.append(time.perf_counter())
        put(trade, source)

    inbox.put = stamped  # type: ignore[method-assign]
    stream = CcxtFillStream(client, [SYMBOL], inbox, mode=mode, poll_s=poll_ms / 1000)
    task = asyncio.create_task(stream.run())
    rest = make_ccxt_client("binance", sim.url)
    latencies: list[float] = []
    try:
        while mode == "watch" and not stream.subscribed.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(2 * poll_ms / 1000)  # the poll's first look at the history
        for _ in range(fills):
            seen = len(arrived)
            made = await asyncio.to_thread(_fill_once, sim, rest)
            while len(arrived) == seen:
                await asyncio.sleep(0.0005)
            latencies.append((arrived[seen] - made) * 1000)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        rest.close()
    return latencies


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
        "max_ms": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=50)
    parser.add_argument("--poll-ms", type=float, default=250.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"fills": args.fills, "poll_ms": args.poll_ms}
    for mode in ("watch", "poll"):
        sim = serve_in_thread("binance", seed=5, history_bars=300)
        try:
            latencies = asyncio.run(_measure(sim, mode, args.fills, args.poll_ms))
        finally:
            sim.stop()
        result["websocket" if mode == "watch" else "rest_poll"] = _summary(latencies)
    if args.json:
        print(json.dumps(result))
        return
    print(f"fill -> inbox, {args.fills} fills each (REST polled every {args.poll_ms:g} ms)")
    for name in ("websocket", "rest_poll"):
        row = result[name]
        print(f"  {name:10s} p50 {row['p50_ms']:9.3f} ms  p99 {row['p99_ms']:9.3f} ms  "
              f"max {row['max_ms']:9.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
