"""Paper trading on a replay of the store gives the backtest's rebalances, fills and equity.

Four symbols × 300 bars, an allocator and a risk configuration whose limits bind: both drivers
must step portfolio and risk once per timestamp across the symbols (paper used to rebalance
after every single symbol's bar), so every rebalance, denial, fill and the final equity agree.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest

from neo.data.feeds import ReplayFeed
from neo.data.feeds.simulated import simulate_bars
from neo.data.store import HistoricalDataStore
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.engine.backtest import run_backtest
from neo.engine.clock import SimulatedClock
from neo.engine.paper import run_paper
from neo.execution.config import ExecutionConfig
from neo.portfolio import PortfolioConfig, build_portfolio
from neo.risk import RiskConfig, RiskLimits, build_risk_gate
from neo.risk.config import StopsConfig
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"]
BARS = 300


class Momentum(Strategy):
    name: ClassVar[str] = "test_parity_momentum"

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i >= 12:
            ctx.set_forecast(ctx.close[ctx.i] / ctx.close[ctx.i - 12] - 1.0)


def specs() -> dict[InstrumentId, Instrument]:
    return {
        InstrumentId("sim", s): Instrument.simple(s, lot_size=0.001, tick_size=0.0001)
        for s in SYMBOLS
    }


def layers(allocator: str, stops: StopsConfig | None) -> tuple[Any, Any]:
    instruments = specs()
    config = RiskConfig(
        limits=RiskLimits(
            max_position_notional=24_000.0,
            max_position_pct=0.3,
            max_leverage=1.0,
            price_band_pct=0.05,
        ),
        stops=stops,
    )
    portfolio = build_portfolio(
        allocator,
        PortfolioConfig(rebalance_every=10, lookback=120, min_history=40, max_weight=0.4),
        instruments,
    )
    return build_risk_gate(config, None, instruments), portfolio


def key(fills: list[Any]) -> list[tuple[Any, ...]]:
    return [(f.instrument, f.side, f.quantity, f.price, f.fee, f.ts) for f in fills]


@pytest.mark.parametrize(
    ("allocator", "stops"),
    [
        ("min_variance", None),
        ("inverse_volatility", StopsConfig(kind="trailing", pct=0.01, take_profit_pct=0.05)),
    ],
)
def test_paper_replay_matches_the_backtest(
    tmp_path: Path, allocator: str, stops: StopsConfig | None
) -> None:
    bars = simulate_bars(SYMBOLS, "1h", BARS, seed=5)
    store = HistoricalDataStore(tmp_path / "store")
    for batch in bars.values():
        store.write(batch)
    execution = ExecutionConfig(cash=100_000.0, fees_bps=5.0, slippage_bps=2.0)

    gate_b, book_b = layers(allocator, stops)
    backtest = run_backtest(
        Momentum(), bars, instruments=specs(), execution=execution, risk=gate_b, portfolio=book_b
    )
    gate_p, book_p = layers(allocator, stops)
    feed = ReplayFeed(store, list(bars), "1h")
    paper = asyncio.run(
        run_paper(
            Momentum(),
            feed,
            instruments=specs(),
            execution=execution,
            risk=gate_p,
            portfolio=book_p,
            clock=SimulatedClock(0),
            status=False,
        )
    )
    store.close()
    assert paper.bars == backtest.stats.bars == BARS * len(SYMBOLS)
    assert len(book_b.history) >= 20
    assert book_p.history == book_b.history  # same rebalances: same times, same weights
    assert backtest.fills and key(paper.fills) == key(backtest.fills)
    assert paper.equity == pytest.approx(backtest.final_equity, rel=1e-12)
    assert dict(gate_p.counters) == dict(gate_b.counters)
    assert sum(gate_b.counters.values()) > 0, "the limits should bind at least once"
    if stops is not None:
        protective = ("stop_loss", "take_profit", "stop_through_market")

        def stop_orders(orders: list[Any]) -> list[tuple[Any, ...]]:
            return [
                (o.instrument, o.side, o.type, o.quantity, o.stop_price, o.limit_price, o.status)
                for o in orders
                if o.tag in protective
            ]

        assert len(stop_orders(backtest.orders)) > 10
        assert stop_orders(paper.orders) == stop_orders(backtest.orders)
