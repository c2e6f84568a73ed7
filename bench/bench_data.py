"""Benchmarks of the data layer; prints figures, asserts nothing.

    .venv/bin/python bench/bench_data.py [--rows 1000000]

1. Validation throughput of ``DataValidator`` on simulated 1m candles (goal >= 5 M candles/s).
2. ``neo ingest`` of 1 M one-minute candles end to end, run as a subprocess of the real CLI
   (start-up, read, validate, store, quarantine; goal < 5 s), from CSV and from Parquet.
3. Store reads: a full-range read and a 1m → 1h resample of the ingested data.

Wall time depends on what else the machine runs, so CPU time and the load average are printed
beside it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess  # nosec B404 - runs our own CLI
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

VALIDATION_GOAL = 5_000_000.0
INGEST_GOAL_S = 5.0


def _best(
    fn: Callable[[], object], repeat: int = 3, clock: Callable[[], float] = time.perf_counter
) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = clock()
        fn()
        best = min(best, clock() - started)
    return best


def _verdict(ok: bool) -> str:
    return "goal met" if ok else "goal NOT met"


def bench_validation(rows: int) -> None:
    from neo.data.feeds import simulate_bars
    from neo.data.validate import DataValidator

    batch = next(iter(simulate_bars(["BTC/USDT"], "1m", rows, seed=7).values()))
    validator = DataValidator("1m")
    validator.validate(batch.slice(0, 1000))  # load the compiled kernels
    wall = _best(lambda: validator.validate(batch), repeat=5)
    cpu = _best(lambda: validator.validate(batch), repeat=5, clock=time.process_time)
    rate = rows / wall
    print(
        f"validation: {rows:,} candles in {wall:.3f} s wall / {cpu:.3f} s CPU = "
        f"{rate / 1e6:.2f} M candles/s wall, {rows / cpu / 1e6:.2f} M/s per CPU second "
        f"(goal >= {VALIDATION_GOAL / 1e6:.0f} M/s: {_verdict(rate >= VALIDATION_GOAL)})"
    )


def _neo() -> list[str]:
    script = Path(sys.executable).with_name("neo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "neo.cli.main"]


def _ingest_once(path: Path, data_dir: Path) -> tuple[float, float, str]:
    env = {**os.environ, "NEO_DATA_DIR": str(data_dir)}
    command = [
        *_neo(),
        "ingest",
        str(path),
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1m",
        "--venue",
        "sim",
        "--json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # nosec
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, "" if done.returncode == 0 else done.stderr.strip()


def bench_ingest(rows: int, workdir: Path) -> Path:
    from neo.data.feeds import simulate_bars, write_bars

    bars = simulate_bars(["BTC/USDT"], "1m", rows, seed=7)
    files = {"csv": workdir / "btc.csv", "parquet": workdir / "btc.parquet"}
    for path in files.values():
        write_bars(list(bars.values()), path)
    last_dir = workdir
    for kind, path in files.items():
        for attempt in ("first", "repeat"):
            data_dir = workdir / f"data-{kind}-{attempt}"
            wall, cpu, error = _ingest_once(path, data_dir)
            if error:
                print(f"neo ingest ({kind}) failed: {error}")
                continue
            print(
                f"neo ingest {kind} ({attempt} run, fresh store): {rows:,} candles in "
                f"{wall:.2f} s wall, {cpu:.2f} s CPU "
                f"(goal < {INGEST_GOAL_S:.0f} s: {_verdict(wall < INGEST_GOAL_S)})"
            )
            last_dir = data_dir
    return last_dir


def bench_store(data_dir: Path) -> None:
    from neo.data.store import HistoricalDataStore
    from neo.domain import InstrumentId

    store = HistoricalDataStore(data_dir / "store", cache_entries=0)
    iid = InstrumentId("sim", "BTC/USDT")
    read = _best(lambda: store.read(iid, "1m"))
    hourly = _best(lambda: store.resample(iid, "1m", "1h"))
    rows = len(store.read(iid, "1m"))
    print(f"store read: {rows:,} candles in {read:.3f} s; resample 1m->1h in {hourly:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}")
    bench_validation(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="neo-bench-data-"))
    try:
        data_dir = bench_ingest(args.rows, workdir)
        bench_store(data_dir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
