"""How fast are features in batch and bar by bar, and how long does one model prediction take?

    .venv/bin/python bench/bench_features.py [--bars 1000000] [--repeat 3] [--json]

Figures printed (goals from the features issue):

1. Batch: the 20 default features over ``--bars`` 1-minute bars (goal < 2 s for 1 M bars).
2. Incremental: ``IncrementalFeatures.update(bar)`` for the same 20 features, per bar, including
   the Python call and the output vector (goal < 50 µs per bar).
3. Single-bar inference: ``model.predict(vector)`` for a 100-tree LightGBM classifier and a
   logistic baseline trained on those features.

Seeded synthetic data; timings are medians of ``--repeat`` runs after one warm-up call (which
also compiles or loads the numba kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from neo.domain import BarBatch, InstrumentId, Timeframe
from neo.features import LabelSpec, default_pipeline
from neo.models import create_model

MINUTE = 60 * 1_000_000_000


def _median_seconds(work: Callable[[], Any], repeat: int, clock: str = "wall") -> float:
    """Median run time; ``clock="cpu"`` counts this process's CPU time only, which is what
    matters on a shared machine where other processes steal the cores."""
    timer = time.process_time if clock == "cpu" else time.perf_counter
    timings = []
    for _ in range(repeat):
        started = timer()
        work()
        timings.append(timer() - started)
    return statistics.median(timings)


def _bars(n: int, seed: int = 7) -> BarBatch:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 3e-4, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 3e-4, n)))
    return BarBatch.from_arrays(
        InstrumentId("sim", "BTC/USDT"), Timeframe.parse("1m"),
        ts=1_700_000_000_000_000_000 // MINUTE * MINUTE + np.arange(n, dtype=np.int64) * MINUTE,
        open=open_, high=high, low=low, close=close, volume=rng.lognormal(3, 0.5, n),
    )  # fmt: skip


def bench_batch(batch: BarBatch, repeat: int) -> dict[str, Any]:
    pipeline = default_pipeline()
    pipeline.compute(batch.slice(0, 1000))  # compile / load the kernels
    seconds = _median_seconds(lambda: pipeline.compute(batch), repeat)
    cpu = _median_seconds(lambda: pipeline.compute(batch), repeat, clock="cpu")
    return {
        "bars": len(batch),
        "features": len(pipeline),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bars_per_second": len(batch) / seconds,
        "goal_seconds_per_1m_bars": 2.0,
        "goal_met": seconds * 1_000_000 / len(batch) < 2.0,
        "goal_met_cpu": cpu * 1_000_000 / len(batch) < 2.0,
    }


def bench_incremental(batch: BarBatch, n_updates: int, repeat: int) -> dict[str, Any]:
    pipeline = default_pipeline()
    bars = [batch.bar(i) for i in range(min(n_updates, len(batch)))]
    pipeline.incremental().update(bars[0])  # compile / load the kernel

    def run() -> None:
        stepper = pipeline.incremental()
        update = stepper.update
        for bar in bars:
            update(bar)

    per_bar = _median_seconds(run, repeat) / len(bars)
    cpu_per_bar = _median_seconds(run, repeat, clock="cpu") / len(bars)
    return {
        "updates": len(bars),
        "features": len(pipeline),
        "microseconds_per_bar": per_bar * 1e6,
        "cpu_microseconds_per_bar": cpu_per_bar * 1e6,
        "goal_microseconds": 50.0,
        "goal_met": per_bar * 1e6 < 50.0,
    }


def bench_inference(batch: BarBatch, repeat: int) -> dict[str, Any]:
    pipeline = default_pipeline()
    train = batch.slice(0, min(len(batch), 50_000))
    frame = pipeline.compute(train)
    labels = LabelSpec(kind="sign").compute(train).target
    ok = frame.valid_rows() & np.isfinite(labels)
    x, y = frame.values[ok], labels[ok]
    vector = np.ascontiguousarray(frame.values[-1])
    out: dict[str, Any] = {}
    calls = 200
    for name, params in (("lightgbm", {"n_estimators": 100}), ("logistic", {})):
        model = create_model(name, "classification", params).fit(x, y)
        model.predict(vector)
        seconds = _median_seconds(lambda m=model: [m.predict(vector) for _ in range(calls)], repeat)
        out[name] = {"microseconds_per_prediction": seconds / calls * 1e6}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    batch = _bars(args.bars)
    result = {
        "load_average_1m": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "batch": bench_batch(batch, args.repeat),
        "incremental": bench_incremental(batch, args.updates, args.repeat),
        "inference": bench_inference(batch, args.repeat),
    }
    if args.json:
        print(json.dumps(result))
        return
    b, i = result["batch"], result["incremental"]
    print(f"machine:     {result['cpus']} cpus, load average {result['load_average_1m']:.1f}")
    print(
        f"batch:       {b['features']} features x {b['bars']:,} bars in {b['seconds']:.3f} s wall, "
        f"{b['cpu_seconds']:.3f} s cpu - goal < 2 s per 1 M bars: "
        f"{'met' if b['goal_met'] else 'NOT met'} (wall), "
        f"{'met' if b['goal_met_cpu'] else 'NOT met'} (cpu)"
    )
    print(
        f"incremental: {i['features']} features, {i['microseconds_per_bar']:.1f} µs per bar wall, "
        f"{i['cpu_microseconds_per_bar']:.1f} µs cpu (over {i['updates']:,} updates) - "
        f"goal < 50 µs: {'met' if i['goal_met'] else 'NOT met'}"
    )
    for name, figures in result["inference"].items():
        print(f"inference:   {name} single bar {figures['microseconds_per_prediction']:.0f} µs")


if __name__ == "__main__":
    main()
