"""Timer cycles in paper trading: risk and portfolio are checked while the feed is quiet, and a
timer never splits one timestamp's step across instruments."""

from __future__ import annotations

import asyncio
from typing import Any

from neo.domain import BarBatch
from neo.domain.bar import Bar
from neo.domain.events import TimerFired
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock
from neo.engine.instruments import default_instrument
from neo.engine.paper import Ticker, TimeSteps, build_paper_loop, run_paper
from neo.strategies.registry import create_strategy
from tests.unit.engine.bars import ListFeed, walk
from tests.unit.engine.test_paper_steps import Recorder


class QuietFeed(ListFeed):
    """Two instruments' bars in time order, with a pause of ``quiet_s`` after bar ``pause_at``."""

    def __init__(self, *batches: BarBatch, pause_at: int, quiet_s: float) -> None:
        super().__init__(*batches)
        self.pause_at = pause_at
        self.quiet_s = quiet_s

    async def _bars(self) -> Any:
        for k, bar in enumerate(self.bars()):
            if k == self.pause_at:
                await asyncio.sleep(self.quiet_s)
            yield bar

    def stream(self) -> Any:
        return self._bars()


def test_timer_cycles_run_while_the_feed_is_quiet() -> None:
    a, b = walk(30, seed=1, symbol="AAA/USD"), walk(30, seed=2, symbol="BBB/USD")
    bus = MessageBus()
    fired: list[TimerFired] = []
    bus.subscribe(TimerFired, fired.append)
    book = Recorder()
    feed = QuietFeed(a, b, pause_at=20, quiet_s=0.3)  # a pause between two timestamps
    result = asyncio.run(
        run_paper(
            "sma_cross", feed, portfolio=book, clock=SimulatedClock(0), bus=bus, status=False,
            timer_s=0.01,
        )
    )  # fmt: skip
    assert result.stats.timer_cycles == len(fired) >= 2
    assert result.summary()["timer_cycles"] == len(fired)
    assert len(book.calls) == 30 + len(fired)  # one step per timestamp plus one per timer
    plain = asyncio.run(
        run_paper("sma_cross", feed, portfolio=Recorder(), clock=SimulatedClock(0), status=False)
    )
    assert plain.stats.timer_cycles == 0


def _ticker() -> tuple[Ticker, TimeSteps, Recorder, list[Bar]]:
    a, b = walk(3, seed=1, symbol="AAA/USD"), walk(3, seed=2, symbol="BBB/USD")
    specs = {x.instrument: default_instrument(x.instrument) for x in (a, b)}
    book = Recorder()
    loop = build_paper_loop(
        create_strategy("sma_cross"), specs, a.timeframe, portfolio=book, clock=SimulatedClock(0)
    )
    loop.start()
    steps = TimeSteps(loop)
    return Ticker(loop, steps, 1.0), steps, book, [next(iter(a)), next(iter(b))]


def test_a_due_timer_waits_for_the_step_to_close() -> None:
    ticker, steps, book, (first, second) = _ticker()
    steps.before(first)
    ticker.loop.push_bar(first)
    steps.after(first)  # half the timestamp received
    ticker.tick()
    assert ticker.fired == 0 and ticker.due and book.calls == []  # no step cut in two
    steps.before(second)
    ticker.loop.push_bar(second)
    steps.after(second)  # the step closes: one portfolio call for the timestamp
    ticker.fire_if_due()
    assert ticker.fired == 1 and not ticker.due and len(book.calls) == 2


def test_a_step_open_a_whole_period_is_closed_by_the_timer() -> None:
    ticker, steps, book, (first, _) = _ticker()
    steps.before(first)
    ticker.loop.push_bar(first)
    steps.after(first)  # the other instrument never delivers
    ticker.tick()  # first period: wait
    assert ticker.fired == 0 and book.calls == []
    ticker.tick()  # a whole further period: close the stale step, then the timer cycle
    assert steps.ts is None and ticker.fired == 1 and len(book.calls) == 2
