"""What one append costs the store: a 1,000-bar batch onto a series holding most of a year.

    .venv/bin/python bench/bench_store_append.py [--rows 300000] [--batch 1000]
                                                 [--appends 220] [--json]

Stores ``--rows`` one-minute bars of one series from 2024-01-01, then appends ``--appends``
batches of ``--batch`` later bars in the same year (a leap year holds 527,040 minutes: by
default the year grows from 300,000 to 520,000 rows, long enough for segment merges and folds
into the year file to be part of the mean) the way ingestion does (``close_before`` for the
first bar, then ``write``), and prints the time per append (mean, p50, p99, max), appends/s and
candles/s, and the bytes written per append. Two paths, same process, same data:

* ``segments``: the store as it is: an append writes a small segment file; past 32 segments
  an append folds them (into one segment, or into the year file once they hold a quarter of
  its rows), which is included in the figures;
* ``rewrite``: the store made to merge every append into the year file, what it did before
  segments (the whole year read from the cache, merged, re-encoded, hashed and written).

Timings include the fsyncs of the files and manifest, on the machine's disk, so they depend on
the disk as much as on the CPU; the CPU time per append (this process, all threads; system
time is mostly the kernel writing the files back for fsync) is printed too. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

MINUTE = 60 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00Z, a leap year
YEAR_MINUTES = 366 * 1440


def _bars(start: int, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    return {
        "ts": T0 + (start + np.arange(n, dtype=np.int64)) * MINUTE,
        "open": open_,
        "high": np.maximum(open_, close) * 1.0005,
        "low": np.minimum(open_, close) * 0.9995,
        "close": close,
        "volume": rng.uniform(1.0, 10.0, n),
    }


@contextmanager
def _rewrite_path() -> Iterator[None]:
    """Every upsert reaches the whole year: the store's behaviour before segments."""
    from unittest import mock

    from neo.data.store import historical

    def everything(files: Any, first_ts: int) -> tuple[tuple[Any, ...], tuple[Any, ...], bool]:
        return (), tuple(files), False

    with mock.patch.object(historical, "split_touched", everything):
        yield


def _run(rows: int, batch: int, appends: int, *, rewrite: bool) -> dict[str, Any]:
    from neo.data.store import HistoricalDataStore
    from neo.domain import BarBatch, InstrumentId, Timeframe

    iid, tf = InstrumentId("bench", "BTC/USDT"), Timeframe.parse("1m")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = HistoricalDataStore(root)
        store.write(BarBatch.from_arrays(iid, tf, **_bars(0, rows, seed=1)), source="history")
        times, written, user, system = [], 0, 0.0, 0.0
        with _rewrite_path() if rewrite else _nothing():
            for k in range(appends):
                cols = _bars(rows + k * batch, batch, seed=2 + k)
                bars = BarBatch.from_arrays(iid, tf, **cols)
                before = _io_bytes()
                started, cpu_started = time.perf_counter(), os.times()
                store.close_before(iid, bars.timeframe, int(bars.ts[0]), 10 * MINUTE)
                store.write(bars, source="api")
                times.append(time.perf_counter() - started)
                cpu_ended = os.times()
                user += cpu_ended.user - cpu_started.user
                system += cpu_ended.system - cpu_started.system
                written += _io_bytes() - before
        total = len(store.read(iid, "1m"))
        files = len(list(root.rglob("*.parquet")))
        store.close()
    assert total == rows + appends * batch, total
    mean = statistics.fmean(times)
    ms = sorted(t * 1e3 for t in times)
    return {
        "path": "rewrite" if rewrite else "segments",
        "ms_per_append": round(mean * 1e3, 3),
        "user_cpu_ms_per_append": round(user / appends * 1e3, 3),
        "system_cpu_ms_per_append": round(system / appends * 1e3, 3),
        "p50_ms": round(ms[len(ms) // 2], 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        "max_ms": round(ms[-1], 3),
        "appends_per_s": round(1 / mean, 1),
        "candles_per_s": round(batch / mean),
        "bytes_written_per_append": written // appends if written >= 0 else None,
        "files_after": files,
    }


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _io_bytes() -> int:
    """Bytes this process wrote so far (Linux /proc; -1 elsewhere)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -(10**18)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--appends", type=int, default=220)
    parser.add_argument("--rewrite-appends", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.rows + max(args.appends, args.rewrite_appends) * args.batch > YEAR_MINUTES:
        parser.error(f"rows + appends x batch must fit in one year ({YEAR_MINUTES:,} minutes)")
    segments = _run(args.rows, args.batch, args.appends, rewrite=False)
    rewrite = _run(args.rows, args.batch, args.rewrite_appends, rewrite=True)
    result = {
        "rows": args.rows,
        "batch": args.batch,
        "segments": segments,
        "rewrite": rewrite,
        "speedup": round(rewrite["ms_per_append"] / segments["ms_per_append"], 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"store append: {args.batch:,}-bar batches onto a year file of {args.rows:,} 1m bars "
        f"(segments: {args.appends} appends, rewrite: {args.rewrite_appends})"
    )
    for row in (segments, rewrite):
        print(
            f"  {row['path']:<9} {row['ms_per_append']:8.2f} ms/append"
            f" (CPU user {row['user_cpu_ms_per_append']:.2f} + system"
            f" {row['system_cpu_ms_per_append']:.2f}, p50 {row['p50_ms']:.2f},"
            f" p99 {row['p99_ms']:.2f}, max {row['max_ms']:.2f}) {row['appends_per_s']:8.1f}"
            f" appends/s {row['candles_per_s']:>10,} candles/s,"
            f" {row['bytes_written_per_append'] / 1e3:9.1f} kB written/append"
        )
    print(f"  segments are {result['speedup']}x faster per append")


if __name__ == "__main__":
    main()
