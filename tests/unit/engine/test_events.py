"""The loop publishes BarClosed, PredictionMade and PositionChanged to whoever subscribes, in
backtest and in paper trading, and the same numbers either way."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest

from neo.domain import Bar, BarBatch
from neo.domain.events import (
    BarClosed,
    Event,
    OrderFilled,
    PositionChanged,
    PredictionMade,
    decode_event,
    encode_event,
)
from neo.engine.backtest import run_backtest
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock
from neo.engine.paper import run_paper
from neo.execution.config import ExecutionConfig
from tests.unit.engine.bars import ListFeed, walk


class Recorder:
    def __init__(self, bus: MessageBus) -> None:
        self.events: list[Event] = []
        for kind in (BarClosed, PredictionMade, PositionChanged, OrderFilled):
            bus.subscribe(kind, self.events.append)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if type(e) is kind]


class TablePredictor:
    """Paper forecasts read from the same array the backtest preloads."""

    model_id = "table-1"

    def __init__(self, batch: BarBatch, values: np.ndarray) -> None:
        self.by_ts = dict(zip(batch.ts.tolist(), values.tolist(), strict=True))

    def predict(self, bar: Bar) -> float:
        return float(self.by_ts[bar.ts])


def _check(recorder: Recorder, batch: BarBatch, preds: np.ndarray, model_id: str) -> None:
    bars = recorder.of(BarClosed)
    assert [e.bar.ts for e in bars] == batch.ts.tolist()
    assert [e.ts for e in bars] == (batch.ts + batch.timeframe.nanos).tolist()
    assert [e.bar.close for e in bars] == batch.close.tolist()
    made = recorder.of(PredictionMade)
    finite = ~np.isnan(preds)
    assert [e.value for e in made] == preds[finite].tolist()
    assert {e.model_id for e in made} == {model_id}
    changes = recorder.of(PositionChanged)
    fills = recorder.of(OrderFilled)
    assert len(changes) == len(fills) > 5
    held = 0.0
    for change, filled in zip(changes, fills, strict=True):
        held += filled.fill.signed_quantity
        assert change.position.quantity == held and change.ts == filled.fill.ts
    for event in (bars[0], made[0], changes[0]):
        assert decode_event(encode_event(event)) == event
    # each bar's BarClosed comes before that bar's forecast
    first = recorder.events.index(made[0])
    assert isinstance(recorder.events[first - 1], BarClosed)


def _setup() -> tuple[BarBatch, np.ndarray, ExecutionConfig]:
    batch = walk(300, seed=8)
    preds = np.random.default_rng(2).normal(size=len(batch))
    preds[:30] = math.nan
    return batch, preds, ExecutionConfig(fees_bps=5.0)


def test_a_backtest_publishes_bars_predictions_and_position_changes() -> None:
    batch, preds, config = _setup()
    bus = MessageBus()
    recorder = Recorder(bus)
    run_backtest(
        "hybrid",
        batch,
        params={"trend": 0},
        execution=config,
        predictions={batch.instrument: preds},
        bus=bus,
    )
    _check(recorder, batch, preds, "preloaded")


def test_paper_trading_publishes_the_same_events() -> None:
    batch, preds, config = _setup()
    bus = MessageBus()
    recorder = Recorder(bus)
    asyncio.run(
        run_paper(
            "hybrid",
            ListFeed(batch),
            params={"trend": 0},
            execution=config,
            predictor=TablePredictor(batch, preds),
            clock=SimulatedClock(0),
            bus=bus,
            status=False,
        )
    )
    _check(recorder, batch, preds, "table-1")
    backtest_bus = MessageBus()
    backtest = Recorder(backtest_bus)
    run_backtest(
        "hybrid",
        batch,
        params={"trend": 0},
        execution=config,
        predictions={batch.instrument: preds},
        bus=backtest_bus,
    )
    key = [(e.ts, e.position.quantity) for e in backtest.of(PositionChanged)]
    assert key == [(e.ts, e.position.quantity) for e in recorder.of(PositionChanged)]


@pytest.mark.parametrize("late", [False, True])
def test_subscribing_during_a_run_is_noticed_and_leaving_stops_the_events(late: bool) -> None:
    from neo.engine.loop import get_autonomous_trading_loop

    batch = walk(40)
    loop = get_autonomous_trading_loop(
        "sma_cross",
        symbols=[batch.instrument.symbol],
        venue=batch.instrument.venue,
        clock=SimulatedClock(0),
        mode="backtest",
    )
    loop.load_history(batch)
    seen: list[Event] = []
    if not late:
        loop.bus.subscribe(BarClosed, seen.append)
    loop.start()
    for i in range(20):
        loop.on_bar(0, i)
    if late:
        loop.bus.subscribe(BarClosed, seen.append)
        for i in range(20, 30):
            loop.on_bar(0, i)
    loop.bus.unsubscribe(BarClosed, seen.append)
    for i in range(30, 40):
        loop.on_bar(0, i)
    assert [e.bar.ts for e in seen] == batch.ts[20 if late else 0 : 30 if late else 20].tolist()
    loop.close()
