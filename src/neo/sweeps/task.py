"""One unit of sweep work and the function every backend runs on it.

A :class:`Task` is a chunk of configurations on one symbol's walk-forward window; the worker
runs each configuration through the same engines as ``neo backtest`` (the compiled fast path
when the strategy has a vector form, the event loop otherwise) and returns one row of figures
per configuration. Market data reaches a worker once, never with each task: from Ray's object
store, or read from the Parquet store by the worker process itself and kept for the next task.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neo.domain.bar import BarBatch, FloatArray, IntArray
from neo.domain.errors import DataError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.execution.config import ExecutionConfig
from neo.sweeps.segments import WindowStats, annualised_sharpe, window_stats
from neo.sweeps.vector import IndicatorCache
from neo.sweeps.windows import Window, walk_forward

Bars = Mapping[InstrumentId, BarBatch]


@dataclass(frozen=True, slots=True)
class StoreData:
    """Where a worker reads the bars itself: the Parquet store under ``root``."""

    root: Path
    timeframe: str
    start_ns: int | None
    end_ns: int | None

    def load(self, instruments: Sequence[InstrumentId]) -> dict[InstrumentId, BarBatch]:
        from neo.data.store import HistoricalDataStore

        store = HistoricalDataStore(self.root)
        try:
            return store.read_many(list(instruments), self.timeframe, self.start_ns, self.end_ns)
        finally:
            store.close()


@dataclass(frozen=True, slots=True)
class SweepJob:
    """What every task of one sweep shares (small: it travels with each task)."""

    run_id: str
    strategy: str
    instruments: tuple[Instrument, ...]
    windows: int
    train_frac: float
    execution: ExecutionConfig
    engine: str
    periods_per_year: float
    blocks: int = 16
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    """Configurations ``(config_id, params)`` to run on one symbol's window."""

    task_id: int
    symbol: int
    window: int
    configs: tuple[tuple[int, dict[str, Any]], ...]


class _ProcessState:
    """What a worker process keeps between tasks of the same sweep (and drops for the next):
    its bars and its indicator cache. Tasks of one sweep run one after another per process."""

    def __init__(self) -> None:
        self.run_id = ""
        self.bars: dict[InstrumentId, BarBatch] = {}
        self.cache = IndicatorCache()

    def enter(self, run_id: str) -> None:
        if run_id != self.run_id:
            self.run_id = run_id
            self.bars = {}
            self.cache.clear()


_STATE = _ProcessState()


def run_task(job: SweepJob, data: StoreData | Bars, task: Task) -> list[dict[str, Any]]:
    """Every configuration of ``task`` backtested on its window; one row each."""
    _STATE.enter(job.run_id)
    spec = job.instruments[task.symbol]
    batch = _bars_of(job, data, spec.id)
    window = walk_forward(len(batch), job.windows, job.train_frac)[task.window]
    part = batch.slice(window.start, window.stop)
    rows = []
    for config_id, params in task.configs:
        equity, fill_ts = _backtest(job, part, spec, params, (task.symbol, task.window))
        rows.append(_row(job, task, window, part, config_id, params, equity, fill_ts))
    return rows


def _bars_of(job: SweepJob, data: StoreData | Bars, iid: InstrumentId) -> BarBatch:
    if not isinstance(data, StoreData):
        return data[iid]
    if iid not in _STATE.bars:
        _STATE.bars.update(data.load([i.id for i in job.instruments]))
    batch = _STATE.bars[iid]
    if len(batch) == 0:
        raise DataError(f"no bars for {iid} in the selected range: ingest or widen --start")
    return batch


def _backtest(
    job: SweepJob,
    part: BarBatch,
    spec: Instrument,
    params: Mapping[str, Any],
    window_key: tuple[int, int],
) -> tuple[FloatArray, IntArray]:
    """Equity per bar and fill timestamps of one configuration on one window."""
    from neo.strategies.registry import create_strategy

    strategy = create_strategy(job.strategy, {**job.fixed, **params})
    if job.engine == "fast":
        from neo.execution.fastpath import run_fast_path
        from neo.sweeps.vector import sweep_targets

        targets = sweep_targets(strategy, part, spec, _STATE.cache, window_key)
        fraction = strategy.sizing.fill_fraction
        fast = run_fast_path(part, targets, spec, job.execution, equity_fraction=fraction)
        return fast.equity, fast.fill_ts
    from neo.engine.backtest import run_backtest

    result = run_backtest(strategy, part, instruments={spec.id: spec}, execution=job.execution)
    return result.equity, np.array([f.ts for f in result.fills], dtype=np.int64)


def _row(
    job: SweepJob,
    task: Task,
    window: Window,
    part: BarBatch,
    config_id: int,
    params: Mapping[str, Any],
    equity: FloatArray,
    fill_ts: IntArray,
) -> dict[str, Any]:
    split = window.split - window.start
    stats: WindowStats = window_stats(equity, job.execution.cash, split, job.blocks)
    inside, outside = stats.in_sample, stats.out_of_sample
    test_start = int(part.ts[split])
    return {
        "config_id": config_id,
        "params": json.dumps(dict(params), sort_keys=True),
        "symbol": str(job.instruments[task.symbol].id),
        "window": task.window,
        "engine": job.engine,
        "train_start_ts": int(part.ts[0]),
        "test_start_ts": test_start,
        "test_end_ts": int(part.ts[-1]),
        "is_bars": inside.n,
        "oos_bars": outside.n,
        "is_return": inside.total_return,
        "oos_return": outside.total_return,
        "is_sharpe": annualised_sharpe(inside, job.periods_per_year),
        "oos_sharpe": annualised_sharpe(outside, job.periods_per_year),
        "is_max_drawdown": inside.max_drawdown,
        "oos_max_drawdown": outside.max_drawdown,
        "is_fills": int(np.count_nonzero(fill_ts < test_start)),
        "oos_fills": int(np.count_nonzero(fill_ts >= test_start)),
        "final_equity": float(equity[-1]),
        "is_s1": inside.s1,
        "is_s2": inside.s2,
        "is_s3": inside.s3,
        "is_s4": inside.s4,
        "block_n": stats.block_n.tolist(),
        "block_sum": stats.block_sum.tolist(),
        "block_sumsq": stats.block_sumsq.tolist(),
    }
