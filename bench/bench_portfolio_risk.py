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


def bench_checks() -> None:
    ids = [InstrumentId("sim", f"A{k}/USD") for k in range(20)]
    instruments = {i: Instrument.simple(i.symbol, tick_size=0.01, lot_size=0.001) for i in ids}
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
    orders = [
        Order(
            id=f"B{k}",
            instrument=ids[k % 20],
            side=Side.BUY if k % 2 else Side.SELL,  # type: ignore[arg-type]
            quantity=1.5,
            type=OrderType.LIMIT,
            limit_price=100.5,
        )
        for k in range(1_000)
    ]
    n_rounds = 50
    for order in orders:  # warm-up
        gate.check(order, account)
    start = time.perf_counter()
    approved = 0
    for _ in range(n_rounds):
        for order in orders:
            approved += gate.check(order, account).approved
    elapsed = time.perf_counter() - start
    per_order = elapsed / (n_rounds * len(orders)) * 1e6
    print(
        f"pre-trade check (all limits on, 5 working orders): {per_order:6.2f} us/order "
        f"({approved} approved of {n_rounds * len(orders)}, goal < 20 us)"
    )


if __name__ == "__main__":
    bench_allocation()
    bench_checks()
