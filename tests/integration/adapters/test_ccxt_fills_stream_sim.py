"""Our own fills over the websocket (ccxt.pro ``watch_my_trades``, unmodified) against the sim.

The sim pushes Binance's ``executionReport`` for every fill on its user data stream; the
fills stream hands each trade to the inbox, which is drained into the exchange broker's one
fill path (``CcxtBroker.on_trade``), so de-duplication by trade id and the overfill refusal
are the ones REST fills meet. Every wait is on a condition with a timeout, never a bare sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from neo.adapters.ccxt import make_exchange
from neo.adapters.ccxt.fills_stream import CcxtFillStream, FillInbox
from neo.adapters.ccxt.ratelimit import Backoff
from neo.domain import Order, OrderStatus, OrderType, Side
from neo.domain.events import OrderFilled
from neo.domain.order import next_order_id
from neo.exchange_sim import SimHandle
from neo.exchange_sim.faults import parse_fault
from tests.integration.adapters.conftest import SYMBOL, Rig, received, sim_config

pytestmark = pytest.mark.integration
T = TypeVar("T")
USER_PATH = "/ws-api/v3"


async def until(condition: Callable[[], bool], timeout: float = 8.0) -> None:
    """Wait for ``condition`` (checked every 10 ms) or fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Streamed:
    """A fills stream on its own async ccxt.pro client, running beside the test's body."""

    def __init__(self, sim: SimHandle, rig: Rig, heartbeat_s: float = 5.0) -> None:
        self.sim = sim
        self.rig = rig
        self.client = make_exchange(
            sim.dialect, sim_config(sim), asynchronous=True, credentials=True
        )
        self.inbox = FillInbox()
        self.seen: list[tuple[str, str]] = []
        inbox_put = self.inbox.put

        def put(trade: dict[str, Any], source: str) -> None:
            self.seen.append((str(trade["id"]), source))
            inbox_put(trade, source)

        self.inbox.put = put  # type: ignore[method-assign]  # records what arrived, and how
        self.stream = CcxtFillStream(
            self.client, [SYMBOL], self.inbox, heartbeat_s=heartbeat_s, poll_s=0.05,
            backoff=Backoff(base_s=0.02, cap_s=0.1, ban_s=0.1, seed=1),
        )  # fmt: skip

    def run(self, body: Callable[[], Awaitable[T]]) -> T:
        async def main() -> T:
            task = asyncio.create_task(self.stream.run())
            try:
                return await body()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await self.client.close()
                self.rig.exchange.close()  # its pooled sockets now, not at some later gc

        return asyncio.run(main())


def resting_buy(rig: Rig, quantity: float) -> Order:
    """A limit buy just under the last price: it rests, and fills on a bar that dips to it."""
    last = float(rig.sim.engine.last_price(SYMBOL))
    return Order(
        id=next_order_id(), instrument=rig.instrument, side=Side.BUY, quantity=quantity,
        type=OrderType.LIMIT, limit_price=round(last * 0.9995, 2),
    )  # fmt: skip


def advance_until_filled(sim: SimHandle, at_least: Decimal, *, before: Any = None) -> None:
    """On the sim's loop: run ``before`` (a fault), then close bars until the first order has
    filled ``at_least`` (one call, so nothing can happen between the two)."""

    def go() -> None:
        if before is not None:
            before()
        order = sim.sim.engine.orders[0]
        for _ in range(500):
            if order.filled >= at_least:
                return
            sim.sim.advance(1)
        raise AssertionError("the order never filled")

    sim.call(go)


def fault_now(sim: SimHandle, kind: str) -> Callable[[], None]:
    def apply() -> None:
        sim.sim.faults.add(parse_fault({"kind": kind, "path": USER_PATH}))
        for connection in list(sim.sim.ws_connections):
            connection.check_faults()

    return apply


def journal_fills(rig: Rig) -> list[tuple[str, str]]:
    """(trade id, source) of every fill the broker journalled, in order."""
    return [(info["trade_id"], info["source"]) for kind, _, info in rig.journal.entries
            if kind == "fill"]  # fmt: skip


def counted(rig: Rig) -> list[int]:
    """Counts the broker's REST my-trades polls (a list: its length)."""
    calls: list[int] = []
    original = rig.exchange.fetch_my_trades

    def fetch_my_trades(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    rig.exchange.fetch_my_trades = fetch_my_trades
    return calls


def test_a_fill_arrives_over_the_websocket_before_any_rest_poll_and_is_booked_once(
    binance_sim: SimHandle, rig_factory: Callable[..., Rig]
) -> None:
    rig = rig_factory(binance_sim)
    rest_polls = counted(rig)
    order = resting_buy(rig, 0.01)
    rig.broker.submit(order)
    assert binance_sim.orders()[0]["status"] == "open"
    streamed = Streamed(binance_sim, rig)

    async def body() -> None:
        await until(streamed.stream.subscribed.is_set)
        advance_until_filled(binance_sim, Decimal("0.01"))
        await until(lambda: len(streamed.inbox) >= 1)
        assert rest_polls == []  # nothing asked over REST: the socket told us
        assert streamed.inbox.drain(rig.broker.on_trade) == 1
        rig.broker.poll()  # the same trade over REST now: applied once
        rig.broker.poll()

    streamed.run(body)
    (sim_fill,) = binance_sim.fills()
    assert journal_fills(rig) == [(str(sim_fill["trade_id"]), "ws")]
    assert rest_polls  # REST did see it, as a duplicate
    assert [type(e).__name__ for e in rig.events].count("OrderFilled") == 1
    assert rig.broker.tracked[order.id].order.status is OrderStatus.FILLED
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(binance_sim, 0.01))


def test_a_partial_fill_then_cancel_records_the_filled_amount_only_over_the_websocket(
    binance_sim: SimHandle, rig_factory: Callable[..., Rig]
) -> None:
    binance_sim.set_max_fill_per_bar("0.004")
    rig = rig_factory(binance_sim)
    order = resting_buy(rig, 0.01)
    rig.broker.submit(order)
    streamed = Streamed(binance_sim, rig)

    async def body() -> None:
        await until(streamed.stream.subscribed.is_set)
        advance_until_filled(binance_sim, Decimal("0.004"))
        await until(lambda: len(streamed.inbox) >= 1)
        streamed.inbox.drain(rig.broker.on_trade)
        tracked = rig.broker.tracked[order.id]
        assert tracked.order.status is OrderStatus.PARTIALLY_FILLED
        rig.broker.cancel(order.id)

    streamed.run(body)
    (placed,) = binance_sim.orders()
    assert placed["status"] == "canceled" and Decimal(placed["filled"]) == Decimal("0.004")
    (sim_fill,) = binance_sim.fills()
    assert journal_fills(rig) == [(str(sim_fill["trade_id"]), "ws")]
    final = rig.broker.tracked[order.id].order
    assert final.status is OrderStatus.CANCELLED
    assert final.filled_quantity == pytest.approx(0.004)
    fills = [e.fill for e in rig.events if isinstance(e, OrderFilled)]
    assert sum(f.quantity for f in fills) == pytest.approx(0.004)


@pytest.mark.parametrize("fault", ["ws_cut", "ws_stall"])
def test_fills_made_while_the_socket_is_down_are_backfilled_after_it_reconnects_none_doubled(
    binance_sim: SimHandle, rig_factory: Callable[..., Rig], fault: str
) -> None:
    """A cut socket closes at once; a stalled one answers nothing (not even pings) and is
    found by the heartbeat. Either way the fill it never delivered comes by the REST back-fill
    after the reconnect, and the next fill over the new socket."""
    binance_sim.set_max_fill_per_bar("0.01")
    rig = rig_factory(binance_sim)
    order = resting_buy(rig, 0.03)
    rig.broker.submit(order)
    streamed = Streamed(binance_sim, rig, heartbeat_s=0.6)
    stats = streamed.stream.stats

    async def body() -> None:
        await until(streamed.stream.subscribed.is_set)
        # the fault and the fill in one step on the sim: the socket cannot deliver it
        advance_until_filled(binance_sim, Decimal("0.01"), before=fault_now(binance_sim, fault))
        await until(lambda: stats.reconnects >= 1 and len(streamed.inbox) >= 1)
        await until(streamed.stream.subscribed.is_set)
        advance_until_filled(binance_sim, Decimal("0.02"))
        await until(lambda: len(streamed.seen) >= 2)
        streamed.inbox.drain(rig.broker.on_trade)
        rig.broker.poll()  # and REST: nothing new

    streamed.run(body)
    first, second = (str(f["trade_id"]) for f in binance_sim.fills())
    assert streamed.seen[0] == (first, "rest")  # back-filled over REST after the reconnect
    assert (second, "ws") in streamed.seen  # the new socket delivers the next one
    assert journal_fills(rig) == [(first, "rest"), (second, "ws")]  # each once
    assert rig.broker.tracked[order.id].order.filled_quantity == pytest.approx(0.02)
    if fault == "ws_stall":  # found by the missing pongs, not by a closed socket
        assert stats.heartbeats_missed >= 1


def test_without_a_websocket_for_my_trades_the_stream_polls_them_over_rest(
    kraken_sim: SimHandle, rig_factory: Callable[..., Rig]
) -> None:
    """Kraken's websocket is not served by the sim: the stream falls back to REST polls."""
    rig = rig_factory(kraken_sim)
    order = resting_buy(rig, 0.01)
    rig.broker.submit(order)
    streamed = Streamed(kraken_sim, rig)

    async def body() -> None:
        advance_until_filled(kraken_sim, Decimal("0.01"))
        await until(lambda: len(streamed.inbox) >= 1)
        streamed.inbox.drain(rig.broker.on_trade)

    streamed.run(body)
    assert streamed.stream.mode == "poll"
    assert [source for _, source in journal_fills(rig)] == ["rest"]
    assert rig.broker.tracked[order.id].order.status is OrderStatus.FILLED
