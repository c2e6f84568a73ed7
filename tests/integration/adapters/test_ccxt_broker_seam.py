"""The broker seam with a real venue: one strategy run through the simulated broker and through
CcxtBroker (the real ccxt client against neo exchange-sim) hands the broker identical orders,
and the sim received every order the exchange broker sent (with NEO's client order ids)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import numpy as np
import pytest

from neo.adapters.ccxt import CcxtBroker, load_instruments, make_exchange
from neo.adapters.ccxt.journal import MemoryJournal
from neo.domain import BarBatch, InstrumentId, Order, Timeframe
from neo.domain.events import OrderSubmitted
from neo.domain.instrument import Instrument
from neo.engine.bus import MessageBus
from neo.engine.clock import SimulatedClock
from neo.engine.paper import run_paper
from neo.exchange_sim import SimHandle
from neo.execution.broker import EventSink
from neo.execution.ledger import Ledger
from tests.integration.adapters.conftest import sim_config
from tests.unit.engine.bars import ListFeed
from tests.unit.engine.test_broker_seam import Recorder, Scripted, _shape

pytestmark = pytest.mark.integration


def _sim_batch(exchange: object, n: int) -> BarBatch:
    rows = np.asarray(exchange.fetch_ohlcv("BTC/USDT", "1m", None, n + 1)[:-1])  # type: ignore[attr-defined]
    return BarBatch.from_arrays(
        InstrumentId("binance", "BTC/USDT"),
        Timeframe.parse("1m"),
        ts=rows[:, 0].astype(np.int64) * 1_000_000,
        open=rows[:, 1],
        high=rows[:, 2],
        low=rows[:, 3],
        close=rows[:, 4],
        volume=rows[:, 5],
    )


def test_one_strategy_gives_the_simulated_and_the_exchange_broker_identical_orders(
    binance_sim: SimHandle,
) -> None:
    exchange = make_exchange("binance", sim_config(binance_sim), credentials=True)
    instruments = load_instruments(exchange, ["BTC/USDT"])
    batch = _sim_batch(exchange, 120)
    bus = MessageBus()
    simulated: list[Order] = []
    bus.subscribe(OrderSubmitted, lambda e: simulated.append(e.order))  # type: ignore[attr-defined]
    asyncio.run(
        run_paper(
            Scripted(),
            ListFeed(batch),
            instruments=instruments,
            bus=bus,
            clock=SimulatedClock(0),
            status=False,
        )
    )
    made: list[Recorder] = []
    brokers: list[CcxtBroker] = []

    def factory(
        specs: Mapping[InstrumentId, Instrument], sink: EventSink, ledger: Ledger
    ) -> Recorder:
        brokers.append(CcxtBroker(exchange, specs, sink, ledger, journal=MemoryJournal(tag="s")))
        made.append(Recorder(brokers[-1]))
        return made[-1]

    live = asyncio.run(
        run_paper(
            Scripted(),
            ListFeed(batch),
            instruments=instruments,
            broker=factory,
            clock=SimulatedClock(0),
            status=False,
        )
    )
    assert len(simulated) > 10
    assert _shape(made[0].submitted) == _shape(simulated)
    assert live.stats.orders_submitted == len(simulated)
    received = [r["client_order_id"] for r in binance_sim.requests() if r["action"] == "create"]
    sent = set(received)
    assert len(received) == len(sent)  # no id sent twice
    journalled = {
        cid
        for cid, row in brokers[0].journal.orders.items()  # type: ignore[attr-defined]
        if row["outcome"] != "intent"
    }
    assert sent <= journalled and len(sent) >= 5  # every order that reached the sim, journalled
    for cid in journalled - sent:  # refused by ccxt before a request left: rejected, not lost
        row = brokers[0].journal.orders[cid]  # type: ignore[attr-defined]
        assert row["status"] == "rejected", (cid, row)
    assert live.fills and all(f.instrument == batch.instrument for f in live.fills)
