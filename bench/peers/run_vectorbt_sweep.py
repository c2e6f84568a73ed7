"""vectorbt's side of the sweep benchmark: every (fast, slow) pair as a column of one
`Portfolio.from_signals` call — vectorbt's own way to test thousands of parameter sets.

    python run_vectorbt_sweep.py --data FILE.parquet --fast 5:53:2 --slow 60:450:10 \
        --size 100 --fees-bps 10 --cash 1e11 [--columns 40]

The pairs are the product of the two ranges (start:stop:step, stop inclusive) with fast < slow.
Signals come from vectorbt's MA indicator and `ma_crossed_above/below` with the windows
broadcast as columns, shifted one bar and executed at the open, reversing on an opposite
signal — the semantics of run_vectorbt.py. 1,000 columns × 1 M bars would need ~8 GB per
float matrix, so the columns go through in blocks of ``--columns`` (each block one
`from_signals` call, still broadcast as columns); ``--max-pairs`` runs an evenly spread subset
(the throughput is a rate, so a subset measures it in less time). numba compilation is
warmed up on a small slice first and not timed. Prints one JSON line: pairs, bars, seconds,
pair-bars per second (wall and CPU), peak RSS, and the final value of every pair (to check
against NEO's).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time

import numpy as np
import pandas as pd
import vectorbt as vbt
from peer_common import load_bars, peak_rss_mb

WARMUP_BARS = 2_000


def values(text: str) -> list[int]:
    parts = [int(p) for p in text.split(":")]
    start, stop, step = parts if len(parts) == 3 else (parts[0], parts[-1], 1)
    return list(range(start, stop + 1, step))


def block(
    open_: pd.Series, close: pd.Series, pairs: list[tuple[int, int]], args: argparse.Namespace
) -> np.ndarray:
    """Final values of ``pairs``, all in one from_signals call."""
    fast_ma = vbt.MA.run(close, window=[f for f, _ in pairs], short_name="fast")
    slow_ma = vbt.MA.run(close, window=[s for _, s in pairs], short_name="slow")
    up = fast_ma.ma_crossed_above(slow_ma).to_numpy()
    down = fast_ma.ma_crossed_below(slow_ma).to_numpy()
    entries = np.zeros_like(up)
    short_entries = np.zeros_like(down)
    entries[1:] = up[:-1]
    short_entries[1:] = down[:-1]
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries=entries,
        short_entries=short_entries,
        price=open_.to_numpy()[:, None],
        size=args.size,
        size_type="amount",
        fees=args.fees_bps / 10_000.0,
        init_cash=args.cash,
        upon_opposite_entry="reverse",
    )
    finals = np.asarray(portfolio.final_value(), dtype=np.float64)
    del portfolio, fast_ma, slow_ma
    gc.collect()  # without it vectorbt's objects pile up: ~9 GB after a few hundred pairs
    return finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--fast", default="5:53:2")
    parser.add_argument("--slow", default="60:450:10")
    parser.add_argument("--size", type=float, default=100.0)
    parser.add_argument("--fees-bps", type=float, default=10.0)
    parser.add_argument("--cash", type=float, default=1e11)
    parser.add_argument("--columns", type=int, default=20, help="pairs per from_signals call")
    parser.add_argument(
        "--max-pairs", type=int, default=0, help="run an evenly spread subset (0: all pairs)"
    )
    args = parser.parse_args()
    pairs = [(f, s) for f in values(args.fast) for s in values(args.slow) if f < s]
    if 0 < args.max_pairs < len(pairs):
        pairs = [pairs[k * len(pairs) // args.max_pairs] for k in range(args.max_pairs)]
    bars = load_bars(args.data)
    index = pd.to_datetime(bars["timestamp"], unit="ms")  # tz-naive: see run_vectorbt.py
    open_ = pd.Series(bars["open"], index=index, name="open")
    close = pd.Series(bars["close"], index=index, name="close")
    block(open_.iloc[:WARMUP_BARS], close.iloc[:WARMUP_BARS], pairs[:2], args)  # numba JIT
    cpu = time.process_time()
    start = time.perf_counter()
    finals = np.concatenate(
        [block(open_, close, pairs[k : k + args.columns], args)
         for k in range(0, len(pairs), args.columns)]
    )  # fmt: skip
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    result = {
        "engine": "vectorbt",
        "pairs": len(pairs),
        "bars": int(close.size),
        "seconds": round(seconds, 3),
        "pair_bars_per_s": round(len(pairs) * close.size / seconds, 1),
        "cpu_seconds": round(cpu, 3),
        "pair_bars_per_cpu_s": round(len(pairs) * close.size / cpu, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "columns_per_call": args.columns,
        "cpu_seconds_note": "process CPU of the timed part",
        "final_values": {f"{f}/{s}": float(v) for (f, s), v in zip(pairs, finals, strict=True)},
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
