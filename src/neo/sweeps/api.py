"""Run a sweep: every configuration × symbol × walk-forward window, on one backend.

:func:`run_sweep` is what ``neo sweep`` calls: it checks the request before any work (strategy,
grid, data, windows), reads the bars once, starts the backend, runs the grid (or an Optuna
search whose objective is the in-sample Sharpe ratio alone), writes the one Parquet table and
analyses it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neo.domain.bar import BarBatch
from neo.domain.errors import ConfigError, DataError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.timeframe import Timeframe
from neo.execution.config import ExecutionConfig
from neo.sweeps.analysis import SweepAnalysis, analyse, load_results
from neo.sweeps.backends import (
    DEFAULT_OBJECT_STORE_BYTES,
    Backend,
    PoolBackend,
    RayBackend,
    SerialBackend,
    TaskFn,
    resolve_backend,
)
from neo.sweeps.grid import Axis, expand, strategy_class
from neo.sweeps.results import ResultWriter, result_schema
from neo.sweeps.runner import DEFAULT_RETRIES, RunStats, SweepRunner, chunk_size, make_tasks
from neo.sweeps.task import StoreData, SweepJob, run_task
from neo.sweeps.windows import check_windows, walk_forward

ENGINES = ("auto", "fast", "event")


@dataclass(frozen=True, slots=True)
class SweepRequest:
    """Everything a sweep needs; ``grid`` axes come from :func:`neo.sweeps.grid.parse_grid`."""

    strategy: str
    grid: Sequence[Axis]
    instruments: Sequence[Instrument]
    timeframe: Timeframe
    store_root: Path
    out: Path
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    windows: int = 1
    train_frac: float = 0.7
    engine: str = "auto"
    backend: str = "pool"
    workers: int | None = None
    address: str | None = None
    optuna_trials: int | None = None
    seed: int = 42
    retries: int = DEFAULT_RETRIES
    chunk: int | None = None
    object_store_bytes: int = DEFAULT_OBJECT_STORE_BYTES


@dataclass(frozen=True, slots=True)
class SweepResult:
    path: Path
    backend: str
    engine: str
    workers: int
    configs: int
    refused: int
    stats: RunStats
    analysis: SweepAnalysis


def run_sweep(
    request: SweepRequest,
    *,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    task_fn: TaskFn = run_task,
) -> SweepResult:
    """Run ``request``; ``on_total`` learns the number of backtests before they start and
    ``progress`` is called with the number finished as each task completes."""
    cls = strategy_class(request.strategy)
    check_windows(request.windows, request.train_frac)
    engine = _engine_of(request)
    configs, refused = _configs(request, cls)
    batches = _read_bars(request)
    job = SweepJob(
        run_id=uuid.uuid4().hex,
        strategy=request.strategy,
        instruments=tuple(request.instruments),
        windows=request.windows,
        train_frac=request.train_frac,
        execution=request.execution,
        engine=engine,
        periods_per_year=_periods_per_year(batches, request.timeframe),
        fixed=dict(request.fixed),
    )
    backend_name = resolve_backend(request.backend, request.address)
    workers = max(1, request.workers or os.cpu_count() or 1)
    backend = _backend(backend_name, request, job, batches, workers, task_fn)
    writer = ResultWriter(request.out, result_schema(cls.params))
    runner = SweepRunner(
        backend,
        writer,
        retries=request.retries,
        progress=progress,
        symbols=[str(i.id) for i in request.instruments],
    )
    try:
        if request.optuna_trials:
            from neo.sweeps.search import optuna_search

            stats = optuna_search(request, cls, runner, backend.workers, on_total)
        else:
            stats = _run_grid(request, configs, runner, backend.workers, engine, on_total)
    finally:
        backend.close()
        path = writer.finish()
    return SweepResult(
        path=path,
        backend=backend_name,
        engine=engine,
        workers=backend.workers,
        configs=stats.configs if request.optuna_trials else len(configs),
        refused=refused,
        stats=stats,
        analysis=analyse(load_results(path)),
    )


def _run_grid(
    request: SweepRequest,
    configs: list[dict[str, Any]],
    runner: SweepRunner,
    workers: int,
    engine: str,
    on_total: Callable[[int], None] | None,
) -> RunStats:
    chunk = request.chunk or chunk_size(len(configs), workers, engine)
    numbered = list(enumerate(configs))
    tasks = make_tasks(numbered, len(request.instruments), request.windows, chunk)
    if on_total is not None:
        on_total(len(configs) * len(request.instruments) * request.windows)
    stats = runner.run(tasks)
    stats.configs = len(configs)
    return stats


def _engine_of(request: SweepRequest) -> str:
    from neo.engine.backtest import has_vector_form
    from neo.strategies.registry import create_strategy

    if request.engine not in ENGINES:
        raise ConfigError(f"unknown --engine {request.engine!r}: use {', '.join(ENGINES)}")
    probe = create_strategy(request.strategy, _probe_params(request))
    if probe.needs_predictions:
        raise ConfigError(
            f"{probe.name} trades on model forecasts: sweeps run strategies without a model "
            "(choose sma_cross, ema_cross or rsi_reversion)"
        )
    vector = has_vector_form(probe)
    if request.engine == "fast" and not vector:
        raise ConfigError(f"{probe.name} has no vector form: use --engine event")
    if request.engine == "auto":
        return "fast" if vector else "event"
    return request.engine


def _probe_params(request: SweepRequest) -> dict[str, Any]:
    """A valid parameter set to inspect the strategy with: the fixed ones and first values."""
    from neo.sweeps.grid import is_valid

    cls = strategy_class(request.strategy)
    if not request.grid:
        return dict(request.fixed)
    import itertools

    for values in itertools.islice(itertools.product(*(a.values for a in request.grid)), 10_000):
        params = {**request.fixed, **{a.name: v for a, v in zip(request.grid, values, strict=True)}}
        if is_valid(cls, params):
            return params
    return dict(request.fixed)


def _configs(request: SweepRequest, cls: Any) -> tuple[list[dict[str, Any]], int]:
    if request.optuna_trials is not None:
        if request.optuna_trials < 1:
            raise ConfigError(f"--optuna needs at least 1 trial, got {request.optuna_trials}")
        if not request.grid:
            raise ConfigError("--optuna searches the --grid space: give at least one --grid")
        return [], 0
    if not request.grid:
        raise ConfigError("give at least one --grid name=v1,v2 (or --optuna N with --grid)")
    return expand(request.grid, cls, request.fixed)


def _read_bars(request: SweepRequest) -> dict[InstrumentId, BarBatch]:
    from neo.data.store import HistoricalDataStore

    if not request.instruments:
        raise ConfigError("select what to sweep with --symbols A,B or --symbol A")
    store = HistoricalDataStore(request.store_root)
    try:
        batches = store.read_many(
            [i.id for i in request.instruments],
            request.timeframe,
            request.start_ns,
            request.end_ns,
        )
    finally:
        store.close()
    for iid, batch in batches.items():
        if len(batch) == 0:
            raise DataError(f"no bars for {iid} in the selected range: ingest or widen --start")
        walk_forward(len(batch), request.windows, request.train_frac)
    return batches


def _periods_per_year(batches: Mapping[InstrumentId, BarBatch], frame: Timeframe) -> float:
    from neo.analytics import observed_periods_per_year

    first = next(iter(batches.values()))
    return observed_periods_per_year(first.ts, frame.periods_per_year)


def _backend(
    name: str,
    request: SweepRequest,
    job: SweepJob,
    batches: dict[InstrumentId, BarBatch],
    workers: int,
    task_fn: TaskFn,
) -> Backend:
    if name == "serial":
        return SerialBackend(job, batches, task_fn)
    if name == "pool":
        data = StoreData(request.store_root, str(request.timeframe), request.start_ns,
                         request.end_ns)  # fmt: skip
        return PoolBackend(job, data, workers, task_fn)
    return RayBackend(
        job,
        batches,
        workers,
        address=request.address,
        object_store_bytes=request.object_store_bytes,
        task_fn=task_fn,
    )
