from __future__ import annotations

import time

import pytest

from neo.domain.errors import ConfigError
from neo.domain.events import EngineStarted, EngineStopped, Event, TimerFired
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock, WallClock


def test_bus_delivers_by_exact_type_and_to_catch_all_subscribers() -> None:
    bus = MessageBus()
    started: list[Event] = []
    everything: list[Event] = []
    bus.subscribe(EngineStarted, started.append)
    bus.subscribe(Event, everything.append)
    assert bus.has_subscribers(EngineStarted) and bus.has_subscribers(TimerFired)
    first = EngineStarted(ts=1, mode="backtest")
    second = EngineStopped(ts=2)
    bus.publish(first)
    bus.publish(second)
    assert started == [first]
    assert everything == [first, second]
    bus.unsubscribe(EngineStarted, started.append)
    bus.unsubscribe(Event, everything.append)
    bus.unsubscribe(TimerFired, everything.append)  # never subscribed: ignored
    bus.publish(first)
    assert started == [first] and len(everything) == 2
    assert not bus.has_subscribers(EngineStarted)


def test_simulated_clock_moves_forward_only() -> None:
    clock = SimulatedClock(10)
    assert clock.now_ns() == 10
    clock.set(20)
    assert clock.now_ns() == 20
    with pytest.raises(ConfigError, match="cannot go back"):
        clock.set(5)


def test_wall_clock_reads_utc_nanoseconds() -> None:
    before = time.time_ns()
    assert before <= WallClock().now_ns() <= time.time_ns()
