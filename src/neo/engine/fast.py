"""The compiled fast path for strategies whose decisions are known up front.

A strategy that can state its target position for every bar as an array
(:meth:`~neo.strategies.base.Strategy.vector_targets`: vectorised indicators, walk-forward
predictions) skips the event loop: its targets go through EXECUTION's numba kernel, which applies
the same fill model and accounting as the simulated broker and ledger, so trades, fills and
equity match the event-driven backtest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import StrategyError
from neo.domain.instrument import Instrument
from neo.engine.instruments import default_instrument
from neo.execution.config import ExecutionConfig
from neo.execution.fastpath import FastPathResult, run_fast_path
from neo.strategies.base import Strategy
from neo.strategies.registry import create_strategy


def strategy_targets(strategy: Strategy, batch: BarBatch, instrument: Instrument) -> FloatArray:
    """The strategy's per-bar targets rounded down to the instrument's lot size (NaN = keep)."""
    raw = strategy.vector_targets(np.asarray(batch.close, dtype=np.float64))
    if raw is None:
        raise StrategyError(
            f"strategy {strategy.name!r} with {strategy.param_values()} has no precomputed "
            "targets (e.g. size=none sizes at fill time): run it on the event path instead"
        )
    lot = instrument.lot_size
    steps = np.floor(np.abs(raw) / lot * (1.0 + 1e-12))
    targets: FloatArray = np.where(np.isnan(raw), np.nan, np.copysign(steps * lot, raw))
    return targets


def run_fast(
    strategy: Strategy | str,
    batch: BarBatch,
    *,
    params: Mapping[str, Any] | None = None,
    instrument: Instrument | None = None,
    execution: ExecutionConfig | None = None,
) -> FastPathResult:
    """Backtest ``strategy`` on one instrument through the compiled kernel."""
    if isinstance(strategy, str):
        strategy = create_strategy(strategy, params)
    spec = instrument or default_instrument(batch.instrument)
    targets = strategy_targets(strategy, batch, spec)
    return run_fast_path(batch, targets, spec, execution or ExecutionConfig())
