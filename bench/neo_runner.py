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

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from neo.domain import BarBatch, InstrumentId, Timeframe
from neo.engine.backtest import run_backtest
from neo.execution.config import ExecutionConfig

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))  # one CLI for every runner
from peer_common import COLUMNS, RunSpec, build_parser, emit, spec_of

WARM_UP_BARS = 2_000


def parse_args(argv: list[str] | None = None) -> tuple[RunSpec, str]:
    """The peer runners' command line plus ``--path event|fast``."""
    parser = build_parser("NEO")
    parser.add_argument("--path", choices=("event", "fast"), default="event")
    args = parser.parse_args(argv)
    return spec_of(parser, args), str(args.path)


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


def run(batch: BarBatch, spec: RunSpec, path: str) -> tuple[float, int, float]:
    """Seconds of the timed run, position entries, final equity."""
    name = "sma_cross" if spec.strategy == "sma" else "ema_cross"
    params: dict[str, Any] = {"fast": spec.fast, "slow": spec.slow, "size": spec.size}
    config = ExecutionConfig(fees_bps=spec.fees_bps, cash=spec.cash)
    iid = batch.instrument
    if path == "fast":
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
    spec, path = parse_args(argv)
    batch = load_batch(spec.data)
    seconds, trades, final_equity = run(batch, spec, path)
    emit(f"neo-{path}", spec, len(batch), seconds, trades, final_equity)


if __name__ == "__main__":
    main()
