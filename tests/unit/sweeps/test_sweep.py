"""Sweeps end to end: figures equal to `neo backtest`'s engines, identical backends, retries,
failures kept, interrupts keeping finished rows, no look-ahead into test windows."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neo.domain import BarBatch
from neo.domain.errors import ConfigError, DataError, StrategyError
from neo.engine.backtest import run_backtest
from neo.engine.fast import fast_backtest
from neo.execution.config import ExecutionConfig
from neo.strategies.registry import create_strategy
from neo.sweeps.api import run_sweep
from neo.sweeps.windows import walk_forward
from tests.unit.engine.bars import perturb_after
from tests.unit.sweeps.helpers import (
    always_fail,
    fail_once,
    frame,
    market,
    request,
    store_market,
)

PERIODS = 365.0 * 1440


def _expected(batch: BarBatch, window: int, params: dict[str, float], engine: str) -> dict:
    """One row's figures straight from the backtest engines and numpy."""
    w = walk_forward(len(batch), 3, 0.7)[window]
    part = batch.slice(w.start, w.stop)
    config = ExecutionConfig(fees_bps=10.0)
    strategy = create_strategy("sma_cross", params)
    result = (
        fast_backtest(strategy, part, execution=config)
        if engine == "fast"
        else run_backtest(strategy, part, execution=config)
    )
    equity = result.equity
    split = w.split - w.start
    returns = equity / np.concatenate(([config.cash], equity[:-1])) - 1.0
    inside, outside = returns[:split], returns[split:]
    peak = np.maximum.accumulate(np.concatenate(([config.cash], equity[:split])))[1:]
    fill_ts = np.array([f.ts for f in result.fills])
    return {
        "is_return": equity[split - 1] / config.cash - 1,
        "oos_return": equity[-1] / equity[split - 1] - 1,
        "is_sharpe": inside.mean() / inside.std(ddof=1) * math.sqrt(PERIODS),
        "oos_sharpe": outside.mean() / outside.std(ddof=1) * math.sqrt(PERIODS),
        "is_max_drawdown": min(0.0, float(np.min(equity[:split] / peak - 1))),
        "is_fills": int(np.sum(fill_ts < part.ts[split])),
        "oos_fills": int(np.sum(fill_ts >= part.ts[split])),
        "final_equity": equity[-1],
    }


@pytest.mark.parametrize("engine", ["fast", "event"])
def test_rows_equal_the_backtest_engines(tmp_path: Path, engine: str) -> None:
    batches = store_market(tmp_path / "store")
    grid = ["fast=5,10", "slow=30"]  # the event loop is slower: few configurations
    result = run_sweep(
        request(tmp_path / "store", tmp_path / "out.parquet", engine=engine, grid=grid)
    )
    table = frame(result.path)
    assert len(table) == 2 * 2 * 3  # (fast, slow) pairs x symbols x windows
    assert set(table["engine"]) == {engine}
    row = table[
        (table["p_fast"] == 10) & (table["p_slow"] == 30) & (table["window"] == 1)
        & (table["symbol"] == "ETH/USDT@sim")
    ].iloc[0]  # fmt: skip
    expected = _expected(batches[1], 1, {"fast": 10, "slow": 30, "size": "units:2"}, engine)
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
    assert json.loads(row["params"]) == {"fast": 10, "slow": 30, "size": "units:2"}


def test_fast_and_event_sweeps_agree(tmp_path: Path) -> None:
    store_market(tmp_path / "store")
    grid = ["fast=4,12", "slow=20"]
    fast = frame(run_sweep(request(tmp_path / "store", tmp_path / "f.parquet", grid=grid)).path)
    event = frame(
        run_sweep(
            request(tmp_path / "store", tmp_path / "e.parquet", engine="event", grid=grid)
        ).path
    )
    numeric = ["is_return", "oos_return", "is_sharpe", "oos_sharpe", "final_equity"]
    np.testing.assert_allclose(fast[numeric], event[numeric], rtol=1e-9)
    assert (fast["is_fills"] == event["is_fills"]).all()


def test_the_pool_gives_the_serial_rows(tmp_path: Path) -> None:
    store_market(tmp_path / "store")
    serial = run_sweep(request(tmp_path / "store", tmp_path / "s.parquet"))
    pool = run_sweep(request(tmp_path / "store", tmp_path / "p.parquet", backend="pool"))
    assert pool.backend == "pool" and pool.workers == 2
    assert pool.stats.cpu_seconds > 0 and serial.stats.cpu_seconds > 0
    pd.testing.assert_frame_equal(frame(serial.path), frame(pool.path))
    assert not (tmp_path / "p.parquet.parts").exists()


def test_a_task_that_fails_once_is_retried_and_reported(tmp_path: Path) -> None:
    store_market(tmp_path / "store")
    marker = tmp_path / "marker"
    result = run_sweep(
        request(tmp_path / "store", tmp_path / "r.parquet", backend="pool", chunk=2),
        task_fn=partial(fail_once, marker),
    )
    assert marker.exists()
    assert [r["task"] for r in result.stats.retried] == [1]
    assert "injected fault" in result.stats.retried[0]["error"]
    assert result.stats.failed == []
    table = pd.read_parquet(result.path)
    assert len(table) == 36 and table["error"].isna().all()
    assert sorted(table["attempts"].unique()) == [1, 2]
    clean = run_sweep(request(tmp_path / "store", tmp_path / "c.parquet", chunk=2))
    pd.testing.assert_frame_equal(frame(result.path), frame(clean.path))


def test_a_task_that_keeps_failing_is_kept_as_error_rows(tmp_path: Path) -> None:
    store_market(tmp_path / "store")
    result = run_sweep(
        request(tmp_path / "store", tmp_path / "x.parquet", chunk=2, retries=1),
        task_fn=always_fail,
    )
    assert len(result.stats.failed) == 1 and len(result.stats.retried) == 1
    table = pd.read_parquet(result.path)
    assert len(table) == 36
    broken = table[table["error"].notna()]
    assert len(broken) == 2 and (broken["attempts"] == 2).all()
    assert broken["error"].str.contains("broken for good").all()
    assert result.analysis.failed_rows == 2
    assert "configurations with failed runs" in " ".join(result.analysis.notes)


def test_an_interrupt_keeps_the_finished_rows(tmp_path: Path) -> None:
    store_market(tmp_path / "store")
    seen: list[int] = []

    def stop_after_first(n: int) -> None:
        seen.append(n)
        raise KeyboardInterrupt

    result = run_sweep(
        request(tmp_path / "store", tmp_path / "i.parquet", backend="pool", chunk=1),
        progress=stop_after_first,
    )
    assert result.stats.interrupted
    table = pd.read_parquet(result.path)
    assert 1 <= len(table) < 36
    assert table["error"].isna().all()
    assert not (tmp_path / "i.parquet.parts").exists()


def test_changing_the_test_windows_changes_no_in_sample_figure(tmp_path: Path) -> None:
    original = market()
    store_market(tmp_path / "a")
    w = walk_forward(len(original[0]), 3, 0.7)[2]
    changed = [perturb_after(b, w.split - 1) for b in original]  # the last test part only
    store_market(tmp_path / "b", changed)
    first = frame(run_sweep(request(tmp_path / "a", tmp_path / "a.parquet")).path)
    second = frame(run_sweep(request(tmp_path / "b", tmp_path / "b.parquet")).path)
    inside = [c for c in first.columns if c.startswith("is_")] + ["config_id"]
    pd.testing.assert_frame_equal(first[inside], second[inside])
    last = first["window"] == 2
    assert not np.allclose(first.loc[last, "oos_return"], second.loc[last, "oos_return"])


def test_optuna_is_steered_by_in_sample_figures_only(tmp_path: Path) -> None:
    original = market()
    store_market(tmp_path / "a")
    w = walk_forward(len(original[0]), 3, 0.7)[2]
    store_market(tmp_path / "b", [perturb_after(b, w.split - 1) for b in original])
    grid = ["fast=2:20:2", "slow=10:60:5"]
    runs = [
        run_sweep(request(tmp_path / k, tmp_path / f"{k}.parquet", grid=grid, optuna_trials=8))
        for k in ("a", "b")
    ]
    assert runs[0].configs == runs[1].configs
    assert 1 <= runs[0].configs <= 8
    params = [list(pd.read_parquet(r.path)["params"]) for r in runs]
    assert params[0] == params[1]


def test_requests_are_checked_before_any_work(tmp_path: Path) -> None:
    store_market(tmp_path / "store")
    root, out = tmp_path / "store", tmp_path / "o.parquet"
    with pytest.raises(ConfigError, match="no combination"):
        run_sweep(request(root, out, grid=["fast=50", "slow=20"]))
    with pytest.raises(ConfigError, match="at least one --grid"):
        run_sweep(request(root, out, grid=[]))
    with pytest.raises(ConfigError, match="windows too short"):
        run_sweep(request(root, out, windows=1000))
    with pytest.raises(ConfigError, match="unknown --engine"):
        run_sweep(request(root, out, engine="warp"))
    with pytest.raises(ConfigError, match="model forecasts"):
        run_sweep(request(root, out, strategy="hybrid", grid=[]))
    with pytest.raises(DataError, match="no bars"):
        run_sweep(request(root, out, start_ns=2_000_000_000 * 10**9))
    with pytest.raises(StrategyError, match="unknown strategy"):
        run_sweep(request(root, out, strategy="nope", grid=[]))
    with pytest.raises(ConfigError, match="at least 1 trial"):
        run_sweep(request(root, out, optuna_trials=0))
    with pytest.raises(ConfigError, match="--address"):
        run_sweep(request(root, out, address="ray://x:1"))
    assert not out.exists()


def test_the_winner_is_chosen_in_sample(tmp_path: Path) -> None:
    store_market(tmp_path / "store")
    result = run_sweep(request(tmp_path / "store", tmp_path / "w.parquet"))
    table = pd.read_parquet(result.path)
    best = table.groupby("config_id")["is_sharpe"].mean().idxmax()
    analysis = result.analysis
    assert analysis.winner is not None and analysis.winner["config_id"] == best
    assert analysis.dsr is not None and 0.0 <= analysis.dsr.dsr <= 1.0
    assert analysis.dsr.trials == 6
    assert analysis.pbo is not None and analysis.pbo.blocks == 16
    for pick in analysis.selection.itertuples():
        window = table[table["window"] == pick.window]
        assert pick.config_id == window.groupby("config_id")["is_sharpe"].mean().idxmax()


def test_rsi_sweeps_run_and_all_equity_sizing_matches_fast_backtest(tmp_path: Path) -> None:
    batches = store_market(tmp_path / "store")
    result = run_sweep(
        request(
            tmp_path / "store",
            tmp_path / "e.parquet",
            grid=["fast=10", "slow=30"],
            fixed={"size": None},
        )
    )
    row = frame(result.path).iloc[0]
    expected = _expected(batches[0], 0, {"fast": 10, "slow": 30, "size": None}, "fast")
    assert row["final_equity"] == pytest.approx(expected["final_equity"], rel=1e-12)
    rsi = run_sweep(
        replace(
            request(
                tmp_path / "store",
                tmp_path / "r.parquet",
                strategy="rsi_reversion",
                grid=["period=7,14", "lower=25,30"],
            ),
            windows=2,
        )
    )
    assert rsi.configs == 4 and rsi.engine == "fast"
