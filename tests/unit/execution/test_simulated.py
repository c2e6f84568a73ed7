"""The simulated broker's fill model, order by order, with prices worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from neo.domain import (
    Event,
    Instrument,
    InstrumentId,
    LiquiditySide,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    Side,
    TimeInForce,
)
from neo.domain.account import AccountView
from neo.domain.order import next_order_id
from neo.execution import Broker, ExecutionConfig, Ledger, SimulatedBroker, bracket
from neo.execution.ledger import NS_PER_DAY

from .helpers import MINUTE, instrument

SPEC = instrument(taker_fee=0.001, maker_fee=0.0002)
IID = SPEC.id


class Harness:
    """One instrument, driven bar by bar the way the engine drives the broker."""

    def __init__(self, ledger: bool = True, cash: float = 100_000.0, **config: Any) -> None:
        self.events: list[Event] = []
        self.config = ExecutionConfig(cash=cash, **config)
        self.ledger = Ledger(cash, {IID: SPEC}) if ledger else None
        self.broker = SimulatedBroker({IID: SPEC}, self.config, self.events.append, self.ledger)
        self.ts = -MINUTE

    def bar(self, o: float, h: float, lo: float, c: float, v: float = 1_000.0) -> int:
        self.ts += MINUTE
        self.broker.on_bar_open(IID, self.ts, o, h, lo, c, v)
        if self.ledger is not None:
            self.ledger.update_price(IID, c, self.ts)
        return self.ts

    def close(self, c: float) -> None:
        self.broker.on_bar_close(IID, self.ts, c)

    def submit(self, side: Side, quantity: float, **fields: Any) -> Order:
        fraction = fields.pop("_fraction", None)
        order = Order(
            id=next_order_id(), instrument=IID, side=side, quantity=quantity,
            equity_fraction=fraction, **fields,
        )  # fmt: skip
        self.broker.submit(order)
        return order

    def fills(self) -> list[OrderFilled]:
        return [e for e in self.events if isinstance(e, OrderFilled)]

    def last(self, kind: type[Any]) -> Any:
        return [e for e in self.events if isinstance(e, kind)][-1]


def test_market_order_fills_at_next_open_with_taker_fee() -> None:
    h = Harness()
    h.bar(100, 101, 99, 100.5)
    h.submit(Side.BUY, 10)
    h.close(100.5)
    assert [type(e) for e in h.events] == [OrderSubmitted, OrderAccepted]
    assert h.broker.open_orders()[0].status is OrderStatus.ACCEPTED
    ts = h.bar(101, 102, 100, 101.5)
    (filled,) = h.fills()
    assert filled.fill.price == 101 and filled.fill.ts == ts and filled.fill.quantity == 10
    assert filled.fill.fee == pytest.approx(0.001 * 10 * 101)
    assert filled.fill.liquidity is LiquiditySide.TAKER
    assert filled.order.status is OrderStatus.FILLED and filled.order.average_fill_price == 101
    assert h.ledger is not None and h.ledger.position(IID) == 10  # booked before the event
    assert h.broker.open_orders() == []


def test_close_mode_fills_at_this_close() -> None:
    h = Harness(fill="close")
    ts = h.bar(100, 101, 99, 100.5)
    h.submit(Side.SELL, 3)
    h.close(100.5)
    (filled,) = h.fills()
    assert (filled.fill.price, filled.fill.ts, filled.fill.side) == (100.5, ts, Side.SELL)


def test_slippage_and_volume_impact_move_against_the_taker() -> None:
    h = Harness(slippage_bps=10.0, impact="volume", impact_coefficient=0.5)
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 10)
    h.bar(200, 210, 190, 200, v=100.0)
    buy = h.fills()[-1].fill
    assert buy.price == pytest.approx(200 * (1 + 0.001 + 0.5 * 10 / 100))
    h.submit(Side.SELL, 10)
    h.bar(200, 210, 190, 200, v=1_000.0)
    sell = h.fills()[-1].fill
    assert sell.price == pytest.approx(200 * (1 - 0.001 - 0.5 * 10 / 1_000))


def test_fees_bps_overrides_instrument_fees() -> None:
    h = Harness(fees_bps=25.0)
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 4)
    h.bar(50, 50, 50, 50)
    assert h.fills()[0].fill.fee == pytest.approx(0.0025 * 4 * 50)


def test_participation_cap_gives_partial_fills_over_several_bars() -> None:
    h = Harness(participation_cap=0.1)
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 25)
    for _ in range(4):
        h.bar(100, 100, 100, 100, v=100.0)
    fills = h.fills()
    assert [f.fill.quantity for f in fills] == [10, 10, 5]
    assert [f.order.status for f in fills] == [
        OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
    ]  # fmt: skip
    assert fills[-1].order.filled_quantity == 25


def test_zero_volume_bar_fills_nothing_and_keeps_the_order() -> None:
    h = Harness(participation_cap=0.5)
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 5)
    h.bar(100, 100, 100, 100, v=0.0)
    assert h.fills() == [] and len(h.broker.open_orders()) == 1
    h.bar(100, 100, 100, 100, v=20.0)
    assert h.fills()[0].fill.quantity == 5


def test_ioc_and_fok_under_a_volume_cap() -> None:
    h = Harness(participation_cap=0.1)
    h.bar(100, 100, 100, 100)
    ioc = h.submit(Side.BUY, 25, time_in_force=TimeInForce.IOC)
    fok = h.submit(Side.BUY, 25, time_in_force=TimeInForce.FOK)
    ok = h.submit(Side.BUY, 5, time_in_force=TimeInForce.FOK)
    h.bar(100, 100, 100, 100, v=100.0)
    by_order = {e.order.id: e for e in h.events if isinstance(e, OrderFilled | OrderCancelled)}
    assert isinstance(by_order[ioc.id], OrderCancelled)
    assert by_order[ioc.id].order.filled_quantity == 10
    assert isinstance(by_order[fok.id], OrderCancelled)
    assert by_order[fok.id].order.filled_quantity == 0
    assert by_order[ok.id].order.status is OrderStatus.FILLED
    h.submit(Side.BUY, 5, time_in_force=TimeInForce.IOC)
    h.bar(100, 100, 100, 100, v=0.0)
    assert h.last(OrderCancelled).reason == "volume cap"
    assert h.broker.open_orders() == []


def test_buy_limit_rests_then_fills_at_limit_as_maker() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 2, type=OrderType.LIMIT, limit_price=95.0)
    h.bar(99, 100, 96, 98)
    assert h.fills() == []
    h.bar(98, 99, 94, 97)
    fill = h.fills()[0].fill
    assert fill.price == 95.0 and fill.liquidity is LiquiditySide.MAKER
    assert fill.fee == pytest.approx(0.0002 * 2 * 95.0)
    assert h.ledger is not None and h.ledger.fills() == [fill]  # the ledger's columns round-trip


def test_broker_and_ledger_satisfy_the_protocols() -> None:
    h = Harness()
    broker: Broker = h.broker
    assert h.ledger is not None
    view: AccountView = h.ledger
    h.bar(100, 100, 100, 100)
    broker.submit(Order(id=next_order_id(), instrument=IID, side=Side.BUY, quantity=1))
    assert view.open_orders() == broker.open_orders() and len(view.open_orders()) == 1


def test_limit_gap_through_gives_the_better_open() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 1, type=OrderType.LIMIT, limit_price=105.0)  # marketable on arrival
    h.submit(Side.SELL, 1, type=OrderType.LIMIT, limit_price=110.0)
    h.bar(101, 102, 100, 101)
    taker = h.fills()[0].fill
    assert (taker.price, taker.liquidity) == (101.0, LiquiditySide.TAKER)
    h.bar(115, 116, 112, 114)  # the resting sell limit is gapped through
    maker = h.fills()[1].fill
    assert (maker.price, maker.side, maker.liquidity) == (115.0, Side.SELL, LiquiditySide.MAKER)


def test_marketable_limit_slippage_never_beyond_the_limit() -> None:
    h = Harness(slippage_bps=100.0)
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 1, type=OrderType.LIMIT, limit_price=100.5)
    h.bar(100, 101, 99, 100)
    assert h.fills()[0].fill.price == 100.5


def test_stop_orders_trigger_on_high_low() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 1, type=OrderType.STOP, stop_price=103.0)
    h.submit(Side.SELL, 1, type=OrderType.STOP, stop_price=90.0)
    h.bar(100, 102, 98, 101)
    assert h.fills() == []
    h.bar(101, 104, 100, 103)
    assert h.fills()[0].fill.price == 103.0
    h.bar(85, 86, 80, 82)  # gap down through the sell stop: filled at the worse open
    assert h.fills()[1].fill.price == 85.0
    assert all(f.fill.liquidity is LiquiditySide.TAKER for f in h.fills())


def test_stop_limit_becomes_a_limit_once_triggered() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 1, type=OrderType.STOP_LIMIT, stop_price=103.0, limit_price=104.0)
    h.submit(Side.BUY, 1, type=OrderType.STOP_LIMIT, stop_price=103.0, limit_price=103.5)
    h.bar(101, 106, 100, 105)  # both trigger at 103, both within their limits
    assert [f.fill.price for f in h.fills()] == [103.0, 103.0]
    h.submit(Side.SELL, 1, type=OrderType.STOP_LIMIT, stop_price=100.0, limit_price=99.0)
    h.bar(97, 98, 96, 97)  # gaps below the limit: triggered, rests as a limit
    assert len(h.fills()) == 2
    h.bar(98, 99.5, 97, 99)
    late = h.fills()[2].fill
    assert (late.price, late.liquidity) == (99.0, LiquiditySide.MAKER)


def test_bracket_stop_first_when_both_inside_one_bar() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    entry = Order(id=next_order_id(), instrument=IID, side=Side.BUY, quantity=10)
    orders = bracket(entry, stop_loss=95.0, take_profit=105.0)
    for order in orders:
        h.broker.submit(order)
    legs = [o for o in h.broker.open_orders() if o.parent_id == entry.id]
    assert len(legs) == 2
    h.bar(100, 106, 94, 100)  # entry at the open, then both stop and target touched
    fills = h.fills()
    assert [(f.fill.side, f.fill.price) for f in fills] == [(Side.BUY, 100.0), (Side.SELL, 95.0)]
    cancelled = h.last(OrderCancelled)
    assert cancelled.order.tag == "take_profit" and "oco" in cancelled.reason
    assert h.ledger is not None and h.ledger.position(IID) == 0
    assert h.broker.open_orders() == []


def test_bracket_take_profit_cancels_the_stop() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    entry = Order(
        id=next_order_id(), instrument=IID, side=Side.SELL, quantity=3,
        type=OrderType.LIMIT, limit_price=101.0,
    )  # fmt: skip
    for order in bracket(entry, stop_loss=110.0, take_profit=90.0):
        h.broker.submit(order)
    h.bar(100, 102, 80, 85)  # limit entry fills at 101; legs wait for the next bar
    assert [f.fill.price for f in h.fills()] == [101.0]
    h.bar(92, 95, 89, 90)
    assert [f.fill.price for f in h.fills()] == [101.0, 90.0]
    assert h.last(OrderCancelled).order.tag == "stop_loss"


def test_legs_are_cancelled_with_an_unfilled_entry() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    entry = Order(
        id=next_order_id(), instrument=IID, side=Side.BUY, quantity=1,
        type=OrderType.LIMIT, limit_price=50.0,
    )  # fmt: skip
    for order in bracket(entry, stop_loss=40.0):
        h.broker.submit(order)
    h.broker.cancel(entry.id, "changed my mind")
    assert h.broker.open_orders() == []
    reasons = [e.reason for e in h.events if isinstance(e, OrderCancelled)]
    assert reasons[0] == "changed my mind" and "parent" in reasons[1]


def test_reduce_only_is_clipped_or_cancelled() -> None:
    for with_ledger in (True, False):
        h = Harness(ledger=with_ledger)
        h.bar(100, 100, 100, 100)
        h.submit(Side.SELL, 5, reduce_only=True)
        h.bar(100, 100, 100, 100)
        assert "reduce-only" in h.last(OrderCancelled).reason
        h.submit(Side.BUY, 3)
        h.bar(100, 100, 100, 100)
        h.submit(Side.SELL, 5, reduce_only=True)
        h.bar(100, 100, 100, 100)
        assert h.fills()[-1].fill.quantity == 3
        assert h.broker.position(IID) == 0
        assert h.broker.open_orders() == []  # the unfillable remainder was cancelled


def test_gtd_and_day_orders_expire() -> None:
    h = Harness()
    h.ts = NS_PER_DAY - 4 * MINUTE  # the first bar opens at 23:57
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 1, type=OrderType.LIMIT, limit_price=50.0, time_in_force=TimeInForce.DAY)
    gtd = h.submit(
        Side.BUY, 1, type=OrderType.LIMIT, limit_price=50.0, time_in_force=TimeInForce.GTD,
        expire_ns=h.ts + 2 * MINUTE,
    )  # fmt: skip
    h.bar(100, 100, 100, 100)
    assert not [e for e in h.events if isinstance(e, OrderExpired)]
    h.bar(100, 100, 100, 100)  # ts == expire_ns: the GTD order is done
    assert h.last(OrderExpired).order.id == gtd.id
    h.bar(100, 100, 100, 100)  # a new UTC day
    assert h.last(OrderExpired).order.time_in_force is TimeInForce.DAY
    assert h.broker.open_orders() == []


def test_ioc_limit_that_cannot_fill_is_cancelled() -> None:
    h = Harness()
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 1, type=OrderType.LIMIT, limit_price=90.0, time_in_force=TimeInForce.IOC)
    h.bar(100, 100, 99, 100)
    assert h.last(OrderCancelled).reason == "not immediately fillable"


@pytest.mark.parametrize(
    ("kwargs", "fraction", "ledger", "message"),
    [
        ({"quantity": 1.5}, None, True, "lot size"),
        ({"quantity": 1.0, "instrument": InstrumentId("sim", "XRP/USDT")}, None, True, "unknown"),
        ({"quantity": 1.0}, 0.5, False, "needs a broker created with a ledger"),
        ({"quantity": 1.0}, 1.5, True, "equity_fraction must be"),
    ],
)
def test_rejections_say_how_to_fix(
    kwargs: dict[str, Any], fraction: float | None, ledger: bool, message: str
) -> None:
    h = Harness(ledger=ledger)
    fields = {"id": next_order_id(), "instrument": IID, "side": Side.BUY, **kwargs}
    h.broker.submit(Order(**fields, equity_fraction=fraction))
    rejected = h.last(OrderRejected)
    assert message in rejected.reason and rejected.order.status is OrderStatus.REJECTED
    assert h.broker.open_orders() == []


def test_min_quantity_rejected() -> None:
    spec = Instrument.simple("BTC/USDT", lot_size=0.1, min_quantity=1.0)
    events: list[Event] = []
    broker = SimulatedBroker({spec.id: spec}, ExecutionConfig(), events.append)
    broker.submit(Order(id=next_order_id(), instrument=spec.id, side=Side.BUY, quantity=0.5))
    assert isinstance(events[-1], OrderRejected) and "minimum" in events[-1].reason


def test_cancel_cancel_all_and_open_orders() -> None:
    h = Harness()
    other = Instrument.simple("ETH/USDT", lot_size=1.0)
    broker = SimulatedBroker({IID: SPEC, other.id: other}, h.config, h.events.append)
    a = Order(id=next_order_id(), instrument=IID, side=Side.BUY, quantity=1)
    b = Order(id=next_order_id(), instrument=other.id, side=Side.BUY, quantity=1)
    broker.submit(a)
    broker.submit(b)
    assert [o.id for o in broker.open_orders()] == [a.id, b.id]
    assert [o.id for o in broker.open_orders(other.id)] == [b.id]
    broker.cancel(next_order_id())  # unknown: ignored
    broker.cancel_all(other.id, "flatten")
    assert [o.id for o in broker.open_orders()] == [a.id]
    broker.cancel_all()
    assert broker.open_orders() == []
    assert h.last(OrderCancelled).reason == "cancelled"


def test_equity_fraction_sizes_at_fill_time() -> None:
    h = Harness(cash=10_000.0)
    h.bar(100, 100, 100, 100)
    h.submit(Side.BUY, 1, _fraction=0.5)
    h.bar(100, 100, 100, 100)
    fill = h.fills()[0].fill
    assert fill.quantity == (0.5 * 10_000.0) // (100 + 0.001 * 100) == 49
    assert h.fills()[0].order.status is OrderStatus.FILLED
    poor = Harness(cash=10.0)
    poor.bar(100, 100, 100, 100)
    poor.submit(Side.BUY, 1, _fraction=1.0)
    poor.bar(100, 100, 100, 100)
    assert "insufficient equity" in poor.last(OrderCancelled).reason


def test_equity_fraction_with_fractional_lots() -> None:
    spec = Instrument.simple("BTC/USDT", lot_size=0.01, taker_fee=0.0)
    ledger = Ledger(1_000.0, {spec.id: spec})
    events: list[Event] = []
    broker = SimulatedBroker({spec.id: spec}, ExecutionConfig(), events.append, ledger)
    broker.submit(
        Order(
            id=next_order_id(),
            instrument=spec.id,
            side=Side.SELL,
            quantity=1.0,
            equity_fraction=1.0,
        )
    )
    broker.on_bar_open(spec.id, 0, 300.0, 300.0, 300.0, 300.0, 10.0)
    assert ledger.position(spec.id) == -3.33


def test_time_only_moves_forward() -> None:
    h = Harness()
    h.broker.set_time(50)
    h.broker.set_time(10)
    assert h.broker.now == 50
    assert h.broker.config is h.config and h.broker.ledger is h.ledger


def test_finished_order_cannot_be_resubmitted() -> None:
    h = Harness()
    order = h.submit(Side.BUY, 1)
    accepted = h.last(OrderAccepted).order
    assert accepted.id == order.id
    from neo.domain import InvalidOrderTransitionError

    with pytest.raises(InvalidOrderTransitionError):
        h.broker.submit(accepted)


def test_close_mode_cap_uses_the_bars_volume() -> None:
    h = Harness(fill="close", participation_cap=0.1)
    h.bar(100, 100, 100, 100, v=50.0)
    h.submit(Side.BUY, 12)
    h.close(100)  # volume 50 seen at this bar's open: 5 fill now
    h.bar(100, 100, 100, 101, v=30.0)
    h.broker.on_bar_close(IID, h.ts, 101.0, volume=70.0)  # an explicit volume wins: 7 more
    assert [f.fill.quantity for f in h.fills()] == [5, 7]
    assert [f.fill.price for f in h.fills()] == [100.0, 101.0]


def test_close_mode_without_a_bar_open_fills_uncapped() -> None:
    events: list[Event] = []
    broker = SimulatedBroker(
        {IID: SPEC}, ExecutionConfig(fill="close", participation_cap=0.1), events.append
    )
    broker.set_time(MINUTE)  # the engine skipped on_bar_open: no working order then
    broker.submit(Order(id=next_order_id(), instrument=IID, side=Side.BUY, quantity=9))
    broker.on_bar_close(IID, MINUTE, 100.0)
    (filled,) = [e for e in events if isinstance(e, OrderFilled)]
    fill = filled.fill
    assert (fill.quantity, fill.price, fill.ts) == (9, 100.0, MINUTE)


def test_numpy_scalars_from_bar_arrays_still_serialise() -> None:
    import numpy as np

    from neo.domain import decode_event, encode_event

    for mode in ("next_open", "close"):
        h = Harness(fill=mode)
        ts = np.arange(2, dtype=np.int64) * MINUTE
        price = np.array([100.0, 101.0])
        for i in range(2):
            h.broker.on_bar_open(IID, ts[i], price[i], price[i], price[i], price[i], price[i])
            if i == 0:
                h.submit(Side.BUY, 1)
            h.broker.on_bar_close(IID, ts[i], price[i])
        assert len(h.fills()) == 1
        for event in h.events:
            assert decode_event(encode_event(event)) == event
