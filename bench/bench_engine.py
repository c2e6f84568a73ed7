"""NEO's engine speed and memory on its own: event-driven and fast path, 100 k and 1 M bars.

    python bench/bench_engine.py [--sizes 100000 1000000] [--repeat 3] [--fees-bps 10]

Each measurement runs in a fresh process (so peak RSS is that run's alone): a seeded 1-minute
random walk is generated with numpy, the strategy (SMA or EMA 10/20 crossover, fixed 100 units,
long/short reversal on every cross, next-open fills, fees on) is warmed up on a small slice (numba
compilation, first-call costs), then timed on the whole walk; the best of ``--repeat`` runs is
reported. Prints a table, then the goal checks: event path >= 250 k bars/s at 1 M, bars/s at 1 M
no lower than at 100 k, peak RSS of the 1 M event run <= 300 MB, fast path >= 3.6 M bars/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

WARM_UP_BARS = 2_000


def random_walk(n: int, seed: int = 7) -> Any:
    from neo.domain import BarBatch, InstrumentId, Timeframe

    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.concatenate(([30_000.0], close[:-1])) * np.exp(rng.normal(0.0, 0.0002, n))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.0005, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.0005, n))
    minute = 60 * 10**9
    return BarBatch.from_arrays(
        InstrumentId("bench", "BTC/USDT"),
        Timeframe.parse("1m"),
        ts=1_704_067_200 * 10**9 + np.arange(n, dtype=np.int64) * minute,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=rng.uniform(1.0, 100.0, n),
    )


def child(bars: int, path: str, strategy: str, fees_bps: float, repeat: int) -> dict[str, Any]:
    """One measurement (runs in its own process)."""
    from neo.engine.backtest import run_backtest
    from neo.execution.config import ExecutionConfig

    batch = random_walk(bars)
    name = "sma_cross" if strategy == "sma" else "ema_cross"
    params = {"fast": 10, "slow": 20, "size": 100.0}
    config = ExecutionConfig(fees_bps=fees_bps, cash=1e9)
    if path == "fast":
        from neo.engine.fast import run_fast

        def once() -> tuple[int, float]:
            result = run_fast(name, batch, params=params, execution=config)
            return len(result.fill_bar), result.final_equity
    else:

        def once() -> tuple[int, float]:
            result = run_backtest(name, batch, params=params, execution=config)
            return len(result.fills), result.final_equity

    warm = batch.slice(0, WARM_UP_BARS)
    if path == "fast":
        run_fast(name, warm, params=params, execution=config)
    else:
        run_backtest(name, warm, params=params, execution=config)
    best = float("inf")
    fills, equity = 0, 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        fills, equity = once()
        best = min(best, time.perf_counter() - start)
    return {
        "path": path,
        "strategy": strategy,
        "bars": bars,
        "seconds": best,
        "bars_per_s": bars / best,
        "fills": fills,
        "final_equity": equity,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def measure(bars: int, path: str, strategy: str, fees_bps: float, repeat: int) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        f"{bars},{path},{strategy},{fees_bps},{repeat}",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fees-bps", type=float, default=10.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        bars, path, strategy, fees, repeat = args.child.split(",")
        print(json.dumps(child(int(bars), path, strategy, float(fees), int(repeat))))
        return
    rows = [
        measure(size, path, strategy, args.fees_bps, args.repeat)
        for path in ("event", "fast")
        for strategy in ("sma", "ema")
        for size in args.sizes
    ]
    print(f"{'path':<6} {'strategy':<8} {'bars':>9} {'bars/s':>12} {'fills':>7} {'peak MB':>8}")
    for row in rows:
        print(
            f"{row['path']:<6} {row['strategy']:<8} {row['bars']:>9} {row['bars_per_s']:>12,.0f} "
            f"{row['fills']:>7} {row['peak_rss_mb']:>8.1f}"
        )
    _goals(rows, max(args.sizes), min(args.sizes))


def _goals(rows: list[dict[str, Any]], large: int, small: int) -> None:
    def rate(path: str, strategy: str, bars: int) -> float:
        return float(
            next(
                r["bars_per_s"]
                for r in rows
                if (r["path"], r["strategy"], r["bars"]) == (path, strategy, bars)
            )
        )

    print("\ngoals:")
    for strategy in ("sma", "ema"):
        event = rate("event", strategy, large)
        print(f"  event {strategy} >= 250k bars/s at {large}: {event:,.0f} -> {event >= 250_000}")
        flat = event >= rate("event", strategy, small)
        print(f"  event {strategy} bars/s at {large} >= at {small}: {flat}")
        fast = rate("fast", strategy, large)
        print(f"  fast {strategy} >= 3.6M bars/s at {large}: {fast:,.0f} -> {fast >= 3_600_000}")
    peak = max(r["peak_rss_mb"] for r in rows if r["path"] == "event" and r["bars"] == large)
    print(f"  event peak RSS at {large} <= 300 MB: {peak:.1f} -> {peak <= 300}")


if __name__ == "__main__":
    main()
