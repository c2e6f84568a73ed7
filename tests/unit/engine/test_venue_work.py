"""VenueBroker.inner_has_work (neo.engine.venue): is an exchange order still open?

Asked before every bar's cycle at a venue. The exchange broker keeps every order of the session;
the answer must stay right while looking only at orders that were new or open at the last look
(a scan of the whole history on every bar made the bar-to-order latency grow with the session).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from neo.domain import InstrumentId, Order, OrderId, OrderStatus, Side
from neo.engine.venue import VenueBroker

BTC = InstrumentId("binance", "BTC/USDT")


class Tracked:
    """An exchange broker's tracked order that counts how often its order is read."""

    reads = 0

    def __init__(self, order: Order) -> None:
        self._order = order

    @property
    def order(self) -> Order:
        Tracked.reads += 1
        return self._order

    @order.setter
    def order(self, order: Order) -> None:
        self._order = order


@dataclass
class Inner:
    tracked: dict[OrderId, Any]
    venue: str = "binance"
    journal: Any = None
    session: str = ""


def _order(n: int, status: OrderStatus) -> Order:
    order = Order(id=OrderId(f"o{n}"), instrument=BTC, side=Side.BUY, quantity=1.0,
                  created_ns=n, updated_ns=n)  # fmt: skip
    for step in (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, status):
        if order.status is not step:
            order = order.transition(step, n)
    return order


def _venue(inner: Inner) -> VenueBroker:
    session = SimpleNamespace(name="s")
    return VenueBroker(session, lambda *_: inner, {}, lambda _e: None, None)  # type: ignore[arg-type]


def test_open_orders_are_found_without_rereading_the_settled_history() -> None:
    inner = Inner({})
    venue = _venue(inner)
    assert not venue.inner_has_work()
    for n in range(500):
        inner.tracked[OrderId(f"o{n}")] = Tracked(_order(n, OrderStatus.FILLED))
    assert not venue.inner_has_work()  # each new order is looked at once...
    Tracked.reads = 0
    for _ in range(10):
        assert not venue.inner_has_work()
    assert Tracked.reads == 0  # ...and a settled one never again

    working = Tracked(_order(500, OrderStatus.ACCEPTED))
    inner.tracked[OrderId("o500")] = working
    assert venue.inner_has_work()
    assert venue.inner_has_work()  # still open: still work
    partly = working._order.transition(OrderStatus.PARTIALLY_FILLED, 501)
    working.order = partly
    Tracked.reads = 0
    assert venue.inner_has_work()
    working.order = partly.transition(OrderStatus.CANCELLED, 502)
    assert not venue.inner_has_work()
    assert not venue.inner_has_work()
    assert Tracked.reads == 2  # only the one open order was read, once, while it was open


def test_an_adopted_open_order_among_settled_ones_is_work() -> None:
    tracked: dict[OrderId, Any] = {
        OrderId(f"o{n}"): Tracked(_order(n, OrderStatus.CANCELLED)) for n in range(5)
    }
    tracked[OrderId("o5")] = Tracked(_order(5, OrderStatus.ACCEPTED))
    tracked[OrderId("o6")] = Tracked(_order(6, OrderStatus.FILLED))
    venue = _venue(Inner(tracked))
    assert venue.inner_has_work()
    tracked[OrderId("o5")].order = tracked[OrderId("o5")].order.transition(OrderStatus.FILLED, 7)
    assert not venue.inner_has_work()
