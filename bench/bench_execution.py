"""How cheap is simulated execution per bar, per order round trip, and on the compiled fast path?

    .venv/bin/python bench/bench_execution.py [--bars 1000000] [--repeat 3]

Figures printed:

1. ``on_bar_open + update_price`` per bar with no working order (the hot loop's fixed cost),
   with the bare Python loop's own cost shown separately.
2. A market order round trip: build the Order, submit (submitted → accepted), fill at the next
   bar's open, book it in the ledger (position, cash, FIFO trade), events to a list.
3. An execution-only replay of the speed-run workload (seeded 1-minute random walk, SMA 10/20
   crossover precomputed, fixed 100 units, long/short reversal on every cross, fees on) through
   SimulatedBroker + Ledger + EquityRecorder, bar by bar in Python: the floor under the engine.
4. The fast path (numba kernel) on the same workload at 100 k and the full bar count: bars/s
   of the kernel, and the cost of then building the trade list; then the multi-instrument
   kernel with two instruments on one account.

Everything is seeded; timings are medians of ``--repeat`` runs in CPU time (the first kernel
call, which may compile, is reported separately in wall time); the replay shows wall and CPU.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from neo.domain import BarBatch, Event, Instrument, Order, Side, Timeframe
from neo.domain.order import next_order_id
from neo.execution import (
    EquityRecorder,
    ExecutionConfig,
    Ledger,
    SimulatedBroker,
    discard_events,
)
from neo.execution.fastpath import run_fast_path
from neo.execution.fastpath_multi import run_fast_path_many

MINUTE = 60 * 1_000_000_000
SPEC = Instrument.simple("BTC/USDT", lot_size=1.0, taker_fee=0.001, maker_fee=0.0005)
IID = SPEC.id
SIZE = 100.0


def random_walk(n: int, seed: int = 7) -> BarBatch:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.0005, n))
    return BarBatch.from_arrays(
        IID,
        Timeframe.parse("1m"),
        ts=np.arange(n, dtype=np.int64) * MINUTE,
        open=open_,
        high=np.maximum(open_, close) * (1 + spread),
        low=np.minimum(open_, close) * (1 - spread),
        close=close,
        volume=rng.uniform(10.0, 1000.0, n),
    )


def sma_cross_targets(close: Any, fast: int = 10, slow: int = 20) -> Any:
    """+SIZE / -SIZE on the bar the fast SMA crosses the slow one, NaN elsewhere."""
    csum = np.concatenate([[0.0], np.cumsum(close)])
    fast_ma = np.full(len(close), np.nan)
    slow_ma = np.full(len(close), np.nan)
    fast_ma[fast - 1 :] = (csum[fast:] - csum[:-fast]) / fast
    slow_ma[slow - 1 :] = (csum[slow:] - csum[:-slow]) / slow
    above = fast_ma > slow_ma
    targets = np.full(len(close), np.nan)
    cross = np.flatnonzero(above[1:] != above[:-1]) + 1
    cross = cross[cross >= slow]
    targets[cross] = np.where(above[cross], SIZE, -SIZE)
    return targets


def median_seconds(work: Callable[[], Any], repeat: int) -> float:
    """Median CPU seconds of ``work`` (CPU time, so a busy shared machine skews it less)."""
    timings = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    return statistics.median(timings)


def bench_idle_bar(n: int, repeat: int) -> None:
    ledger = Ledger(1e9, {IID: SPEC})
    broker = SimulatedBroker({IID: SPEC}, ExecutionConfig(), lambda e: None, ledger)
    on_bar_open, update_price = broker.on_bar_open, ledger.update_price

    def calls() -> None:
        for i in range(n):
            on_bar_open(IID, i, 1.0, 1.0, 1.0, 1.0, 1.0)
            update_price(IID, 1.0, i)

    def bare() -> None:
        for _ in range(n):
            pass

    total = median_seconds(calls, repeat) / n * 1e9
    loop = median_seconds(bare, repeat) / n * 1e9
    print(f"idle bar: on_bar_open + update_price = {total:.0f} ns/bar "
          f"(of which bare loop {loop:.0f} ns)")  # fmt: skip


def bench_round_trip(n: int, repeat: int) -> None:
    def work() -> None:
        events: list[Event] = []
        ledger = Ledger(1e12, {IID: SPEC})
        broker = SimulatedBroker({IID: SPEC}, ExecutionConfig(), events.append, ledger)
        for i in range(n):
            side = Side.BUY if i % 2 == 0 else Side.SELL
            quantity = SIZE if i == 0 else 2 * SIZE
            broker.submit(Order(id=next_order_id(), instrument=IID, side=side, quantity=quantity))
            broker.on_bar_open(IID, i * MINUTE, 100.0, 101.0, 99.0, 100.0, 1000.0)
            ledger.update_price(IID, 100.0, i * MINUTE)

    per = median_seconds(work, repeat) / n * 1e6
    print(f"market order round trip (create, submit, accept, fill, ledger, trade): {per:.1f} µs")


def replay(batch: BarBatch, targets: Any, keep_events: bool) -> tuple[Ledger, Any]:
    """The speed-run workload, bar by bar through broker + ledger + recorder."""
    ledger = Ledger(1e9, {IID: SPEC})
    events: list[Event] = []
    sink = events.append if keep_events else discard_events
    broker = SimulatedBroker({IID: SPEC}, ExecutionConfig(cash=1e9), sink, ledger)
    recorder = EquityRecorder([IID])
    on_bar_open, update_price, submit = broker.on_bar_open, ledger.update_price, broker.submit
    record, position = recorder.record, ledger.position
    chunk = 65_536  # Python floats for a chunk at a time: memory stays flat at any length
    for start in range(0, len(batch), chunk):
        part = batch.slice(start, start + chunk)
        wanted = targets[start : start + chunk].tolist()
        columns = (x.tolist() for x in part.columns().values())
        for ts, o, h, lo, c, v, target in zip(*columns, wanted, strict=True):
            on_bar_open(IID, ts, o, h, lo, c, v)
            update_price(IID, c, ts)
            if target == target:
                held = position(IID)
                if target != held:
                    delta = target - held
                    side = Side.BUY if delta > 0 else Side.SELL
                    order = Order(
                        id=next_order_id(), instrument=IID, side=side, quantity=abs(delta)
                    )
                    submit(order)
            record(ts, ledger.equity, ledger.cash, (position(IID),))
    return ledger, recorder.arrays()


def bench_replay(batch: BarBatch, targets: Any, keep_events: bool) -> None:
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    ledger, curve = replay(batch, targets, keep_events)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    n = len(batch)
    kept = "all events kept" if keep_events else "events dropped"
    print(f"event-path replay ({kept}), {n:,} bars, {ledger.fill_count:,} fills, "
          f"{ledger.trade_count:,} trades: {n / elapsed:,.0f} bars/s wall ({elapsed:.2f} s), "
          f"{n / cpu:,.0f} bars/s CPU (final equity {curve.equity[-1]:,.2f})")  # fmt: skip


def bench_fast_path(batch: BarBatch, targets: Any, repeat: int) -> None:
    config = ExecutionConfig(cash=1e9)
    started = time.perf_counter()
    result = run_fast_path(batch, targets, SPEC, config)
    first = time.perf_counter() - started
    seconds = median_seconds(lambda: run_fast_path(batch, targets, SPEC, config), repeat)
    started = time.perf_counter()
    trades = result.trades()
    trade_seconds = time.perf_counter() - started
    n = len(batch)
    print(f"fast path, {n:,} bars: {n / seconds / 1e6:,.1f} M bars/s "
          f"({seconds * 1e3:.2f} ms; first call incl. load/compile {first:.2f} s); "
          f"{len(trades):,} trades built in {trade_seconds * 1e3:.0f} ms")  # fmt: skip


def bench_fast_path_many(batch: BarBatch, targets: Any, repeat: int) -> None:
    """Two instruments on one account (the second a copy of the first under another name)."""
    other = Instrument.simple("ETH/USDT", lot_size=1.0, taker_fee=0.001)
    columns = {name: getattr(batch, name) for name in ("ts", "open", "high", "low", "close")}
    twin = BarBatch.from_arrays(other.id, batch.timeframe, volume=batch.volume, **columns)
    batches, wanted = {IID: batch, other.id: twin}, {IID: targets, other.id: -targets}
    specs, config = {IID: SPEC, other.id: other}, ExecutionConfig(cash=1e9)
    run_fast_path_many(batches, wanted, specs, config)  # load / compile
    seconds = median_seconds(lambda: run_fast_path_many(batches, wanted, specs, config), repeat)
    n = len(batch)
    rate = 2 * n / seconds / 1e6
    print(f"fast path, 2 instruments x {n:,} bars: {rate:,.1f} M instrument-bars/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bench_idle_bar(200_000, args.repeat)
    bench_round_trip(20_000, args.repeat)
    full = random_walk(args.bars)
    full_targets = sma_cross_targets(np.asarray(full.close))
    for n in sorted({100_000, args.bars}):
        batch, targets = full.slice(0, n), full_targets[:n]
        bench_fast_path(batch, targets, args.repeat)
    bench_fast_path_many(full, full_targets, args.repeat)
    for keep_events in (False, True):
        for n in sorted({100_000, args.bars}):
            bench_replay(full.slice(0, n), full_targets[:n], keep_events)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this whole benchmark process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
