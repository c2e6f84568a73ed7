"""``--optuna N``: a guided search over the ``--grid`` space instead of the whole product.

Optuna (TPE, seeded) proposes configurations in batches of twice the workers, so the backend
stays busy; each configuration runs on every symbol and window like a grid point, and Optuna
is told its mean **in-sample** Sharpe ratio only — the test windows never steer the search.
A range axis (``fast=5:50:5``) is an interval with its step, a list axis a categorical
choice. A proposal the strategy refuses (``fast >= slow``) is told as failed; a repeated one
reuses the figures already computed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from neo.strategies.base import Strategy
from neo.sweeps.grid import Axis, full_params
from neo.sweeps.runner import RunStats, SweepRunner, chunk_size, make_tasks

if TYPE_CHECKING:
    from neo.sweeps.api import SweepRequest


def suggest(trial: Any, axes: Sequence[Axis]) -> dict[str, Any]:
    """One proposal from ``trial`` over ``axes``."""
    out: dict[str, Any] = {}
    for axis in axes:
        if axis.is_range and isinstance(axis.values[0], int):
            out[axis.name] = trial.suggest_int(
                axis.name, int(axis.low or 0), int(axis.high or 0), step=int(axis.step or 1)
            )
        elif axis.is_range:
            low, high, step = float(axis.low or 0), float(axis.high or 0), axis.step
            high = low + math.floor((high - low) / float(step or 1) + 1e-9) * float(step or 1)
            out[axis.name] = trial.suggest_float(axis.name, low, high, step=step)
        else:
            out[axis.name] = trial.suggest_categorical(axis.name, list(axis.values))
    return out


class _Scores:
    """In-sample Sharpe ratios per configuration as rows arrive (and which ones failed)."""

    def __init__(self) -> None:
        self.values: dict[int, list[float]] = {}
        self.failed: set[int] = set()

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            cid = int(row["config_id"])
            if row.get("error") is not None:
                self.failed.add(cid)
            else:
                self.values.setdefault(cid, []).append(float(row["is_sharpe"]))

    def objective(self, cid: int) -> float | None:
        values = np.asarray(self.values.get(cid, []), dtype=np.float64)
        if cid in self.failed or not np.isfinite(values).any():
            return None
        return float(np.nanmean(values))


def optuna_search(
    request: SweepRequest,
    cls: type[Strategy],
    runner: SweepRunner,
    workers: int,
    on_total: Callable[[int], None] | None,
) -> RunStats:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=request.seed)
    )
    runs_per_config = len(request.instruments) * request.windows
    trials_total = int(request.optuna_trials or 0)
    if on_total is not None:
        on_total(trials_total * runs_per_config)
    scores = _Scores()
    runner.on_rows = scores
    seen: dict[str, int] = {}
    stats = RunStats()
    batch = max(1, 2 * workers)
    asked = 0
    while asked < trials_total and not stats.interrupted:
        trials = [study.ask() for _ in range(min(batch, trials_total - asked))]
        asked += len(trials)
        fresh: list[tuple[int, dict[str, Any]]] = []
        assigned: list[tuple[Any, int | None]] = []
        for trial in trials:
            params = full_params(cls, {**request.fixed, **suggest(trial, request.grid)})
            key = json.dumps(params, sort_keys=True)
            if params is None:
                assigned.append((trial, None))
            elif key in seen:
                assigned.append((trial, seen[key]))
            else:
                seen[key] = len(seen)
                fresh.append((seen[key], params))
                assigned.append((trial, seen[key]))
        skipped = len(trials) - len(fresh)
        if skipped and runner.progress is not None:
            runner.progress(skipped * runs_per_config)
        chunk = request.chunk or chunk_size(max(1, len(fresh)), workers, "fast")
        tasks = make_tasks(fresh, len(request.instruments), request.windows, chunk, stats.tasks)
        stats.merge(runner.run(tasks))
        for trial, cid in assigned:
            value = None if cid is None else scores.objective(cid)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
    stats.configs = len(seen)
    return stats
