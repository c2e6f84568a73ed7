"""No look-ahead: perturbing bars after t leaves every order (and fill) up to t unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from neo.domain.bar import BarBatch
from neo.engine.backtest import run_backtest
from neo.execution.config import ExecutionConfig
from neo.strategies import create_strategy
from tests.unit.engine.bars import perturb_after, walk

CASES: list[tuple[str, dict[str, Any]]] = [
    ("sma_cross", {"size": 2}),
    ("sma_cross", {"size": None}),
    ("ema_cross", {"fast": 5, "slow": 12, "size": 3}),
    ("rsi_reversion", {"period": 6, "lower": 35, "upper": 65}),
    ("hybrid", {"trend": 20, "vol_window": 30}),
    # sizing reads the account and data up to t only
    ("sma_cross", {"fast": 4, "slow": 9, "size": "fraction:0.5"}),
    ("rsi_reversion", {"period": 6, "lower": 35, "upper": 65, "size": "vol:0.3"}),
    ("rsi_reversion", {"period": 6, "lower": 35, "upper": 65, "size": "atr:0.01:3"}),
    ("hybrid", {"trend": 20, "vol_window": 30, "size": "kelly:0.5:0.6"}),
]


def _predictions(n: int, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).normal(0.0, 1.0, n)
    values[:15] = np.nan
    return values


def _orders_until(
    batch: BarBatch, name: str, params: dict[str, Any], preds: np.ndarray, t: int
) -> tuple[list[Any], list[Any], Any]:
    result = run_backtest(
        name,
        batch,
        params=params,
        predictions={batch.instrument: preds},
        execution=ExecutionConfig(fees_bps=5.0),
    )
    cutoff = int(batch.ts[t]) + batch.timeframe.nanos
    # an all-equity order placed at t is sized when it fills at t + 1: compare its intent only
    orders = [
        (o.side, o.type, o.created_ns, o.quantity if o.created_ns < cutoff else "at fill")
        for o in sorted(result.orders, key=lambda o: (o.created_ns, int(o.id.split("-")[1])))
        if o.created_ns <= cutoff
    ]
    fills = [(f.side, f.quantity, f.price, f.ts) for f in result.fills if f.ts <= batch.ts[t]]
    return orders, fills, result


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("t", [150, 333])
def test_orders_up_to_t_do_not_depend_on_later_bars(
    name: str, params: dict[str, Any], t: int
) -> None:
    batch = walk(500, seed=11)
    preds = _predictions(len(batch), 5)
    changed_preds = preds.copy()
    changed_preds[t + 1 :] = _predictions(len(batch), 6)[t + 1 :]
    before, fills_before, full = _orders_until(batch, name, params, preds, t)
    after, fills_after, other = _orders_until(
        perturb_after(batch, t), name, params, changed_preds, t
    )
    assert len(full.orders) > 0, "the strategy should trade on this data"
    assert before == after
    assert fills_before == fills_after
    assert len(before) > 0
    # the future was really different: the full runs differ
    assert full.final_equity != other.final_equity


@pytest.mark.parametrize(("name", "params"), CASES)
def test_vector_targets_are_causal(name: str, params: dict[str, Any]) -> None:
    batch = walk(400, seed=4)
    strategy = create_strategy(name, params)
    t = 200
    preds = _predictions(len(batch), 5)
    changed_preds = preds.copy()
    changed_preds[t + 1 :] = _predictions(len(batch), 6)[t + 1 :]
    first = strategy.vector_targets(batch, preds)
    second = strategy.vector_targets(perturb_after(batch, t), changed_preds)
    assert first is not None and second is not None
    np.testing.assert_array_equal(first[: t + 1], second[: t + 1])
    assert not np.array_equal(first, second, equal_nan=True), "the future should matter"
