"""DurableRecorder on both backends: a real event-driven run recorded as it happens, and a
ledger restored from the records equal to the run's own."""

from __future__ import annotations

import math

import pytest

from neo.data.feeds.simulated import simulate_bars
from neo.domain.enums import OrderStatus
from neo.domain.errors import PersistenceError
from neo.domain.events import OrderFilled, PositionChanged
from neo.engine.backtest import BacktestResult, run_backtest
from neo.engine.bus import MessageBus
from neo.engine.instruments import default_instrument
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import Ledger
from neo.persistence import Database, DurableRecorder, restore_ledger


def recorded_run(db: Database, n_bars: int = 500) -> tuple[BacktestResult, DurableRecorder]:
    session = db.sessions.create("paper", "paper:test", "sma_cross", session_id="rec1")
    bars = simulate_bars(["BTC/USDT"], "1m", n_bars, seed=7)
    bus = MessageBus()
    recorder = DurableRecorder(db, session.id).attach(bus)
    result = run_backtest("sma_cross", bars, params={"fast": 5, "slow": 20}, bus=bus)
    return result, recorder


def test_every_order_fill_and_position_is_recorded(db: Database) -> None:
    result, recorder = recorded_run(db)
    assert len(result.fills) >= 10  # the run traded: the comparison below means something
    fills = db.orders.fills(session_id="rec1")
    assert len(fills) == len(result.fills)
    for stored, fill in zip(fills, result.fills, strict=True):
        assert (stored.side, stored.quantity, stored.price, stored.fee, stored.ts_ns) == (
            str(fill.side),
            fill.quantity,
            fill.price,
            fill.fee,
            fill.ts,
        )
        assert stored.trade_id == f"{stored.client_order_id}:{fill.trade_id}"
        assert recorder.client_order_id(fill.order_id) == stored.client_order_id
    orders = db.orders.orders(session_id="rec1")
    assert len(orders) == len(result.orders)
    by_engine_id = {o.engine_order_id: o for o in orders}
    for order in result.orders:
        stored = by_engine_id[order.id]
        assert stored.status == str(order.status)
        assert stored.filled_quantity == pytest.approx(order.filled_quantity, rel=1e-12)
        assert stored.quantity == order.quantity  # equity-sized orders: the size they got
        assert stored.outcome == ("final" if order.status.is_terminal else "acknowledged")
    [position] = db.positions.list("paper:test")
    final = result.positions[position.to_position().instrument][-1]
    assert position.quantity == pytest.approx(final, abs=1e-12)


def test_restore_ledger_reproduces_the_run(db: Database) -> None:
    result, _ = recorded_run(db)
    instrument = next(iter(result.positions))
    ledger = Ledger(ExecutionConfig().cash, {instrument: default_instrument(instrument)})
    restored = restore_ledger(db, ledger, session_id="rec1")
    assert restored.fills == len(result.fills)
    assert ledger.cash == pytest.approx(result.cash[-1], rel=1e-12)
    assert ledger.position(instrument) == pytest.approx(result.positions[instrument][-1])
    assert ledger.fees == pytest.approx(result.fees, rel=1e-12)
    assert len(ledger.trades()) == len(result.trades)
    assert restored.corrected == ()  # by session: positions are the account's, left alone
    with pytest.raises(PersistenceError, match="fresh ledger"):
        restore_ledger(db, ledger, session_id="rec1")
    with pytest.raises(PersistenceError, match="exactly one"):
        restore_ledger(db, Ledger(1000.0, {}))


def test_restore_by_account_corrects_a_stale_position(db: Database) -> None:
    result, _ = recorded_run(db)
    instrument = next(iter(result.positions))
    from neo.domain.position import Position

    db.positions.save("paper:test", Position(instrument=instrument, quantity=123.0))  # stale
    ledger = Ledger(ExecutionConfig().cash, {})
    restored = restore_ledger(db, ledger, account="paper:test")
    assert restored.corrected == (instrument,)
    stored = db.positions.get("paper:test", instrument)
    assert stored is not None
    assert stored.quantity == pytest.approx(result.positions[instrument][-1], abs=1e-12)


def test_replayed_events_are_recorded_once(db: Database) -> None:
    events: list[object] = []
    session = db.sessions.create("paper", "paper:test", "sma_cross", session_id="rec2")
    bus = MessageBus()
    recorder = DurableRecorder(db, session.id).attach(bus)
    bus.subscribe(OrderFilled, events.append)
    bus.subscribe(PositionChanged, events.append)
    bars = simulate_bars(["BTC/USDT"], "1m", 300, seed=3)
    run_backtest("sma_cross", bars, params={"fast": 5, "slow": 20}, bus=bus)
    before = len(db.orders.fills(session_id="rec2"))
    assert before > 0
    for event in events:  # a stream that delivers everything a second time
        recorder.on_event(event)  # type: ignore[arg-type]
    assert len(db.orders.fills(session_id="rec2")) == before
    recorder.detach(bus)
    assert not bus.has_subscribers(OrderFilled) or events  # the recorder is gone
    filled = [o for o in db.orders.orders(session_id="rec2") if o.status == OrderStatus.FILLED]
    assert all(math.isclose(o.filled_quantity, o.quantity, rel_tol=1e-9) for o in filled)


def test_cancel_reject_expire_and_broker_sized_orders(db: Database) -> None:
    from neo.domain.enums import Side
    from neo.domain.events import (
        OrderAccepted,
        OrderCancelled,
        OrderExpired,
        OrderRejected,
        OrderSubmitted,
    )
    from neo.domain.fill import Fill
    from neo.domain.ids import InstrumentId, OrderId, TradeId
    from neo.domain.order import Order

    db.sessions.create("paper", "paper:test", "x", session_id="ev")
    bus = MessageBus()
    recorder = DurableRecorder(db, "ev").attach(bus)
    btc = InstrumentId("sim", "BTC/USDT")

    def new(order_id: str, **extra: object) -> Order:
        return Order(id=OrderId(order_id), instrument=btc, side=Side.BUY, quantity=1.0, **extra)  # type: ignore[arg-type]

    cancelled = new("O-1").transition(OrderStatus.SUBMITTED, 1)
    bus.publish(OrderSubmitted(ts=1, order=cancelled))
    cancelled = cancelled.transition(OrderStatus.ACCEPTED, 1)
    bus.publish(OrderAccepted(ts=1, order=cancelled))
    bus.publish(
        OrderCancelled(ts=2, order=cancelled.transition(OrderStatus.CANCELLED, 2), reason="user")
    )
    rejected = new("O-2").transition(OrderStatus.SUBMITTED, 3)
    bus.publish(OrderSubmitted(ts=3, order=rejected))
    bus.publish(
        OrderRejected(
            ts=3, order=rejected.transition(OrderStatus.REJECTED, 3, "no money"), reason="no money"
        )
    )
    expired = new("O-3").transition(OrderStatus.SUBMITTED, 4).transition(OrderStatus.ACCEPTED, 4)
    bus.publish(OrderExpired(ts=5, order=expired.transition(OrderStatus.EXPIRED, 5)))  # first sight
    sized = new("O-4", equity_fraction=0.5).transition(OrderStatus.SUBMITTED, 6)
    bus.publish(OrderSubmitted(ts=6, order=sized))
    sized = sized.transition(OrderStatus.ACCEPTED, 6)
    import msgspec

    resized = msgspec.structs.replace(sized, quantity=2.5).with_fill(2.5, 10.0, 7)
    fill = Fill(order_id=OrderId("O-4"), trade_id=TradeId("T-1"), instrument=btc, side=Side.BUY,
                quantity=2.5, price=10.0, fee=0.0, ts=7)  # fmt: skip
    bus.publish(OrderFilled(ts=7, order=resized, fill=fill))
    by_engine = {o.engine_order_id: o for o in db.orders.orders(session_id="ev")}
    assert {k: (o.status, o.outcome) for k, o in by_engine.items()} == {
        "O-1": ("cancelled", "final"),
        "O-2": ("rejected", "final"),
        "O-3": ("expired", "final"),
        "O-4": ("filled", "final"),
    }
    assert by_engine["O-1"].reason == "user" and by_engine["O-2"].reason == "no money"
    assert (by_engine["O-4"].quantity, by_engine["O-4"].filled_quantity) == (2.5, 2.5)
    assert recorder.events_recorded == 8
    assert db.orders.unknown_orders(session_id="ev") == []
