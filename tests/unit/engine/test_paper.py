"""Paper trading: the same strategy code gives the same orders as the backtest on the same bars."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest

from neo.domain import Bar, InstrumentId
from neo.engine.backtest import run_backtest
from neo.engine.clock import SimulatedClock
from neo.engine.loop import get_autonomous_trading_loop
from neo.engine.paper import run_paper, status_text
from neo.execution.config import ExecutionConfig
from tests.unit.engine.bars import ListFeed, walk


class Echo:
    """A predictor that forecasts the last return (so the hybrid strategy trades)."""

    def __init__(self) -> None:
        self.last: dict[InstrumentId, float] = {}

    def predict(self, bar: Bar) -> float:
        previous = self.last.get(bar.instrument)
        self.last[bar.instrument] = bar.close
        return math.nan if previous is None else bar.close / previous - 1.0


CASES = [
    ("sma_cross", {"size": 2}),
    ("sma_cross", {"size": None}),
    ("ema_cross", {"fast": 5, "slow": 13, "size": 1}),
    ("rsi_reversion", {"period": 6, "lower": 40, "upper": 60}),
]


def _key(fills: list[Any]) -> list[tuple[Any, ...]]:
    return [(f.instrument, f.side, f.quantity, f.price, f.fee, f.ts) for f in fills]


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_paper_and_backtest_give_the_same_orders(
    name: str, params: dict[str, Any], fill: str
) -> None:
    batch = walk(250, seed=17)
    config = ExecutionConfig(fill=fill, fees_bps=4.0)
    backtest = run_backtest(name, batch, params=params, execution=config)
    paper = asyncio.run(
        run_paper(
            name,
            ListFeed(batch),
            params=params,
            execution=config,
            clock=SimulatedClock(0),
            status=False,
        )
    )
    assert len(backtest.fills) > 4
    assert paper.trades == backtest.trades
    assert _key(paper.fills) == _key(backtest.fills)
    assert paper.equity == pytest.approx(backtest.final_equity, rel=1e-12)
    assert paper.bars == len(batch)
    assert paper.stopped_by == "feed ended"


def test_hybrid_uses_the_predictor_live_and_stops_after_cycles() -> None:
    a = walk(300, seed=3, symbol="AAA/USD")
    b = walk(300, seed=4, symbol="BBB/USD")
    result = asyncio.run(
        run_paper(
            "hybrid",
            ListFeed(a, b),
            params={"trend": 10, "vol_window": 20},
            predictor=Echo(),
            cycles=400,
            status=False,
        )
    )
    assert result.bars == 400
    assert result.stopped_by == "400 cycles"
    assert result.stats.fills > 0
    summary = result.summary()
    assert summary["bars"] == 400 and set(summary["positions"]) == {
        str(a.instrument),
        str(b.instrument),
    }


def test_paper_predictions_equal_backtest_predictions_for_hybrid() -> None:
    batch = walk(300, seed=9)
    echo = Echo()
    predictions = np.array([echo.predict(bar) for bar in batch])
    params = {"trend": 10, "vol_window": 20}
    backtest = run_backtest(
        "hybrid", batch, params=params, predictions={batch.instrument: predictions}
    )
    paper = asyncio.run(
        run_paper("hybrid", ListFeed(batch), params=params, predictor=Echo(), status=False)
    )
    assert backtest.trades and paper.trades == backtest.trades


def test_push_bar_ignores_stale_bars_and_reports_status() -> None:
    batch = walk(40)
    loop = get_autonomous_trading_loop("sma_cross", symbols=["BTC/USDT"], params={"size": 1})
    loop.start()
    for bar in batch:
        loop.push_bar(bar)
    loop.push_bar(batch.bar(3))  # out of order: ignored
    assert loop.bars_seen == 40
    text = status_text(loop)
    assert "bars 40" in text and "equity" in text
    loop.stop()
    loop.push_bar(batch.bar(39))
    assert loop.bars_seen == 40
