"""A multi-symbol backtest with min_variance + a risk file stays within every configured limit.

Runs the engine's ``run_backtest`` on simulated bars with the factories the CLI uses
(``build_portfolio`` and ``build_risk_gate``), then re-derives positions from the fill list and
checks each limit at every fill, valued at the prices the gate saw when it approved the order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from neo.data.feeds.simulated import simulate_bars
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.engine.backtest import BacktestResult, run_backtest
from neo.execution.config import ExecutionConfig
from neo.portfolio import PortfolioConfig, build_portfolio
from neo.risk import KillSwitch, RiskConfig, account_state_path, build_risk_gate, load_risk_config
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"]
RISK_TOML = """
on_breach = "flatten"

[limits]
max_position_notional = 40000.0
max_position_pct = 0.35
max_gross_exposure = 95000.0
max_leverage = 1.0
max_open_orders = 8
max_orders_per_minute = 30
price_band_pct = 0.05
max_drawdown_pct = 0.25
price_buffer_pct = 0.002
"""


class Momentum(Strategy):
    """Forecasts the last 24-bar return, so the portfolio constructor has something to use."""

    name: ClassVar[str] = "test_momentum"

    def on_bar(self, ctx: StrategyContext) -> None:
        i = ctx.i
        if i >= 24:
            ctx.set_forecast(ctx.close[i] / ctx.close[i - 24] - 1.0)


def instruments() -> dict[InstrumentId, Instrument]:
    return {
        InstrumentId("sim", s): Instrument.simple(s, lot_size=0.0001, tick_size=0.0001)
        for s in SYMBOLS
    }


def backtest(tmp_path: Path, risk_text: str, bars: int = 700) -> tuple[BacktestResult, object]:
    risk_file = tmp_path / "risk.toml"
    risk_file.write_text(risk_text)
    specs = instruments()
    gate = build_risk_gate(risk_file, tmp_path / "state", specs)
    portfolio = build_portfolio(
        "min_variance",
        PortfolioConfig(
            rebalance_every=24, lookback=240, min_history=72, max_weight=0.45, budget=0.95
        ),
        specs,
    )
    data = simulate_bars(SYMBOLS, "1h", bars, seed=11)
    result = run_backtest(
        Momentum(),
        data,
        instruments=specs,
        execution=ExecutionConfig(cash=100_000.0, slippage_bps=5.0, fees_bps=5.0),
        risk=gate,
        portfolio=portfolio,
    )
    return result, (gate, portfolio)


def decision_state(result: BacktestResult, ts: int) -> tuple[int, dict[InstrumentId, float]]:
    """Index of the last step before ``ts`` (when the order was approved) and its prices."""
    k = int(np.searchsorted(result.ts, ts, side="left")) - 1
    assert k >= 0
    return k, {iid: float(p[k]) for iid, p in result.prices.items()}


def test_min_variance_backtest_stays_within_every_limit(tmp_path: Path) -> None:
    result, (gate, portfolio) = backtest(tmp_path, RISK_TOML)
    limits = load_risk_config(tmp_path / "risk.toml").limits
    assert result.fills, "the backtest should trade"
    assert len(portfolio.history) >= 10  # type: ignore[attr-defined]
    held: dict[InstrumentId, float] = defaultdict(float)
    buffer = 1.0 + 2 * limits.price_buffer_pct
    for fill in result.fills:
        before = abs(held[fill.instrument])
        held[fill.instrument] += fill.signed_quantity
        if abs(held[fill.instrument]) <= before + 1e-12:
            continue  # exits never breach an exposure limit
        k, prices = decision_state(result, fill.ts)
        equity = float(result.equity[k])
        notional = abs(held[fill.instrument]) * prices[fill.instrument]
        assert notional <= limits.max_position_notional * buffer  # type: ignore[operator]
        assert notional <= limits.max_position_pct * equity * buffer  # type: ignore[operator]
        gross = sum(abs(q) * prices[i] for i, q in held.items())
        assert gross <= limits.max_gross_exposure * buffer  # type: ignore[operator]
        assert gross <= limits.max_leverage * equity * buffer  # type: ignore[operator]
        assert abs(fill.price / prices[fill.instrument] - 1) <= limits.price_band_pct  # type: ignore[operator]
    # the books agree with the engine's own position record
    for iid, path in result.positions.items():
        assert path[-1] == pytest.approx(held[iid], abs=1e-9)
    # weights over time are recorded, and every weight respects the constraints
    for _, weights in portfolio.history:  # type: ignore[attr-defined]
        assert all(0.0 <= w <= 0.45 + 1e-6 for w in weights.values())
        assert sum(weights.values()) == pytest.approx(0.95, abs=1e-4)
    denied = [e for e in result.events if type(e).__name__ == "RiskDenied"]
    assert sum(gate.counters.values()) == len(denied)  # type: ignore[attr-defined]
    assert not gate.kill_switch.engaged  # type: ignore[attr-defined]


def test_kill_switch_flattens_and_halts_in_a_backtest(tmp_path: Path) -> None:
    tight = RISK_TOML.replace("max_drawdown_pct = 0.25", "max_drawdown_pct = 0.01")
    result, (gate, _) = backtest(tmp_path, tight)
    engaged = [e for e in gate.events if e.kind == "kill_switch_engaged"]  # type: ignore[attr-defined]
    assert len(engaged) == 1 and "drawdown" in engaged[0].reason
    halt_ts = engaged[0].ts
    held: dict[InstrumentId, float] = defaultdict(float)
    for fill in result.fills:
        before = abs(held[fill.instrument])
        held[fill.instrument] += fill.signed_quantity
        if fill.ts > halt_ts:
            assert abs(held[fill.instrument]) <= before + 1e-12, "new exposure after the halt"
    assert all(math.isclose(q, 0.0, abs_tol=1e-9) for q in held.values())  # flattened
    assert KillSwitch(account_state_path(tmp_path / "state")).engaged  # survives restart


@pytest.mark.parametrize("with_gate", [True, False])
def test_no_order_below_the_minimum_notional(tmp_path: Path, with_gate: bool) -> None:
    """Rebalance differences below min notional are not sent (and the gate denies any that
    are); only fills that close a whole position may be smaller."""
    specs = {
        InstrumentId("sim", s): Instrument.simple(
            s, lot_size=0.0001, tick_size=0.0001, min_notional=500.0
        )
        for s in SYMBOLS
    }
    portfolio = build_portfolio(
        "min_variance",
        PortfolioConfig(rebalance_every=6, lookback=120, min_history=48, max_weight=0.45),
        specs,
    )
    gate = build_risk_gate(RiskConfig(), None, specs) if with_gate else None
    result = run_backtest(
        Momentum(),
        simulate_bars(SYMBOLS, "1h", 500, seed=11),
        instruments=specs,
        execution=ExecutionConfig(cash=100_000.0, fees_bps=5.0),
        risk=gate,
        portfolio=portfolio,
    )
    assert len(result.fills) > 50
    held: dict[InstrumentId, float] = defaultdict(float)
    small = 0
    for fill in result.fills:
        held[fill.instrument] += fill.signed_quantity
        k = int(np.searchsorted(result.ts, fill.ts, side="left")) - 1
        decision_price = float(result.prices[fill.instrument][k])
        if fill.quantity * decision_price < 500.0:
            small += 1
            assert abs(held[fill.instrument]) < 1e-9, "only closing a whole position may be small"
    if gate is not None:
        assert "min_notional" not in gate.counters  # the loop did not even send them
    assert small <= len(SYMBOLS) * 3
