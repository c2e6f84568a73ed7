"""Benchmark: the Redis candle bus and the metrics a session adds.

* publishing: candles/s through ``publish_candles`` (1,000-candle batches, as a REST POST);
* consuming: bars/s a ``RedisBarFeed`` hands over, each acknowledged with its done-marker
  (one ``MULTI`` round trip per bar, the price of "none lost, none twice");
* the cycle cost of ``attach_session_metrics`` on a paper loop (µs per bar, with and without).

Needs a Redis server: ``NEO_TEST_REDIS_URL`` or ``NEO_REDIS__URL`` (``bash scripts/ci/redis.sh
start`` then ``. /tmp/neo-ci/redis.env``); without one the Redis figures are skipped.
Run: ``.venv/bin/python bench/bench_redis_bus.py``. Prints one line per figure.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import numpy as np

from neo.data.feeds import SimulatedMarketDataFeed
from neo.domain.bar import BarBatch
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.engine.paper import run_paper

CANDLES = 100_000
BATCH = 1_000
CONSUMED = 20_000
PAPER_BARS = 20_000
MINUTE = 60_000_000_000


def batches(iid: InstrumentId, n: int) -> list[BarBatch]:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    ts = 1_704_067_200_000_000_000 + np.arange(n, dtype=np.int64) * MINUTE
    out = []
    for start in range(0, n, BATCH):
        part = slice(start, start + BATCH)
        out.append(BarBatch.from_arrays(
            iid, Timeframe.parse("1m"), ts=ts[part], open=close[part], high=close[part] * 1.001,
            low=close[part] * 0.999, close=close[part], volume=np.ones(len(ts[part])),
        ))  # fmt: skip
    return out


def bench_bus(url: str) -> None:
    import redis

    from neo.service.redis_bus import RedisBarFeed, publish_candles

    client = redis.Redis.from_url(url)
    iid = InstrumentId(f"bench{uuid.uuid4().hex[:8]}", "BTC/USDT")
    parts = batches(iid, CANDLES)
    started = time.perf_counter()
    for part in parts:
        publish_candles(part, client=client)
    elapsed = time.perf_counter() - started
    print(f"publish   {CANDLES / elapsed:>12,.0f} candles/s  ({BATCH}-candle batches)")

    async def consume() -> int:
        feed = RedisBarFeed(url, [iid], "1m", group="bench", limit=CONSUMED, batch=500)
        n = 0
        async for _ in feed.stream():
            n += 1
        return n

    started = time.perf_counter()
    n = asyncio.run(consume())
    elapsed = time.perf_counter() - started
    print(f"consume   {n / elapsed:>12,.0f} bars/s     (each acknowledged with its marker)")
    for key in client.scan_iter(f"neo:bars:{iid.venue}:*"):
        client.delete(key)
    client.delete("neo:bus:bench:done")
    client.close()


def bench_metrics() -> None:
    from neo.service.telemetry import attach_session_metrics

    def once(attach: bool) -> float:
        feed = SimulatedMarketDataFeed(["BTC/USDT"], "1m", n_bars=PAPER_BARS, seed=1)
        hook = (lambda loop: attach_session_metrics(loop, "bench")) if attach else None
        started = time.perf_counter()
        asyncio.run(run_paper("sma_cross", feed, status=False, on_loop=hook))
        return (time.perf_counter() - started) / PAPER_BARS * 1e6

    bare, metered = once(False), once(True)
    print(f"paper     {bare:>12.1f} µs/bar bare, {metered:.1f} µs/bar with session metrics")


def main() -> None:
    url = os.environ.get("NEO_TEST_REDIS_URL") or os.environ.get("NEO_REDIS__URL")
    if url:
        bench_bus(url)
    else:
        print("no Redis (NEO_TEST_REDIS_URL / NEO_REDIS__URL): bus figures skipped")
    bench_metrics()


if __name__ == "__main__":
    main()
