"""Paper/live indicators grow bar by bar with the batch values' bits, at a cost bounded by the
window (never by the history), and paper trading keeps giving the backtest's orders."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from neo.domain import Instrument
from neo.execution.ledger import Ledger
from neo.strategies import create_strategy
from neo.strategies.context import StrategyContext
from neo.strategies.hybrid import Hybrid
from neo.strategies.indicators import ema, incremental, rolling_volatility, rsi, sma

SPEC = Instrument.simple("BTC/USDT")


def _prices(n: int, seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    close[500:540] = close[499]  # a flat stretch: ties must stay exact ties
    return close


def _grow(func: Any, args: tuple[Any, ...], close: np.ndarray, **kwargs: Any) -> np.ndarray:
    """The indicator as a paper context builds it: registered on 5 bars, then extended."""
    ctx = StrategyContext(SPEC, Ledger(1.0, {SPEC.id: SPEC}), timeframe_ns=60 * 10**9)
    for k in range(5):
        ctx.append(k, (close[k],) * 4 + (1.0,), 0.0, 0.0)  # type: ignore[arg-type]
    out = ctx.indicator(func, "close", *args, **kwargs)
    for k in range(5, len(close)):
        ctx.append(k, (close[k],) * 4 + (1.0,), 0.0, 0.0)  # type: ignore[arg-type]
    return np.asarray(out)


CASES = [
    (sma, (1,)),
    (sma, (20,)),
    (sma, (200,)),
    (ema, (10,)),
    (ema, (3,)),
    (rsi, (14,)),
    (rsi, (2,)),
    (rolling_volatility, (20,)),
    (rolling_volatility, (5,)),
]


@pytest.mark.parametrize(("func", "args"), CASES)
def test_incremental_values_are_the_batch_values_bit_for_bit(func: Any, args: Any) -> None:
    close = _prices(6000)
    batch = func(close, *args)
    assert incremental(func, args) is not None
    np.testing.assert_array_equal(_grow(func, args, close), batch)


def test_the_compiled_batch_and_the_incremental_form_agree_too() -> None:
    close = _prices(3000)
    for func in (ema, rsi):
        compiled = func(close, 9, compiled=True)
        np.testing.assert_array_equal(_grow(func, (9,), close), compiled)


def test_hybrids_regime_filter_extends_from_its_lookback() -> None:
    close = _prices(4000)
    strategy = create_strategy("hybrid", {"vol_window": 60})
    assert isinstance(strategy, Hybrid)
    seen: list[int] = []

    def regime(values: np.ndarray) -> np.ndarray:
        seen.append(len(values))
        return strategy._volatility_average(values)

    grown = _grow(regime, (), close, lookback=20 + 1 + 60)
    np.testing.assert_array_equal(grown, strategy._volatility_average(close))
    assert max(seen[2:]) == 81  # each bar reads its lookback, not the history


def test_a_function_without_an_incremental_form_is_still_extended_correctly() -> None:
    close = _prices(700)

    def cumulative_max(values: np.ndarray) -> np.ndarray:
        return np.maximum.accumulate(values)

    assert incremental(cumulative_max, ()) is None
    np.testing.assert_array_equal(_grow(cumulative_max, (), close), cumulative_max(close))


def test_the_shipped_indicators_never_read_more_than_their_window() -> None:
    close = _prices(2000)
    step = incremental(sma, (30,))
    assert step is not None

    class Counting(list[float]):
        widest = 0

        def __getitem__(self, index: Any) -> Any:
            if isinstance(index, slice):
                Counting.widest = max(Counting.widest, len(range(*index.indices(len(self)))))
            return super().__getitem__(index)

    history = Counting(close.tolist())
    values = [step.update(history, i) for i in range(len(close))]
    np.testing.assert_array_equal(values, sma(close, 30))
    assert Counting.widest == 30
