"""Requests per minute under NEO's rate limiter against the exchange's limit, with the real ccxt
client hammering ``neo exchange-sim`` (Binance dialect) from several threads.

    .venv/bin/python bench/bench_rate_limit.py [--seconds 10] [--threads 4] [--rate-limit-ms 50]

ccxt's Binance ``rateLimit`` is 50 ms per unit of request weight: 1200 weight per minute. Each
thread loops over ``fetch_ohlcv`` (weight 2 at limit 500 in ccxt's table) and ``fetch_time``
(weight 1); the limiter paces every request with ccxt's own weight. The figures: requests and
weight per minute measured, the limit, and the largest weight spent in any sliding 60 s window
scaled from the run (must not exceed limit + burst).
"""

from __future__ import annotations

import argparse
import threading
import time

from neo.adapters.ccxt import ExchangeConfig, make_exchange
from neo.exchange_sim import serve_in_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--rate-limit-ms",
        type=float,
        default=None,
        help="override ccxt's rateLimit (default: the exchange's own)",
    )
    args = parser.parse_args()
    sim = serve_in_thread("binance", seed=1, history_bars=600)
    try:
        config = ExchangeConfig(url=sim.url, rate_limit_ms=args.rate_limit_ms)
        exchange = make_exchange("binance", config)
        exchange.load_markets()
        limiter = exchange.neo_limiter
        sent: list[tuple[float, float]] = []  # (time, weight) of each request
        lock = threading.Lock()
        original = limiter.reserve

        def reserve(weight: float = 1.0) -> float:
            delay = original(weight)
            with lock:
                sent.append((time.monotonic() + delay, weight))
            return delay

        limiter.reserve = reserve  # type: ignore[method-assign]
        stop = time.monotonic() + args.seconds

        def hammer() -> None:
            while time.monotonic() < stop:
                exchange.fetch_ohlcv("BTC/USDT", "1m", limit=500)
                exchange.fetch_time()

        started = time.monotonic()
        workers = [threading.Thread(target=hammer) for _ in range(args.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
    finally:
        sim.stop()
    weight = sum(w for _, w in sent)
    limit_per_min = limiter.per_minute
    window = min(60.0, elapsed)
    times = sorted(sent)
    worst, j, inside = 0.0, 0, 0.0
    for t, w in times:  # largest weight in any window of `window` seconds
        inside += w
        while times[j][0] <= t - window:
            inside -= times[j][1]
            j += 1
        worst = max(worst, inside)
    print(
        f"rate limiter vs exchange limit ({args.threads} threads, {elapsed:.1f} s, binance "
        f"rateLimit {limiter.interval_s * 1000:.0f} ms/weight)"
    )
    print(f"  requests per minute:  {len(sent) / elapsed * 60:8.0f}")
    print(f"  weight per minute:    {weight / elapsed * 60:8.0f}   (limit {limit_per_min:.0f})")
    print(
        f"  worst {window:.0f} s window: {worst / window * 60:8.0f} weight/min "
        f"(limit + burst {limit_per_min + limiter.burst * 60 / window:.0f})"
    )
    print(f"  time spent waiting for the limiter: {limiter.waited_s:.1f} s over all threads")


if __name__ == "__main__":
    main()
