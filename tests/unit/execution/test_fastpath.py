"""The compiled fast path gives the same fills, trades and equity as the event-driven path."""

from __future__ import annotations

import numpy as np
import pytest

from neo.domain import ConfigError, FloatArray
from neo.execution import ExecutionConfig
from neo.execution.fastpath import run_fast_path

from .helpers import EventPathRun, instrument, random_walk

N = 400


def _crossover_targets(close: FloatArray, size: float = 100.0) -> FloatArray:
    fast = np.convolve(close, np.ones(5) / 5, "full")[: len(close)]
    slow = np.convolve(close, np.ones(12) / 12, "full")[: len(close)]
    above = fast > slow
    targets = np.full(len(close), np.nan)
    cross = np.flatnonzero(above[1:] != above[:-1]) + 1
    targets[cross] = np.where(above[cross], size, -size)
    targets[:12] = np.nan
    return targets


def _patterns() -> dict[str, FloatArray]:
    rng = np.random.default_rng(3)
    close = np.asarray(random_walk(N).close)
    sparse = np.full(N, np.nan)
    picks = rng.choice(N, 40, replace=False)
    sparse[picks] = rng.integers(-50, 51, 40).astype(float)
    return {
        "crossover": _crossover_targets(close),
        "random_dense": rng.integers(-3, 4, N).astype(float) * 10.0,
        "random_sparse": sparse,
        "long_only_steps": np.repeat(np.arange(N // 40) % 3 * 5.0, 40),
        "flat": np.full(N, np.nan),
    }


CONFIGS = {
    "next_open": ExecutionConfig(),
    "close": ExecutionConfig(fill="close"),
    "next_open_slip_fees": ExecutionConfig(slippage_bps=3.0, fees_bps=7.5),
    "close_impact": ExecutionConfig(fill="close", impact="volume", impact_coefficient=0.2),
}


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("pattern", list(_patterns()))
def test_fast_path_matches_event_path(config_name: str, pattern: str) -> None:
    config = CONFIGS[config_name]
    batch = random_walk(N)
    spec = instrument()
    targets = _patterns()[pattern]
    fast = run_fast_path(batch, targets, spec, config)
    event = EventPathRun(batch, targets, spec, config)

    event_fills = event.ledger.fills()
    fast_fills = fast.fills()
    assert len(fast_fills) == len(event_fills)
    for a, b in zip(fast_fills, event_fills, strict=True):
        assert (a.side, a.quantity, a.ts) == (b.side, b.quantity, b.ts)
        assert a.price == pytest.approx(b.price, rel=1e-12)
        assert a.fee == pytest.approx(b.fee, rel=1e-12, abs=1e-12)
    event_trades = event.ledger.trades()
    fast_trades = fast.trades()
    assert len(fast_trades) == len(event_trades)
    for x, y in zip(fast_trades, event_trades, strict=True):
        assert (x.quantity, x.entry_ts, x.exit_ts) == (y.quantity, y.entry_ts, y.exit_ts)
        assert x.pnl == pytest.approx(y.pnl, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(fast.equity, event.curve.equity, rtol=1e-9)
    np.testing.assert_allclose(fast.cash, event.curve.cash, rtol=1e-9)
    np.testing.assert_array_equal(fast.position, event.curve.positions[spec.id])
    assert fast.final_equity == pytest.approx(event.ledger.equity, rel=1e-9)


EQUITY_CASES = {
    "next_open": (ExecutionConfig(cash=10_000.0), 1.0),
    "close_slippage": (ExecutionConfig(cash=10_000.0, fill="close", slippage_bps=4.0), 1.0),
    "impact_fees_bps": (
        ExecutionConfig(cash=10_000.0, impact="volume", impact_coefficient=0.3, fees_bps=5.0),
        1.0,
    ),
    "fractional_lots": (ExecutionConfig(cash=10_000.0), 0.01),
}


@pytest.mark.parametrize("case", list(EQUITY_CASES))
@pytest.mark.parametrize("pattern", ["crossover", "random_dense", "random_sparse"])
def test_equity_sized_fast_path_matches_event_path(case: str, pattern: str) -> None:
    config, lot = EQUITY_CASES[case]
    batch = random_walk(N)
    spec = instrument(lot_size=lot)
    targets = _patterns()[pattern]
    fast = run_fast_path(batch, targets, spec, config, equity_fraction=0.9999)
    event = EventPathRun(batch, targets, spec, config, equity_fraction=0.9999)
    event_fills = event.ledger.fills()
    assert len(fast.fills()) == len(event_fills) > 5
    for a, b in zip(fast.fills(), event_fills, strict=True):
        assert (a.side, a.quantity, a.ts) == (b.side, b.quantity, b.ts)
        assert a.price == pytest.approx(b.price, rel=1e-12)
    assert [t.quantity for t in fast.trades()] == [t.quantity for t in event.ledger.trades()]
    np.testing.assert_allclose(fast.equity, event.curve.equity, rtol=1e-9)
    np.testing.assert_array_equal(fast.position, event.curve.positions[spec.id])


def test_equity_fraction_must_be_a_fraction() -> None:
    with pytest.raises(ConfigError, match="equity_fraction"):
        run_fast_path(
            random_walk(3), np.zeros(3), instrument(), ExecutionConfig(), equity_fraction=2
        )


def test_fast_path_accounting_by_hand() -> None:
    """Two fills worked out on paper: buy 10 at bar 1's open, sell 10 at bar 3's open."""
    batch = random_walk(5)
    spec = instrument(taker_fee=0.001)
    targets = np.array([10.0, np.nan, -0.0, np.nan, np.nan])
    result = run_fast_path(batch, targets, spec, ExecutionConfig(cash=10_000.0))
    buy, sell = float(batch.open[1]), float(batch.open[3])
    fees = 0.001 * 10 * buy + 0.001 * 10 * sell
    assert result.fill_bar.tolist() == [1, 3]
    assert result.final_equity == pytest.approx(10_000.0 + 10 * (sell - buy) - fees, rel=1e-12)
    (trade,) = result.trades()
    assert trade.quantity == 10.0
    assert len(result.trade_log()) == 1 and result.trade_log().exit_price.tolist() == [sell]
    assert trade.pnl == pytest.approx(10 * (sell - buy) - fees, rel=1e-12)
    equity_bar2 = 10_000.0 - 10 * buy - 0.001 * 10 * buy + 10 * float(batch.close[2])
    assert result.equity[2] == pytest.approx(equity_bar2, rel=1e-12)


def test_fast_path_refuses_bad_input() -> None:
    batch = random_walk(10)
    with pytest.raises(ConfigError, match="one value per bar"):
        run_fast_path(batch, np.zeros(9), instrument(), ExecutionConfig())
    with pytest.raises(ConfigError, match="participation_cap"):
        run_fast_path(batch, np.zeros(10), instrument(), ExecutionConfig(participation_cap=0.1))


def test_fast_path_empty_and_cached_records() -> None:
    batch = random_walk(3)
    result = run_fast_path(batch, np.array([1.0, 2.0, np.nan]), instrument(), ExecutionConfig())
    assert result.fills() == result.fills()
    assert [f.quantity for f in result.fills()] == [1.0, 1.0]
    assert result.trades() == []
    empty = run_fast_path(batch.slice(0, 0), np.empty(0), instrument(), ExecutionConfig())
    assert empty.final_equity == ExecutionConfig().cash


@pytest.mark.parametrize("equity_mode", [False, True])
def test_compiled_kernel_matches_its_python_source(
    equity_mode: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The numba build and the plain-Python functions it compiles agree bar for bar."""
    from neo.execution import fastpath

    batch = random_walk(120)
    targets = _patterns()["random_dense"][:120]
    costs = np.array([0.001, 2e-4, 0.1, 1.0, 0.5, 0.01, 2.0])
    runs = []
    for close_mode in (False, True):
        args = (
            np.asarray(batch.open), np.asarray(batch.close), np.asarray(batch.volume), targets,
            1e5, costs, close_mode, equity_mode,
        )  # fmt: skip
        runs.append((args, fastpath._target_kernel(*args)))
    for name in (
        "_book",
        "_execution_price",
        "_equity_units",
        "_equity_budget",
        "_fill_fee",
        "_orders_for",
    ):
        monkeypatch.setattr(fastpath, name, getattr(fastpath, name).py_func)
    for args, compiled in runs:
        python = fastpath._target_kernel.py_func(*args)
        assert len(python[3]) > 20
        for a, b in zip(compiled, python, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("lot", [0.1, 0.001, 0.05, 1e-8, 1.0])
def test_the_fast_paths_lot_and_sizing_rules_are_the_domains_bit_for_bit(lot: float) -> None:
    """Targets and equity sizes on the compiled path are Instrument.round_quantity's and the
    broker's affordable_units, not a re-implementation (3 × 0.1 lots is 0.3, not
    0.30000000000000004)."""
    from neo.domain import Instrument
    from neo.execution import fastpath
    from neo.execution.pricing import affordable_units

    spec = Instrument.simple("BTC/USDT", lot_size=lot)
    rng = np.random.default_rng(5)
    raw = np.concatenate([rng.normal(0.0, 50.0, 400), np.arange(-20, 20) * lot, [np.nan]])
    expected = [spec.round_quantity(x) if x == x else np.nan for x in raw.tolist()]
    np.testing.assert_array_equal(fastpath.lot_targets(raw, spec), expected)
    decimals = spec.quantity_decimals
    for budget, price in zip(rng.uniform(0, 1e5, 300), rng.uniform(0.01, 500.0, 300), strict=True):
        args = (float(budget), float(price), 0.001, lot, decimals)
        assert fastpath._equity_units(*args) == affordable_units(*args)
