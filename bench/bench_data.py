"""Benchmarks of the data layer; prints figures, asserts nothing.

    .venv/bin/python bench/bench_data.py [--rows 1000000]

1. Validation throughput of ``DataValidator`` on simulated 1m candles (goal >= 5 M candles/s).
2. ``neo ingest`` of 1 M one-minute candles end to end, run as a subprocess of the real CLI
   (start-up, read, validate, store, quarantine; goal < 5 s), from CSV and from Parquet, with
   the subprocess's peak RSS (``os.wait4``'s ``ru_maxrss``).
3. ``neo ingest`` of a 10 M-row CSV (about 1 GB; ``--big-rows``, 0 skips it): time and peak
   RSS (goal <= 800 MB, and not growing with the file: compare with the 1 M figure).
4. Store reads: a full-range read and a 1m → 1h resample of the ingested data.

Wall time depends on what else the machine runs, so CPU time and the load average are printed
beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess  # nosec B404 - runs our own CLI
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

VALIDATION_GOAL = 5_000_000.0
INGEST_GOAL_S = 5.0
RSS_GOAL_MB = 800.0


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


def _ingest_once(path: Path, data_dir: Path) -> tuple[float, float, float, str]:
    """Wall s, CPU s and peak RSS (MB) of one ``neo ingest`` subprocess, and its error."""
    env = {**os.environ, "NEO_DATA_DIR": str(data_dir)}
    command = [
        *_neo(), "ingest", str(path), "--symbol", "BTC/USDT", "--timeframe", "1m",
        "--venue", "sim", "--json",
    ]  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)  # nosec
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        err.seek(0)
        error = err.read().decode(errors="replace").strip().splitlines()[-1:] if status else []
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024.0, error[0] if error else ""


def _report(kind: str, rows: int, wall: float, cpu: float, rss: float, timed: bool) -> None:
    """One line; ``timed`` adds the < 5 s goal (the 1 M-row runs)."""
    goal = f"goal < {INGEST_GOAL_S:.0f} s: {_verdict(wall < INGEST_GOAL_S)}; " if timed else ""
    print(
        f"neo ingest {kind}: {rows:,} candles in {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS "
        f"{rss:.0f} MB ({goal}RSS goal <= {RSS_GOAL_MB:.0f} MB: {_verdict(rss <= RSS_GOAL_MB)})"
    )


def bench_ingest(rows: int, workdir: Path) -> Path:
    from neo.data.feeds import simulate_bars, write_bars

    bars = simulate_bars(["BTC/USDT"], "1m", rows, seed=7)
    files = {"csv": workdir / "btc.csv", "parquet": workdir / "btc.parquet"}
    for path in files.values():
        write_bars(list(bars.values()), path)
    del bars
    last_dir = workdir
    for kind, path in files.items():
        for attempt in ("first", "repeat"):
            data_dir = workdir / f"data-{kind}-{attempt}"
            wall, cpu, rss, error = _ingest_once(path, data_dir)
            if error:
                print(f"neo ingest ({kind}) failed: {error}")
                continue
            _report(f"{kind} ({attempt} run, fresh store)", rows, wall, cpu, rss, True)
            last_dir = data_dir
    return last_dir


def _write_big_csv(path: Path, rows: int, piece: int = 1_000_000) -> int:
    """A ``rows``-row 1m CSV written a million rows at a time (the bench stays small too):
    each piece continues the previous one's time and price."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from neo.data.feeds import simulate_bars

    writer = None
    level, offset, done = 1.0, 0, 0
    while done < rows:
        n = min(piece, rows - done)
        batch = next(iter(simulate_bars(["BTC/USDT"], "1m", n, seed=7 + done).values()))
        scale = level / float(batch.open[0])
        table = pa.table({
            "timestamp": (batch.ts + offset) // 1_000_000,
            **{k: getattr(batch, k) * (scale if k != "volume" else 1.0)
               for k in ("open", "high", "low", "close", "volume")},
        })  # fmt: skip
        if writer is None:
            writer = pacsv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
        level = float(batch.close[-1]) * scale
        offset += n * 60_000_000_000
        done += n
    if writer is not None:
        writer.close()
    return path.stat().st_size


def bench_big_ingest(rows: int, workdir: Path) -> None:
    path = workdir / "big.csv"
    size = _write_big_csv(path, rows)
    wall, cpu, rss, error = _ingest_once(path, workdir / "data-big")
    if error:
        print(f"neo ingest (big csv) failed: {error}")
        return
    _report(f"csv ({size / 1e9:.2f} GB, fresh store)", rows, wall, cpu, rss, False)
    path.unlink()


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
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="0 skips it")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}")
    bench_validation(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="neo-bench-data-"))
    try:
        data_dir = bench_ingest(args.rows, workdir)
        bench_store(data_dir)
        if args.big_rows:
            bench_big_ingest(args.big_rows, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
