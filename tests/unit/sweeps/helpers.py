"""A stored two-symbol market and sweep requests over it, shared by the sweep tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from neo.data.store import HistoricalDataStore
from neo.domain import BarBatch, Timeframe
from neo.engine.instruments import default_instrument
from neo.execution.config import ExecutionConfig
from neo.sweeps.api import SweepRequest
from neo.sweeps.grid import parse_grid, strategy_class
from neo.sweeps.task import SweepJob, Task, run_task
from tests.unit.engine.bars import walk

BARS = 1500
MINUTE = Timeframe.parse("1m")


def market() -> list[BarBatch]:
    return [walk(BARS, seed=5, symbol="BTC/USDT"), walk(BARS, seed=6, symbol="ETH/USDT")]


def store_market(root: Path, batches: list[BarBatch] | None = None) -> list[BarBatch]:
    batches = batches or market()
    store = HistoricalDataStore(root)
    for batch in batches:
        store.write(batch)
    store.close()
    return batches


def request(root: Path, out: Path, **changes: Any) -> SweepRequest:
    strategy = changes.pop("strategy", "sma_cross")
    grid = changes.pop("grid", ["fast=5,10", "slow=20:40:10"])
    base = SweepRequest(
        strategy=strategy,
        grid=parse_grid(grid, strategy_class(strategy)),
        fixed={"size": 2.0} if strategy == "sma_cross" else {},
        instruments=[default_instrument(b.instrument) for b in market()],
        timeframe=MINUTE,
        store_root=root,
        out=out,
        execution=ExecutionConfig(fees_bps=10.0),
        windows=3,
        backend="serial",
        workers=2,
    )
    return replace(base, **changes)


def frame(path: Path) -> pd.DataFrame:
    table: pd.DataFrame = pd.read_parquet(path)
    return table.drop(columns=["attempts"]).reset_index(drop=True)


def fail_once(marker: Path, job: SweepJob, data: Any, task: Task) -> list[dict[str, Any]]:
    """Fails the first time task 1 runs (anywhere: the marker is a file), then works."""
    if task.task_id == 1 and not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("injected fault")
    return run_task(job, data, task)


def always_fail(job: SweepJob, data: Any, task: Task) -> list[dict[str, Any]]:
    if task.task_id == 0:
        raise RuntimeError("broken for good")
    return run_task(job, data, task)
