"""StepCollector (neo.engine.collector): garbage collection between a session's steps.

No timing here (speed is measured in bench/): what is checked is that the interpreter's settings
are changed while a session trades and restored after it, that the collections the default
thresholds would run still happen (between steps), and that overlapping sessions share the
settings.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo.data.feeds import SimulatedMarketDataFeed
from neo.engine.collector import THRESHOLDS, YOUNG, StepCollector
from neo.engine.instruments import default_instrument
from neo.engine.journal import FileJournal, session_dir
from neo.engine.live import TradingSession
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext


@pytest.fixture(autouse=True)
def interpreter_gc() -> Iterator[tuple[int, int, int]]:
    """The thresholds before the test; a failing test must not leave them changed."""
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)
    gc.unfreeze()


class Watcher(Strategy):
    """Notes the collector's settings as each bar's cycle sees them."""

    name = "watcher"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[tuple[int, int, int], int]] = []

    def on_bar(self, ctx: StrategyContext) -> None:
        self.seen.append((gc.get_threshold(), gc.get_freeze_count()))
        ctx.target_position(1.0 if ctx.i % 2 == 0 else 0.0)


def _session(data: Path, strategy: Strategy, *, quiet_gc: bool = True) -> TradingSession:
    feed = SimulatedMarketDataFeed(["BTC/USDT"], "1m", n_bars=40, seed=5, venue="sim")
    return TradingSession(
        name="gc", strategy=strategy, feed=feed,
        journal=FileJournal(session_dir(data, f"gc-{quiet_gc}")),
        instruments={iid: default_instrument(iid) for iid in feed.instruments}, quiet_gc=quiet_gc,
    )  # fmt: skip


def test_a_session_trades_with_a_frozen_heap_and_raised_thresholds_then_restores_them(
    tmp_path: Path, interpreter_gc: tuple[int, int, int]
) -> None:
    watcher = Watcher()
    session = _session(tmp_path, watcher)
    try:
        result = asyncio.run(session.run())
    finally:
        session.journal.close()
    assert result.orders > 10
    assert all(threshold == THRESHOLDS and frozen > 0 for threshold, frozen in watcher.seen)
    assert gc.get_threshold() == interpreter_gc and gc.get_freeze_count() == 0


def test_quiet_gc_off_leaves_the_interpreter_alone(
    tmp_path: Path, interpreter_gc: tuple[int, int, int]
) -> None:
    watcher = Watcher()
    session = _session(tmp_path, watcher, quiet_gc=False)
    try:
        asyncio.run(session.run())
    finally:
        session.journal.close()
    assert session.collector is None
    assert {seen for seen in watcher.seen} == {(interpreter_gc, 0)}


def test_after_a_step_the_collections_due_by_the_default_thresholds_run() -> None:
    collector = StepCollector()
    collector.after_step()  # not started: nothing
    assert collector.collections == [0, 0, 0]
    collector.start()
    try:
        collector.after_step()  # just collected: nothing due
        assert collector.collections == [0, 0, 0]
        kept = [[n] for n in range(2 * YOUNG)]  # a step that allocates: a young collection due
        assert gc.get_count()[0] >= YOUNG
        collector.after_step()
        assert collector.collections[0] == 1 and gc.get_count()[0] < YOUNG
        for _ in range(12):  # enough young ones make a middle one due, then an old one
            kept += [[n] for n in range(2 * YOUNG)]
            collector.after_step()
        assert collector.collections[1] >= 1
        assert len(kept) == 26 * YOUNG
    finally:
        collector.stop()


def test_overlapping_sessions_share_the_settings_until_the_last_stops(
    interpreter_gc: tuple[int, int, int],
) -> None:
    first, second = StepCollector(), StepCollector()
    first.start()
    second.start()
    first.start()  # once per session
    first.stop()
    assert gc.get_threshold() == THRESHOLDS and gc.get_freeze_count() > 0
    second.stop()
    second.stop()  # idempotent
    assert gc.get_threshold() == interpreter_gc and gc.get_freeze_count() == 0
