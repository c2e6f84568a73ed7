"""Do a strategy's two forms agree? Run the event path and the fast path on the same bars.

``neo strategies check`` calls :func:`compare_paths`: both backtests with the same fill model,
then the fills and the round-trip trades side by side, with the first one that differs (the
place to look for the bar where ``on_bar`` and ``vector_targets`` disagree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.timestamps import iso_ns
from neo.domain.trade import Trade
from neo.engine.backtest import BacktestResult, run_backtest
from neo.execution.config import ExecutionConfig
from neo.strategies.base import Strategy

REL_TOLERANCE = 1e-9
"""Prices, quantities and equity agree when within this relative difference."""


@dataclass(frozen=True, slots=True)
class PathComparison:
    """What :func:`compare_paths` found; ``first_difference`` is None when the paths agree."""

    strategy: str
    params: dict[str, Any]
    event: dict[str, Any]
    fast: dict[str, Any]
    first_difference: dict[str, Any] | None

    @property
    def agree(self) -> bool:
        return self.first_difference is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "params": self.params,
            "agree": self.agree,
            "event": self.event,
            "fast": self.fast,
            "first_difference": self.first_difference,
        }


def compare_paths(
    strategy: Strategy,
    batches: Mapping[InstrumentId, BarBatch],
    *,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    execution: ExecutionConfig | None = None,
    predictions: Mapping[InstrumentId, FloatArray] | None = None,
) -> PathComparison:
    """Backtest ``strategy`` on both paths and compare trade for trade."""
    from neo.engine.fast import fast_backtest  # numba: loaded only when asked

    problem = strategy.fast_path_problem(len(batches))
    if problem:
        raise ConfigError(f"cannot compare the two forms: {problem}")
    config = execution or ExecutionConfig()
    event = run_backtest(
        strategy.clone(),
        batches,
        instruments=instruments,
        execution=config,
        predictions=predictions,
    )
    fast = fast_backtest(
        strategy.clone(),
        batches,
        instruments=instruments,
        execution=config,
        predictions=predictions,
    )
    return PathComparison(
        strategy.name,
        strategy.param_values(),
        _summary(event),
        _summary(fast),
        _first_difference(event, fast),
    )


def _summary(result: BacktestResult) -> dict[str, Any]:
    return {
        "fills": len(result.fills),
        "trades": len(result.trades),
        "final_equity": result.final_equity,
    }


def _first_difference(event: BacktestResult, fast: BacktestResult) -> dict[str, Any] | None:
    for n, (mine, theirs) in enumerate(zip(event.trades, fast.trades, strict=False)):
        if not _same_trade(mine, theirs):
            return {
                "kind": "trade",
                "index": n,
                "event": trade_dict(mine),
                "fast": trade_dict(theirs),
            }
    if len(event.trades) != len(fast.trades):
        n = min(len(event.trades), len(fast.trades))
        return {
            "kind": "trade",
            "index": n,
            "event": _nth(event.trades, n),
            "fast": _nth(fast.trades, n),
        }
    for n, (mine_fill, their_fill) in enumerate(zip(event.fills, fast.fills, strict=False)):
        same = (
            (mine_fill.ts, mine_fill.side, mine_fill.instrument)
            == (
                their_fill.ts,
                their_fill.side,
                their_fill.instrument,
            )
            and _close(mine_fill.quantity, their_fill.quantity)
            and _close(mine_fill.price, their_fill.price)
        )
        if not same:
            return {
                "kind": "fill",
                "index": n,
                "event": _fill_dict(mine_fill),
                "fast": _fill_dict(their_fill),
            }
    if len(event.fills) != len(fast.fills) or not _close(event.final_equity, fast.final_equity):
        return {
            "kind": "equity",
            "index": None,
            "event": {"fills": len(event.fills), "final_equity": event.final_equity},
            "fast": {"fills": len(fast.fills), "final_equity": fast.final_equity},
        }
    return None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=1e-12)


def _same_trade(a: Trade, b: Trade) -> bool:
    return (
        a.instrument == b.instrument
        and a.entry_ts == b.entry_ts
        and a.exit_ts == b.exit_ts
        and _close(a.quantity, b.quantity)
        and _close(a.entry_price, b.entry_price)
        and _close(a.exit_price, b.exit_price)
    )


def _nth(trades: Sequence[Trade], n: int) -> dict[str, Any] | None:
    return trade_dict(trades[n]) if n < len(trades) else None


def trade_dict(trade: Trade) -> dict[str, Any]:
    return {
        "instrument": str(trade.instrument),
        "quantity": trade.quantity,
        "entry": iso_ns(trade.entry_ts),
        "exit": iso_ns(trade.exit_ts),
        "entry_ts_ns": int(trade.entry_ts),
        "exit_ts_ns": int(trade.exit_ts),
        "entry_price": trade.entry_price,
        "exit_price": trade.exit_price,
        "pnl": trade.pnl,
    }


def _fill_dict(fill: Any) -> dict[str, Any]:
    return {
        "instrument": str(fill.instrument),
        "ts": iso_ns(fill.ts),
        "ts_ns": int(fill.ts),
        "side": str(fill.side),
        "quantity": fill.quantity,
        "price": fill.price,
    }
