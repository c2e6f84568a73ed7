"""Stale data stops new entries and raises ``neo_data_stale``: the real ccxt client's websocket
feed against neo exchange-sim, stalled by the sim's ``ws_stall`` fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from neo.adapters.ccxt import CcxtBarFeed, ExchangeConfig, load_instruments, make_exchange
from neo.adapters.ccxt.ratelimit import Backoff
from neo.domain import Bar
from neo.domain.enums import Side
from neo.domain.order import Order, next_order_id
from neo.exchange_sim import SimHandle
from neo.execution.ledger import Ledger
from neo.risk import PreTradeRiskGate, RiskConfig
from tests.integration.adapters.conftest import sim_config
from tests.unit.risk.fakes import FakeAccount

pytestmark = pytest.mark.integration
MINUTE_MS = 60_000


def _metric(name: str, instrument: str) -> float | None:
    from prometheus_client import REGISTRY

    value: float | None = REGISTRY.get_sample_value(name, {"instrument": instrument})
    return value


async def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_stall_stops_new_entries_raises_the_metric_and_both_recover(
    binance_sim: SimHandle,
) -> None:
    pytest.importorskip("prometheus_client")
    from neo.service.telemetry import data_staleness_observed

    now = [1_000.0]  # the feed's receipt clock: two 1m bars of silence without waiting 2 min
    exchange = make_exchange("binance", sim_config(binance_sim), asynchronous=True)
    feed = CcxtBarFeed(
        exchange, ["BTC/USDT"], "1m", heartbeat_s=0.6, clock=lambda: now[0],
        backoff=Backoff(base_s=0.05, cap_s=0.2, seed=3), on_stale=data_staleness_observed,
    )  # fmt: skip
    sync = make_exchange("binance", sim_config(binance_sim))
    instruments = load_instruments(sync, ["BTC/USDT"])
    iid = feed.instruments[0]
    assert iid in instruments
    gate = PreTradeRiskGate(RiskConfig(), None, instruments, staleness=feed)
    ledger = Ledger(100_000.0, instruments)
    bars: list[Bar] = []

    def entry() -> Order:
        return Order(id=next_order_id("T"), instrument=iid, side=Side.BUY, quantity=0.01)

    async def next_bar() -> Bar:
        seen = len(bars)
        for _ in range(20):  # the socket may still be reconnecting: advance until a bar comes
            await asyncio.to_thread(binance_sim.advance, 1)
            try:
                await _until(lambda: len(bars) > seen, "a bar", timeout=1.5)
            except AssertionError:
                continue
            bar = bars[-1]
            ledger.update_price(iid, bar.close, bar.ts)
            return bar
        raise AssertionError("no bar arrived")

    async def scenario() -> None:
        await next_bar()
        assert gate.check(entry(), ledger).approved
        assert _metric("neo_data_stale", str(iid)) in (None, 0.0)

        binance_sim.add_fault("ws_stall", "*")
        now[0] += 121.0  # two bar lengths and a second with no bar
        await _until(lambda: _metric("neo_data_stale", str(iid)) == 1.0, "the stale metric")
        verdict = gate.check(entry(), ledger)
        assert not verdict.approved and verdict.code == "stale_data"
        assert gate.counters["stale_data"] == 1
        assert (_metric("neo_data_staleness_seconds", str(iid)) or 0.0) > 120.0

        await next_bar()  # the feed reconnects (heartbeat), back-fills, and the sim goes on
        await _until(lambda: _metric("neo_data_stale", str(iid)) == 0.0, "fresh data")
        assert gate.check(entry(), ledger).approved
        assert feed.stats.heartbeats_missed >= 1

    async def main() -> None:
        async def consume() -> None:
            async for bar in feed.stream():
                bars.append(bar)

        task = asyncio.create_task(consume())
        try:
            async with asyncio.timeout(40):
                await scenario()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await exchange.close()

    asyncio.run(main())


def test_a_bar_arriving_more_than_two_bars_late_is_stale_for_the_engine() -> None:
    """A back-filled gap: bars whose close the venue's newest bar is more than two bars past
    when they arrive are judged stale at the engine time of that bar; later ones are not."""
    exchange = make_exchange("binance", _dead(), asynchronous=True)
    feed = CcxtBarFeed(exchange, ["BTC/USDT"], "1m")
    iid = feed.instruments[0]
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS
    rows: list[list[Any]] = [[t0 + k * MINUTE_MS, 1.0, 1.0, 1.0, 1.0, 1.0] for k in range(6)]
    feed._take(feed.series["BTC/USDT"], rows, backfill=True)
    assert feed.stats.bars == 5  # the sixth is still forming: the venue's clock is at it
    late = [feed.is_stale(iid, (t0 + k * MINUTE_MS) * 1_000_000) for k in range(5)]
    assert late == [True, True, False, False, False]
    assert not feed.is_stale(iid)  # by receipt it is fresh
    gate = PreTradeRiskGate(RiskConfig(), None, staleness=feed)
    account = FakeAccount(ts=t0 * 1_000_000)  # deciding on the first (late) bar
    account.mark(iid, 1.0)
    order = Order(id=next_order_id("T"), instrument=iid, side=Side.BUY, quantity=1.0)
    assert gate.check(order, account).code == "stale_data"
    account.ts = (t0 + 2 * MINUTE_MS) * 1_000_000  # on a bar that came in time
    assert gate.check(order, account).approved
    asyncio.run(exchange.close())


def _dead() -> ExchangeConfig:
    return ExchangeConfig(url="http://127.0.0.1:9", api_key=SecretStr("k"), secret=SecretStr("s"))


def test_exchange_sessions_gate_entries_on_their_feeds_staleness(tmp_path: Path) -> None:
    """``neo live`` / ``neo paper --feed exchange:`` build their gate and feed this way: the
    feed reports to the metrics, the gate reads the feed."""
    pytest.importorskip("prometheus_client")
    from neo.app.live import exchange_feed, exchange_gate
    from neo.service.telemetry import data_staleness_observed
    from neo.settings import load_settings

    settings = load_settings(data_dir=tmp_path)
    feed, _ = exchange_feed(settings, "binance", "http://127.0.0.1:9", ["BTC/USDT"], "1m", 0, 0)
    try:
        assert feed.on_stale is data_staleness_observed
        gate = exchange_gate(settings, {}, feed, keep_basis=False)
        assert gate.staleness is feed
        feed.series["BTC/USDT"].received -= 121.0  # two 1m bars and a second ago
        account = FakeAccount()
        account.mark(feed.instruments[0], 1.0)
        order = Order(id=next_order_id("T"), instrument=feed.instruments[0], side=Side.BUY,
                      quantity=1.0)  # fmt: skip
        assert gate.check(order, account).code == "stale_data"
    finally:
        asyncio.run(feed.exchange.close())
