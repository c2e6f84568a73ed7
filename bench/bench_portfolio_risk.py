"""Benchmark: one allocation over 100 assets × 1,000 bars (goal < 1 s) and the per-order cost
of the pre-trade risk checks (goal < 20 µs).

Run: ``.venv/bin/python bench/bench_portfolio_risk.py``. Prints one line per figure.
"""

from __future__ import annotations

import time

import numpy as np

from neo.domain.enums import OrderType, Side
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.portfolio import create_allocator
from neo.portfolio.constraints import Constraints
from neo.risk import PreTradeRiskGate, RiskConfig, RiskLimits


class BenchAccount:
    """A static account: 20 instruments with positions and 5 working orders."""

    def __init__(self, ids: list[InstrumentId]) -> None:
        self.ts = 0
        self.cash = 1_000_000.0
        self.equity = 1_000_000.0
        self.peak_equity = 1_000_000.0
        self.day_start_equity = 1_000_000.0
        self._positions = {i: 10.0 for i in ids}
        self._prices = {i: 100.0 for i in ids}
        self.gross_exposure = sum(abs(q) * 100.0 for q in self._positions.values())
        self.net_exposure = self.gross_exposure
        self._orders = [
            Order(
                id=f"W{k}",
                instrument=ids[k],
                side=Side.BUY,
                quantity=1.0,  # type: ignore[arg-type]
                type=OrderType.LIMIT,
                limit_price=99.0,
            )
            for k in range(5)
        ]

    def position(self, instrument: InstrumentId) -> float:
        return self._positions.get(instrument, 0.0)

    def price(self, instrument: InstrumentId) -> float:
        return self._prices.get(instrument, float("nan"))

    def instruments(self) -> list[InstrumentId]:
        return list(self._prices)

    def open_orders(self) -> list[Order]:
        return self._orders


def bench_allocation() -> None:
    rng = np.random.default_rng(0)
    n_assets, n_bars = 100, 1_000
    loadings = rng.normal(0, 1, (n_assets, 5))
    returns = rng.normal(0, 0.01, (n_bars, 5)) @ loadings.T * 0.3 + rng.normal(
        0, 0.01, (n_bars, n_assets)
    )
    constraints = Constraints(max_weight=0.05)
    for name in ("min_variance", "max_sharpe", "hrp", "risk_parity", "kelly"):
        allocator = create_allocator(name)
        allocator.weights(returns[:100, :10], None, Constraints(max_weight=0.5), None)  # warm-up
        start = time.perf_counter()
        weights = allocator.weights(returns, None, constraints, None)
        elapsed = time.perf_counter() - start
        print(
            f"allocation {name:<13} {n_assets} assets x {n_bars} bars: {elapsed * 1e3:8.1f} ms"
            f"  (sum w = {weights.sum():.3f}, goal < 1000 ms)"
        )


def _time_checks(gate: PreTradeRiskGate, account: BenchAccount, orders: list[Order]) -> float:
    """Mean µs per check of ``orders`` (after a warm-up pass)."""
    n_rounds = 50
    for order in orders:
        gate.check(order, account)
    start = time.perf_counter()
    for _ in range(n_rounds):
        for order in orders:
            gate.check(order, account)
    return (time.perf_counter() - start) / (n_rounds * len(orders)) * 1e6


def bench_checks() -> None:
    """Risk-increasing orders (every limit evaluated) and reducing orders (the exit fast path)
    timed apart: a mix of both would flatter the per-order figure."""
    ids = [InstrumentId("sim", f"A{k}/USD") for k in range(20)]
    instruments = {
        i: Instrument.simple(i.symbol, tick_size=0.01, lot_size=0.001, min_notional=10.0)
        for i in ids
    }
    limits = RiskLimits(
        max_position_notional=50_000.0,
        max_position_pct=0.1,
        max_gross_exposure=2_000_000.0,
        max_leverage=2.0,
        max_open_orders=50,
        max_orders_per_minute=10_000_000,
        price_band_pct=0.05,
    )
    gate = PreTradeRiskGate(RiskConfig(limits=limits), None, instruments)
    account = BenchAccount(ids)

    def orders(side: Side, reduce_only: bool) -> list[Order]:
        return [
            Order(
                id=f"B{side}{k}",
                instrument=ids[k % 20],
                side=side,
                quantity=1.5,
                type=OrderType.LIMIT,
                limit_price=100.5 if side is Side.BUY else 99.5,
                reduce_only=reduce_only,
            )
            for k in range(1_000)
        ]

    increasing = orders(Side.BUY, False)  # longs of 10 grow: every exposure limit runs
    reducing = orders(Side.SELL, True)  # reduce-only sells of 1.5 out of 10: exits
    assert all(gate.check(o, account).approved for o in increasing[:20])
    assert all(gate.check(o, account).approved for o in reducing[:20])
    for label, batch in (("risk-increasing", increasing), ("reducing", reducing)):
        per_order = _time_checks(gate, account, batch)
        print(
            f"pre-trade check, {label:<15} orders (all limits on, 5 working): "
            f"{per_order:6.2f} us/order (goal < 20 us)"
        )


if __name__ == "__main__":
    bench_allocation()
    bench_checks()
