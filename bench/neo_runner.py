"""NEO's side of the peer benchmark: the same CLI and JSON line as bench/peers' runners.

    python bench/neo_runner.py --data FILE.parquet --strategy sma|ema --path event|fast \
        --fast 10 --slow 20 --size 100 --fees-bps 10 [--cash 1e11]

Reads the shared random-walk Parquet file (timestamp [ms], open, high, low, close, volume; one
symbol), runs NEO's ``sma_cross``/``ema_cross`` with a fixed size (long/short reversal on every
cross, next-open fills, fees on every fill) on the event-driven loop or the compiled fast path,
and prints one JSON object. ``seconds`` covers the backtest only: reading the file is excluded
and numba compilation is warmed up on a small slice first. ``peak_rss_mb`` is the process's
``ru_maxrss`` (imports included). ``trades`` counts position entries (closed round trips plus
the one still open), as the peer runners do.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from neo.domain import BarBatch, InstrumentId, Timeframe
from neo.engine.backtest import run_backtest
from neo.execution.config import ExecutionConfig

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
WARM_UP_BARS = 2_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="NEO: MA crossover benchmark, one JSON line.")
    parser.add_argument("--data", type=Path, required=True, help="Parquet file from make_data.py")
    parser.add_argument("--strategy", choices=("sma", "ema"), default="sma")
    parser.add_argument("--path", choices=("event", "fast"), default="event")
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--size", type=float, default=100.0, help="units per position")
    parser.add_argument("--fees-bps", type=float, default=10.0, help="commission, bps of notional")
    parser.add_argument("--cash", type=float, default=1e11, help="ample, so trading never stops")
    args = parser.parse_args(argv)
    if not 0 < args.fast < args.slow:
        parser.error(f"need 0 < --fast < --slow, got {args.fast} and {args.slow}")
    if not args.data.is_file():
        parser.error(f"--data {args.data} does not exist: run bench/peers/make_data.py first")
    return args


def _column(source: pq.ParquetFile, name: str, dtype: type[np.generic]) -> Any:
    """One column copied straight out of Arrow's buffers (no pandas, a small peak)."""
    chunks = source.read(columns=[name], use_threads=False).column(0).chunks
    parts = [
        np.frombuffer(chunk.buffers()[1], dtype=dtype)[chunk.offset : chunk.offset + len(chunk)]
        for chunk in chunks
    ]
    return np.concatenate(parts) if len(parts) != 1 else parts[0].copy()


def load_batch(path: Path) -> BarBatch:
    source = pq.ParquetFile(path)
    columns = {name: _column(source, name, np.float64) for name in COLUMNS[1:]}
    return BarBatch.from_arrays(
        InstrumentId("bench", "BTC/USDT"),
        Timeframe.parse("1m"),
        ts=_column(source, "timestamp", np.int64) * 1_000_000,
        **columns,
    )


def run(batch: BarBatch, args: argparse.Namespace) -> tuple[float, int, float]:
    """Seconds of the timed run, position entries, final equity."""
    name = "sma_cross" if args.strategy == "sma" else "ema_cross"
    params: dict[str, Any] = {"fast": args.fast, "slow": args.slow, "size": args.size}
    config = ExecutionConfig(fees_bps=args.fees_bps, cash=args.cash)
    iid = batch.instrument
    if args.path == "fast":
        from neo.engine.fast import run_fast  # numba: only the fast path pays its memory

        run_fast(name, batch.slice(0, WARM_UP_BARS), params=params, execution=config)
        start = time.perf_counter()
        fast = run_fast(name, batch, params=params, execution=config)
        seconds = time.perf_counter() - start
        entries = len(fast.trades()) + (1 if fast.position[-1] != 0 else 0)
        return seconds, entries, fast.final_equity
    run_backtest(name, batch.slice(0, WARM_UP_BARS), params=params, execution=config)
    start = time.perf_counter()
    event = run_backtest(name, batch, params=params, execution=config)
    seconds = time.perf_counter() - start
    entries = len(event.trades) + (1 if event.positions[iid][-1] != 0 else 0)
    return seconds, entries, event.final_equity


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    batch = load_batch(args.data)
    seconds, trades, final_equity = run(batch, args)
    result = {
        "engine": f"neo-{args.path}",
        "strategy": args.strategy,
        "bars": len(batch),
        "seconds": round(seconds, 6),
        "bars_per_s": round(len(batch) / seconds, 1) if seconds > 0 else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "trades": trades,
        "final_equity": round(float(final_equity), 2),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
