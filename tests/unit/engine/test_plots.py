"""What a strategy asks to draw (``ctx.plot``) reaches the result, the same on both paths."""

from __future__ import annotations

import numpy as np
import pytest

from neo.domain import ConfigError
from neo.engine.backtest import run_backtest
from neo.engine.fast import fast_backtest
from neo.strategies.indicators import sma
from neo.strategies.registry import create_strategy
from tests.unit.engine.bars import walk


def test_plotted_indicators_are_in_the_result_on_both_paths() -> None:
    bars = walk(300)
    event = run_backtest("sma_cross", bars, params={"fast": 5, "slow": 15, "size": 1})
    fast = fast_backtest(create_strategy("sma_cross", {"fast": 5, "slow": 15, "size": 1}), bars)
    iid = bars.instrument
    assert list(event.plots[iid]) == ["SMA 5", "SMA 15"]
    close = np.asarray(bars.close)
    np.testing.assert_allclose(event.plots[iid]["SMA 5"], sma(close, 5), equal_nan=True)
    for name, values in event.plots[iid].items():
        np.testing.assert_allclose(fast.plots[iid][name], values, equal_nan=True)


def test_a_plot_needs_a_name() -> None:
    from neo.engine.instruments import default_instrument
    from neo.strategies.context import StrategyContext

    ctx = StrategyContext(default_instrument(walk(2).instrument), None, timeframe_ns=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="non-empty name"):
        ctx.plot("", [1.0])  # type: ignore[arg-type]
