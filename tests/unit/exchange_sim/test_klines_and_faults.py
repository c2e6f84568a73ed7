"""Kline aggregation and windows, and the fault queue, without a server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from neo.exchange_sim.engine import EngineConfig, SimEngine
from neo.exchange_sim.faults import HTTP_FAULTS, Fault, FaultQueue, FaultSpecError, parse_fault
from neo.exchange_sim.klines import aggregate_range, group_bar, kline_interval_ms

MINUTE = 60_000


@pytest.fixture(scope="module")
def sim() -> SimEngine:
    return SimEngine(EngineConfig(seed=1, history_bars=100))


def test_interval_must_be_a_whole_number_of_bars() -> None:
    assert kline_interval_ms("5m", MINUTE) == 5 * MINUTE
    assert kline_interval_ms("1m", 5 * MINUTE) is None
    assert kline_interval_ms("7m", MINUTE) is None


def test_a_group_aggregates_its_bars(sim: SimEngine) -> None:
    bars = sim.paths["BTC/USDT"].bars[10:15]
    group = group_bar(sim, "BTC/USDT", 2, 5)
    assert group.open_ms == bars[0].open_ms and group.open == bars[0].open
    assert group.close == bars[-1].close
    assert group.high == max(b.high for b in bars) and group.low == min(b.low for b in bars)
    assert group.volume == sum((b.volume for b in bars), Decimal(0))
    forming = group_bar(sim, "BTC/USDT", 100, 1)
    assert forming.volume == 0 and forming.open == forming.close == sim.last_price("BTC/USDT")


def test_windows_follow_binance_rules(sim: SimEngine) -> None:
    start = sim.config.start_ms
    latest = aggregate_range(sim, "BTC/USDT", MINUTE, None, None, 10)
    assert [b.index for b in latest] == list(range(91, 101))  # the last one is forming
    first = aggregate_range(sim, "BTC/USDT", MINUTE, start + 1, None, 3)
    assert [b.index for b in first] == [1, 2, 3]  # a start between opens rounds up
    ending = aggregate_range(sim, "BTC/USDT", MINUTE, None, start + 20 * MINUTE, 5)
    assert [b.index for b in ending] == [16, 17, 18, 19, 20]
    assert aggregate_range(sim, "BTC/USDT", MINUTE, start + 10**9, None, 5) == []
    hourly = aggregate_range(sim, "BTC/USDT", 60 * MINUTE, start, None, 10)
    assert [b.index for b in hourly] == [0, 1]


def test_parse_fault_validates() -> None:
    fault = parse_fault({"kind": "5xx", "path": "/api/*", "count": 2, "status": 502})
    assert (fault.kind, fault.path, fault.count, fault.status) == ("5xx", "/api/*", 2, 502)
    for bad in ([], {"kind": "boom"}, {"kind": "429", "count": 0},
                {"kind": "5xx", "status": 404}, {"kind": "429", "count": "x"}):  # fmt: skip
        with pytest.raises(FaultSpecError):
            parse_fault(bad)


def test_the_queue_serves_matching_faults_first_in_first_out() -> None:
    queue = FaultQueue()
    queue.add(Fault("429", path="/a", count=2))
    queue.add(Fault("5xx", path="/a"))
    queue.add(Fault("418", path="/b", method="POST"))
    assert queue.take("GET", "/b", HTTP_FAULTS) is None  # wrong method
    kinds = [getattr(queue.take("GET", "/a", HTTP_FAULTS), "kind", None) for _ in range(4)]
    assert kinds == ["429", "429", "5xx", None]
    assert getattr(queue.take("post", "/b", HTTP_FAULTS), "kind", None) == "418"
    assert queue.pending == [] and len(queue.fired) == 4
