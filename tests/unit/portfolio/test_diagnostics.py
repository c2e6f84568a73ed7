"""Why little or nothing was allocated, and library warnings counted instead of flooding."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from neo.domain import BarBatch, InstrumentId
from neo.engine.backtest import run_backtest
from neo.portfolio import PortfolioConfig, build_portfolio
from neo.portfolio.allocators import EqualWeightAllocator
from neo.portfolio.constraints import Constraints
from neo.portfolio.constructor import AllocatorPortfolio
from neo.portfolio.rebalance import EveryK
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from tests.unit.engine.bars import walk


def _late_universe() -> dict[InstrumentId, BarBatch]:
    early = walk(600, seed=1, symbol="OLD/USD")
    late = walk(200, seed=2, symbol="NEW/USD", start_ns=int(early.ts[400]))
    return {early.instrument: early, late.instrument: late}


def test_instruments_listed_years_apart_are_allocated_once_each_has_history() -> None:
    bars = _late_universe()
    book = build_portfolio("equal_weight", PortfolioConfig(min_history=30, rebalance_every=10), {})
    run_backtest("sma_cross", bars, params={"fast": 5, "slow": 15}, portfolio=book)
    old, new = (InstrumentId("sim", s) for s in ("OLD/USD", "NEW/USD"))
    first_ts, first = book.history[0]
    assert first_ts < int(bars[new].ts[0])  # the old one trades before the new one lists
    assert set(first) == {old}
    assert any(set(weights) == {old, new} for _, weights in book.history)  # then both
    lacked = book.diagnostics.to_dict()["lacked_history"]
    assert set(lacked) == {str(new)} and lacked[str(new)]["steps"] >= 400
    assert lacked[str(new)]["ready_from"] is not None
    assert any("NEW/USD@sim lacked 30 bars" in note for note in book.diagnostics.notes())


class _Flat(Strategy):
    """States no direction at all: every forecast it gives is 0."""

    name = "flat_forecasts"
    version = "1"

    def on_bar(self, ctx: StrategyContext) -> None:
        ctx.set_forecast(0.0)


def test_kelly_on_reversals_allocates_and_on_no_direction_says_why() -> None:
    bars = {b.instrument: b for b in (walk(500, seed=k, symbol=f"S{k}/USD") for k in (1, 2, 3))}
    book = build_portfolio("kelly", PortfolioConfig(min_history=30, rebalance_every=10), {})
    result = run_backtest("sma_cross", bars, params={"fast": 5, "slow": 15}, portfolio=book)
    assert float(np.mean(result.exposure)) > 0.2  # close_position(); buy() is a long wish
    assert book.diagnostics.notes() == []
    flat_book = build_portfolio("kelly", PortfolioConfig(min_history=30), {})
    flat = run_backtest(_Flat(), bars, portfolio=flat_book)
    assert float(np.max(flat.exposure)) < 0.01
    (note,) = flat_book.diagnostics.notes()
    assert note.startswith("little was allocated") and "all forecasts were 0" in note


def test_library_warnings_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(5)
    n_assets, bars = 40, 60
    returns = {InstrumentId("sim", f"A{k}/USD"): rng.normal(0, 0.01, bars) for k in range(n_assets)}

    class Account:
        equity, ts = 1e6, 0

        def price(self, iid: InstrumentId) -> float:
            return 10.0

        def position(self, iid: InstrumentId) -> float:
            return 0.0

    book = build_portfolio(
        "min_variance", PortfolioConfig(min_history=30, lookback=35, rebalance_every=1), {}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape to stderr
        for step in range(5):
            window = {iid: r[: 31 + step] for iid, r in returns.items()}
            assert book.rebalance({}, Account(), window) is not None  # type: ignore[arg-type]
    (row,) = book.diagnostics.warning_rows()
    assert "not positive definite" in row["message"] and row["count"] == 5
    assert "nearest positive-definite" in row["action"]
    with caplog.at_level(logging.WARNING, logger="neo.portfolio"):
        book.diagnostics.log_summary()
    lines = [r.getMessage() for r in caplog.records if "positive definite" in r.getMessage()]
    assert len(lines) == 1 and "5 times" in lines[0]


def test_equal_weight_notes_nothing_when_all_is_well() -> None:
    book = AllocatorPortfolio(EqualWeightAllocator(), EveryK(1), Constraints(), None,
                              lookback=30, min_history=20)  # fmt: skip
    assert book.diagnostics.notes() == [
        "no rebalance was made: no instrument had min_history (20) bars of returns, or the "
        "rebalance policy never fell due"
    ]
