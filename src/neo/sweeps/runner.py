"""The sweep driver: tasks out, rows in; retries, progress and incremental results.

Backends only run tasks; this module decides what runs. A task that fails is resubmitted up to
``retries`` times (logged); one that still fails is written as rows with its ``error`` and
reported, never dropped. Every finished task's rows are written at once, so Ctrl-C stops the
sweep, cancels what had not finished and still leaves a table of everything that had.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neo.logs import get_logger
from neo.sweeps.backends import Backend
from neo.sweeps.grid import work_order
from neo.sweeps.results import ResultWriter
from neo.sweeps.task import Task

log = get_logger("sweeps")

DEFAULT_RETRIES = 2
MAX_FAST_CHUNK = 128
MAX_EVENT_CHUNK = 4


@dataclass(slots=True)
class RunStats:
    """What a run did: backtests finished, tasks retried or failed, whether it was stopped."""

    tasks: int = 0
    backtests: int = 0
    configs: int = 0
    retried: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def merge(self, other: RunStats) -> None:
        self.tasks += other.tasks
        self.configs += other.configs
        self.backtests += other.backtests
        self.retried.extend(other.retried)
        self.failed.extend(other.failed)
        self.interrupted = self.interrupted or other.interrupted
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds


def chunk_size(configs: int, workers: int, engine: str) -> int:
    """Configurations per task: enough tasks to keep every worker busy to the end (about four
    per worker per window), few enough that each task's overhead is small."""
    cap = MAX_FAST_CHUNK if engine == "fast" else MAX_EVENT_CHUNK
    return max(1, min(cap, math.ceil(configs / (4 * max(1, workers)))))


def make_tasks(
    configs: Sequence[tuple[int, dict[str, Any]]],
    symbols: int,
    windows: int,
    chunk: int,
    first_id: int = 0,
) -> list[Task]:
    """Chunks of configurations (in :func:`work_order`, so neighbours share indicators) for
    every symbol and window."""
    order = work_order([params for _, params in configs])
    ordered = [configs[i] for i in order]
    tasks: list[Task] = []
    for symbol in range(symbols):
        for window in range(windows):
            for start in range(0, len(ordered), chunk):
                part = tuple(ordered[start : start + chunk])
                tasks.append(Task(first_id + len(tasks), symbol, window, part))
    return tasks


Progress = Callable[[int], None]


class SweepRunner:
    """Runs tasks on a backend and writes their rows through ``writer``."""

    def __init__(
        self,
        backend: Backend,
        writer: ResultWriter,
        *,
        retries: int = DEFAULT_RETRIES,
        progress: Progress | None = None,
        on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
        symbols: Sequence[str] = (),
    ) -> None:
        self.symbols = list(symbols)
        self.backend = backend
        self.writer = writer
        self.retries = retries
        self.progress = progress
        self.on_rows = on_rows

    def run(self, tasks: Sequence[Task]) -> RunStats:
        stats = RunStats(tasks=len(tasks))
        started = time.perf_counter()
        pending: dict[Any, tuple[Task, int]] = {}
        try:
            for task in tasks:
                pending[self.backend.submit(task)] = (task, 1)
            while pending:
                for handle, outcome in self.backend.finished(list(pending)):
                    task, attempt = pending.pop(handle)
                    stats.cpu_seconds += outcome.cpu_seconds
                    if outcome.rows is None and attempt <= self.retries:
                        log.warning(
                            "sweep task failed, retrying",
                            extra={"task": task.task_id, "attempt": attempt,
                                   "error": outcome.error},
                        )  # fmt: skip
                        stats.retried.append(_report(task, attempt, outcome.error))
                        pending[self.backend.submit(task)] = (task, attempt + 1)
                        continue
                    self._record(task, attempt, outcome.rows, outcome.error, stats)
        except KeyboardInterrupt:
            stats.interrupted = True
            self.backend.cancel(list(pending))
            log.warning("sweep interrupted: keeping finished results", extra={
                "unfinished_tasks": len(pending)})  # fmt: skip
        stats.seconds = time.perf_counter() - started
        return stats

    def _record(
        self,
        task: Task,
        attempt: int,
        rows: list[dict[str, Any]] | None,
        error: str | None,
        stats: RunStats,
    ) -> None:
        if rows is None:
            stats.failed.append(_report(task, attempt, error))
            rows = [{"config_id": cid, "params": params} for cid, params in task.configs]
            symbol = self.symbols[task.symbol] if self.symbols else str(task.symbol)
            rows = [{**r, "symbol": symbol, "window": task.window, "error": error} for r in rows]
        params = dict(task.configs)
        complete = [_complete(row, params[row["config_id"]], attempt) for row in rows]
        self.writer.append(complete)
        stats.backtests += len(complete)
        if self.on_rows is not None:
            self.on_rows(complete)
        if self.progress is not None:
            self.progress(len(complete))


def _complete(row: Mapping[str, Any], params: Mapping[str, Any], attempt: int) -> dict[str, Any]:
    import json

    out = dict(row)
    out["attempts"] = attempt
    if not isinstance(out.get("params"), str):
        out["params"] = json.dumps(dict(params), sort_keys=True)
    for name, value in params.items():
        out[f"p_{name}"] = value
    return out


def _report(task: Task, attempt: int, error: str | None) -> dict[str, Any]:
    return {
        "task": task.task_id,
        "symbol": task.symbol,
        "window": task.window,
        "configs": len(task.configs),
        "attempt": attempt,
        "error": error,
    }
