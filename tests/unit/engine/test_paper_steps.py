"""Paper steps portfolio and risk once per timestamp across instruments, like the backtest."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np

from neo.domain import BarBatch, InstrumentId
from neo.domain.account import AccountView
from neo.domain.bar import FloatArray
from neo.engine.backtest import run_backtest
from neo.engine.clock import SimulatedClock
from neo.engine.paper import run_paper
from tests.unit.engine.bars import ListFeed, walk


class Recorder:
    """A portfolio constructor that only records when it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def rebalance(
        self,
        forecasts: Mapping[InstrumentId, float],
        account: AccountView,
        returns: Mapping[InstrumentId, FloatArray],
    ) -> Mapping[InstrumentId, float] | None:
        self.calls.append((account.ts, sum(len(r) for r in returns.values())))
        return None


def without(batch: BarBatch, index: int) -> BarBatch:
    keep = np.ones(len(batch), dtype=bool)
    keep[index] = False
    return BarBatch.from_arrays(
        batch.instrument,
        batch.timeframe,
        **{f: np.asarray(getattr(batch, f))[keep] for f in ("ts", "open", "high", "low", "close",
                                                             "volume")},
    )  # fmt: skip


def test_one_step_per_timestamp_even_when_an_instrument_skips_a_bar() -> None:
    first = walk(40, seed=1, symbol="AAA/USD")
    second = without(walk(40, seed=2, symbol="BBB/USD"), 17)  # BBB has no bar at t17
    paper_book, backtest_book = Recorder(), Recorder()
    asyncio.run(
        run_paper(
            "sma_cross",
            ListFeed(first, second),
            portfolio=paper_book,
            clock=SimulatedClock(0),
            status=False,
        )
    )
    run_backtest("sma_cross", {b.instrument: b for b in (first, second)}, portfolio=backtest_book)
    assert len(paper_book.calls) == 40  # once per timestamp, not once per bar (79 bars)
    assert paper_book.calls == backtest_book.calls
