from __future__ import annotations

import numpy as np
import pytest

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.portfolio import PortfolioConfig, build_portfolio, create_allocator
from neo.portfolio.constraints import Constraints
from neo.portfolio.constructor import AllocatorPortfolio
from neo.portfolio.rebalance import DriftBand, EveryK
from tests.unit.risk.fakes import FakeAccount

IDS = [InstrumentId("sim", s) for s in ("AAA/USD", "BBB/USD", "CCC/USD")]
LOTS = {i: Instrument.simple(i.symbol, lot_size=0.01, min_notional=5.0) for i in IDS}


def series(seed: int, bars: int) -> dict[InstrumentId, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i: rng.normal(3e-4, 0.01 * (k + 1), bars) for k, i in enumerate(IDS)}


def account(cash: float = 100_000.0) -> FakeAccount:
    acc = FakeAccount(cash=cash)
    for i in IDS:
        acc.mark(i, 50.0)
    return acc


def portfolio(**kw: object) -> AllocatorPortfolio:
    params: dict[str, object] = {"lookback": 60, "min_history": 20}
    params.update(kw)
    return AllocatorPortfolio(
        create_allocator("min_variance"),
        EveryK(5),
        Constraints(budget=0.9, max_weight=0.6),
        LOTS,
        **params,  # type: ignore[arg-type]
    )


def test_waits_for_history_then_rebalances_every_k() -> None:
    book = portfolio()
    acc = account()
    data = series(1, 40)
    outputs = []
    for t in range(1, 41):
        acc.ts = t
        outputs.append(book.rebalance({}, acc, {i: r[:t] for i, r in data.items()}))
    due = [t for t, out in enumerate(outputs, start=1) if out is not None]
    assert due == [20, 25, 30, 35, 40]
    target = outputs[-1]
    assert target is not None
    notional = sum(q * 50.0 for q in target.values())
    assert 0.89 * 100_000 <= notional <= 0.9 * 100_000
    assert all(abs(q * 100 - round(q * 100)) < 1e-9 for q in target.values())  # lot 0.01
    assert [ts for ts, _ in book.history] == due
    assert sum(book.history[-1][1].values()) == pytest.approx(0.9)


def test_no_look_ahead_and_only_the_lookback_window_matters() -> None:
    base = series(2, 120)
    future = {i: r.copy() for i, r in base.items()}
    for r in future.values():
        r[90:] = np.random.default_rng(9).normal(0, 0.05, 30)  # a different future
    older = {i: r.copy() for i, r in base.items()}
    for r in older.values():
        r[:20] *= 3.0  # history beyond the 60-bar lookback at t >= 80

    def run(data: dict[InstrumentId, np.ndarray]) -> list[object]:
        book, acc, out = portfolio(), account(), []
        for t in range(1, 121):
            acc.ts = t
            out.append(book.rebalance({}, acc, {i: r[:t] for i, r in data.items()}))
        return out

    reference, perturbed, old = run(base), run(future), run(older)
    assert perturbed[:90] == reference[:90]
    assert perturbed[90:] != reference[90:]
    assert old[80:] == reference[80:]


def test_drift_band_uses_current_holdings() -> None:
    book = AllocatorPortfolio(
        create_allocator("equal_weight"),
        DriftBand(0.05),
        Constraints(budget=0.9),
        LOTS,
        lookback=30,
        min_history=20,
    )
    acc = account()
    data = series(3, 30)
    first = book.rebalance({}, acc, data)
    assert first is not None
    for i, q in first.items():
        acc.positions[i] = q
    acc.cash -= sum(q * 50.0 for q in first.values())
    assert book.rebalance({}, acc, data) is None  # holdings match the target
    acc.mark(IDS[0], 70.0)  # AAA rallies: its weight drifts out of the band
    assert book.rebalance({}, acc, data) is not None


def test_forecasts_drive_kelly_and_missing_ones_count_as_zero() -> None:
    book = AllocatorPortfolio(
        create_allocator("kelly"),
        EveryK(1),
        Constraints(max_weight=0.5),
        None,
        lookback=30,
        min_history=20,
    )
    target = book.rebalance({IDS[0]: 0.01}, account(), series(4, 30))
    assert target is not None
    # only AAA is forecast to rise: it gets the 0.5 cap (1_000 units at 50), the rest less
    assert target[IDS[0]] == pytest.approx(1_000.0, rel=1e-6)
    assert max(abs(target[IDS[1]]), abs(target[IDS[2]])) < 500.0
    silent = book.rebalance({}, account(), series(4, 30))
    assert silent is not None and silent != target  # no forecasts: the sample mean is used


def test_no_targets_without_equity_prices_or_returns() -> None:
    book = portfolio()
    data = series(5, 30)
    assert book.rebalance({}, account(), {}) is None
    broke = account()
    broke.equity_override = float("nan")
    assert book.rebalance({}, broke, data) is None
    unpriced = account()
    unpriced.prices[IDS[1]] = float("nan")
    assert book.rebalance({}, unpriced, data) is None


def test_solver_failure_keeps_positions(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        name = "broken"

        def weights(self, *args: object) -> np.ndarray:
            raise ValueError("solver exploded")

    book = AllocatorPortfolio(Broken(), EveryK(1), Constraints(), None, lookback=30, min_history=20)
    assert book.rebalance({}, account(), series(6, 30)) is None
    assert [(e.kind, e.code) for e in book.events] == [("allocation_failed", "broken")]
    assert "solver exploded" in book.events[0].reason


class FlakyKelly:
    """Kelly that finds no feasible allocation (a ConfigError, as a solver's infeasibility
    surfaces) on some windows."""

    name = "kelly"

    def __init__(self, fail_on: set[int]) -> None:
        self.inner = create_allocator("kelly")
        self.calls = 0
        self.fail_on = fail_on

    def weights(self, *args: object) -> np.ndarray:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConfigError("kelly: no allocation satisfies the constraints (infeasible)")
        return self.inner.weights(*args)  # type: ignore[arg-type]


def test_infeasible_allocation_mid_run_keeps_the_weights_and_is_reported() -> None:
    from neo.analytics.report import risk_event_rows
    from neo.data.feeds.simulated import simulate_bars
    from neo.engine.backtest import run_backtest
    from tests.integration.test_backtest_limits import Momentum

    symbols = ["AAA/USD", "BBB/USD"]
    specs = {InstrumentId("sim", s): Instrument.simple(s, lot_size=0.001) for s in symbols}
    book = AllocatorPortfolio(
        FlakyKelly({2, 3}), EveryK(10), Constraints(max_weight=0.6), specs, lookback=60,
        min_history=40,
    )  # fmt: skip
    bars = simulate_bars(symbols, "1h", 300, seed=4)
    result = run_backtest(Momentum(), bars, instruments=specs, portfolio=book)
    assert len(result.ts) == 300  # the run went to the end
    assert [e.kind for e in book.events] == ["allocation_failed"] * 2
    times = [t for t, _ in book.history]
    failed = [e.ts for e in book.events]
    assert times[0] < failed[0] < failed[1] < times[1]  # no rebalance between them
    # nothing traded while the allocation failed: the previous weights were kept
    assert not [f for f in result.fills if failed[0] < f.ts <= failed[1] + 3_600_000_000_000]
    rows = risk_event_rows(result.events, None, book)
    assert [r["event"] for r in rows] == ["AllocationFailed"] * 2


def test_an_impossible_configuration_fails_at_start() -> None:
    with pytest.raises(ConfigError, match="budget"):
        build_portfolio("kelly", PortfolioConfig(max_weight=0.2, budget=0.95), LOTS)
    with pytest.raises(ConfigError, match="cannot add up"):
        AllocatorPortfolio(
            create_allocator("min_variance"),
            EveryK(1),
            Constraints(long_only=True, min_weight=0.5, max_weight=0.9, budget=1.0,
                        max_gross_leverage=1.2, max_net_leverage=1.0),
            LOTS,
        )  # fmt: skip


def test_bad_window() -> None:
    with pytest.raises(ConfigError, match="min_history"):
        portfolio(lookback=10, min_history=20)


def test_build_portfolio_from_config() -> None:
    config = PortfolioConfig(
        rebalance="every_k",
        rebalance_every=3,
        lookback=40,
        min_history=20,
        allocator_params={"fraction": 0.25},
        covariance="ewma",
        max_weight=0.5,
    )
    book = build_portfolio("kelly", config, LOTS)
    assert isinstance(book.policy, EveryK) and book.policy.k == 3
    assert book.lookback == 40 and book.constraints.max_weight == 0.5
    assert book.allocator.name == "kelly"
    default = build_portfolio(None, PortfolioConfig(allocator="hrp"), {})
    assert default.allocator.name == "hrp"
    with pytest.raises(ConfigError, match="unknown allocator"):
        build_portfolio("nope", config, LOTS)
