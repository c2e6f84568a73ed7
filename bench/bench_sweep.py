"""Parameter sweeps: NEO against vectorbt on 1,000 SMA pairs × 1 M bars, 1 → 2 workers, and
200 event-path backtests on Ray and on the local pool.

    .venv/bin/python bench/bench_sweep.py                       # everything (~5-10 min, 2 cores)
    .venv/bin/python bench/bench_sweep.py --bars 100000 --skip-event
    .venv/bin/python bench/bench_sweep.py --skip-vectorbt --workers 1,2

1. The sweep: ``sma_cross`` with fast in 5:53:2 and slow in 60:450:10 (25 × 40 = 1,000 pairs),
   fixed size 100, 10 bps fees, next-open fills, on the seeded 1 M-bar one-minute walk every
   peer benchmark reads (bench/peers/make_data.py). NEO runs ``neo.sweeps.run_sweep`` (the
   ``neo sweep`` code path: bars from the Parquet store, the compiled fast path, one window,
   results written to Parquet and analysed) on the local process pool with 1 and 2 workers;
   vectorbt runs ``Portfolio.from_signals`` with the pairs broadcast as columns, in the peers'
   venv (bench/peers/run_vectorbt_sweep.py). Printed: pairs × bars per second of wall time and
   of CPU time (the machine is shared: CPU time is what a busy neighbour cannot steal; NEO's
   counts the driver and the workers' tasks, not the workers' start-up), NEO's
   speed-up from 1 to 2 workers, and the largest difference between NEO's and vectorbt's final
   equity over all pairs (the same trades give the same money).
2. Event path: 200 ``sma_cross`` pairs × 100 k bars through the event loop (``--engine
   event``) on the pool and on a local Ray (2 CPUs, object store capped), checked identical.

NEO's wall time covers the whole sweep: starting the workers, reading the store, the
backtests, writing and analysing the table. vectorbt's covers the indicator, signals,
``from_signals`` and final values (its numba code warmed up first, not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
RESULTS = BENCH / "results"
sys.path.insert(0, str(PEERS))
sys.path.insert(0, str(BENCH))

import make_data  # noqa: E402

from neo.data.store import HistoricalDataStore  # noqa: E402
from neo.engine.instruments import default_instrument  # noqa: E402
from neo.execution.config import ExecutionConfig  # noqa: E402
from neo.sweeps.api import SweepRequest, SweepResult, run_sweep  # noqa: E402
from neo.sweeps.grid import parse_grid, strategy_class  # noqa: E402
from neo_runner import load_batch  # noqa: E402

FAST, SLOW = "5:53:2", "60:450:10"
EVENT_FAST, EVENT_SLOW = "5:43:2", "50:140:10"


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def base_request(store: Path, out: Path, bars: Any) -> SweepRequest:
    cls = strategy_class("sma_cross")
    return SweepRequest(
        strategy="sma_cross",
        grid=parse_grid([f"fast={FAST}", f"slow={SLOW}"], cls),
        fixed={"size": 100.0},
        instruments=[default_instrument(bars.instrument)],
        timeframe=bars.timeframe,
        store_root=store,
        out=out,
        execution=ExecutionConfig(fees_bps=10.0, cash=1e11),
        windows=1,
        backend="pool",
    )


def timed(request: SweepRequest) -> tuple[SweepResult, float, float]:
    """The sweep, its wall seconds and its CPU seconds: the driver's (reading the store,
    writing and analysing the table) plus what the workers spent in their tasks."""
    cpu = own_cpu()
    start = time.perf_counter()
    result = run_sweep(request)
    wall = time.perf_counter() - start
    return result, wall, own_cpu() - cpu + result.stats.cpu_seconds


def projected_speedup(one: dict[str, Any], two: dict[str, Any], workers: int) -> float:
    """Wall-time speed-up on idle cores from CPU times alone (Amdahl): the driver's part runs
    alone, the workers' part splits ``workers`` ways (with whatever it duplicates, e.g.
    indicators each worker computes for itself). A projection, printed as one."""
    return (one["driver_cpu_s"] + one["worker_cpu_s"]) / (
        two["driver_cpu_s"] + two["worker_cpu_s"] / workers
    )


def say(text: str) -> None:
    print(text, flush=True)


def neo_sweeps(request: SweepRequest, workers: list[int], bars: int) -> dict[int, dict[str, Any]]:
    runs: dict[int, dict[str, Any]] = {}
    for count in workers:
        result, wall, cpu = timed(replace(request, workers=count, out=request.out.with_suffix(
            f".{count}.parquet")))  # fmt: skip
        pairs = result.configs
        runs[count] = {
            "workers": count,
            "pairs": pairs,
            "bars": bars,
            "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "pair_bars_per_s": pairs * bars / wall,
            "pair_bars_per_cpu_s": pairs * bars / cpu,
            "table": str(result.path),
            "worker_cpu_s": round(result.stats.cpu_seconds, 3),
            "driver_cpu_s": round(cpu - result.stats.cpu_seconds, 3),
        }
        say(
            f"NEO pool x{count}: {pairs} pairs x {bars:,} bars in {wall:.1f} s wall "
            f"({cpu:.1f} s CPU): {pairs * bars / wall:,.0f} pair-bars/s "
            f"({pairs * bars / cpu:,.0f} per CPU-second)"
        )
    return runs


def vectorbt_sweep(data: Path, columns: int, max_pairs: int) -> dict[str, Any] | None:
    python = PEERS / ".venv" / "bin" / "python"
    if not python.is_file():
        say("vectorbt: bench/peers/.venv missing (bash bench/peers/setup.sh builds it): skipped")
        return None
    command = [str(python), str(PEERS / "run_vectorbt_sweep.py"), "--data", str(data),
               "--fast", FAST, "--slow", SLOW, "--columns", str(columns),
               "--max-pairs", str(max_pairs)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=PEERS)
    if done.returncode != 0:
        say(f"vectorbt failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    say(
        f"vectorbt from_signals: {result['pairs']} pairs x {result['bars']:,} bars in "
        f"{result['seconds']:.1f} s wall ({result['cpu_seconds']:.1f} s CPU): "
        f"{result['pair_bars_per_s']:,.0f} pair-bars/s "
        f"({result['pair_bars_per_cpu_s']:,.0f} per CPU-second)"
    )
    return result


def compare_equity(table: Path, vectorbt: dict[str, Any]) -> float:
    frame = pd.read_parquet(table, columns=["p_fast", "p_slow", "final_equity"])
    neo = {f"{f}/{s}": e for f, s, e in frame.itertuples(index=False)}
    theirs = vectorbt["final_values"]
    common = sorted(set(neo) & set(theirs))
    diffs = np.array([abs(neo[k] - theirs[k]) for k in common])
    worst = float(diffs.max()) if len(diffs) else float("nan")
    say(f"final equity, NEO vs vectorbt over {len(common)} pairs: largest difference {worst:.4f}")
    return worst


def event_section(store: Path, bars: Any, runs: int, event_bars: int, tmp: Path) -> dict:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cls = strategy_class("sma_cross")
    grid = parse_grid([f"fast={EVENT_FAST}", f"slow={EVENT_SLOW}"], cls)
    request = replace(
        base_request(store, tmp / "event-pool.parquet", bars),
        grid=grid,
        engine="event",
        workers=2,
        end_ns=int(bars.ts[event_bars]),
    )
    out: dict[str, Any] = {}
    tables = {}
    for backend in ("pool", "ray"):
        try:
            result, wall, _ = timed(
                replace(request, backend=backend, out=tmp / f"event-{backend}.parquet")
            )
        except Exception as exc:  # Ray missing or failing to start: say so, keep the rest
            say(f"event path on {backend}: failed ({type(exc).__name__}: {exc})")
            continue
        tables[backend] = pd.read_parquet(result.path).drop(columns=["attempts"])
        out[backend] = {"backtests": result.stats.backtests, "seconds": round(wall, 3)}
        say(
            f"event path on {backend}: {result.stats.backtests} backtests x {event_bars:,} bars "
            f"in {wall:.1f} s ({result.stats.backtests * event_bars / wall:,.0f} bars/s)"
        )
    if len(tables) == 2:
        same = tables["pool"].equals(tables["ray"])
        out["identical"] = same
        say(f"event path: Ray and pool results identical: {same}")
    assert runs == len(grid[0].values) * len(grid[1].values)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--columns", type=int, default=20, help="vectorbt pairs per call")
    parser.add_argument(
        "--vectorbt-pairs",
        type=int,
        default=0,
        help="vectorbt on an evenly spread subset of the pairs (0: all 1,000; ~7 CPU-minutes)",
    )
    parser.add_argument("--event-bars", type=int, default=100_000)
    parser.add_argument("--skip-vectorbt", action="store_true")
    parser.add_argument("--skip-event", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "sweep.json")
    args = parser.parse_args(argv)
    source = "neo" if make_data.neo_available() else "numpy"
    data = make_data.ensure(args.bars, 7, source)
    bars = load_batch(data)
    report: dict[str, Any] = {"bars": args.bars, "data": str(data)}
    with tempfile.TemporaryDirectory(prefix="neo-bench-sweep-") as tmp_name:
        tmp = Path(tmp_name)
        store = HistoricalDataStore(tmp / "store")
        store.write(bars)
        store.close()
        request = base_request(tmp / "store", tmp / "neo.parquet", bars)
        warm = replace(request, grid=parse_grid(["fast=5", "slow=60"], strategy_class(
            "sma_cross")), end_ns=int(bars.ts[5_000]), backend="serial")  # fmt: skip
        run_sweep(replace(warm, out=tmp / "warm.parquet"))  # numba's disk cache, not timed
        workers = [int(w) for w in args.workers.split(",")]
        neo = neo_sweeps(request, workers, args.bars)
        report["neo"] = neo
        if len(neo) >= 2:
            one, two = neo[workers[0]], neo[workers[1]]
            speedup = one["seconds"] / two["seconds"]
            report["speedup"] = speedup
            say(f"NEO speed-up from {workers[0]} to {workers[1]} workers: {speedup:.2f}x")
            projected = projected_speedup(one, two, workers[1] // workers[0])
            report["speedup_projected_idle_cores"] = projected
            say(
                f"NEO speed-up projected from CPU times on idle cores: {projected:.2f}x "
                f"(driver {two['driver_cpu_s']:.1f} s CPU, workers {one['worker_cpu_s']:.1f} s "
                f"-> {two['worker_cpu_s']:.1f} s CPU)"
            )
        if not args.skip_vectorbt:
            vbt = vectorbt_sweep(data, args.columns, args.vectorbt_pairs)
            if vbt is not None:
                best = max(neo.values(), key=lambda r: r["pair_bars_per_s"])
                report["vectorbt"] = {k: v for k, v in vbt.items() if k != "final_values"}
                single = neo[workers[0]]
                report["neo_over_vectorbt"] = best["pair_bars_per_s"] / vbt["pair_bars_per_s"]
                report["neo_over_vectorbt_cpu"] = (
                    single["pair_bars_per_cpu_s"] / vbt["pair_bars_per_cpu_s"]
                )
                report["max_equity_difference"] = compare_equity(Path(best["table"]), vbt)
                say(
                    f"NEO (best wall) / vectorbt pair-bars/s: {report['neo_over_vectorbt']:.2f}x;"
                    f" per CPU-second: {report['neo_over_vectorbt_cpu']:.2f}x"
                )
        if not args.skip_event:
            report["event"] = event_section(tmp / "store", bars, 200, args.event_bars, tmp)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    say(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
