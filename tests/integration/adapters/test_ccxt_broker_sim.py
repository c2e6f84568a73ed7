"""CcxtBroker with the real ccxt client against neo exchange-sim, through every order fault.

The sim's own record (``SimHandle.orders()`` / ``requests()``, i.e. ``GET /__sim/orders``) is the
witness: what reached the exchange, with which client order id, how many times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from neo.domain import Order, OrderStatus, OrderType, Side
from neo.domain.events import OrderCancelled, OrderFilled, OrderRejected
from neo.domain.order import next_order_id
from neo.exchange_sim import SimHandle
from tests.integration.adapters.conftest import ORDER_PATH, QUERY_PATH, Rig, received

pytestmark = pytest.mark.integration

Factory = Callable[..., Rig]


def market(rig: Rig, quantity: float = 0.01, side: Side = Side.BUY, **extra: Any) -> Order:
    return Order(
        id=next_order_id(), instrument=rig.instrument, side=side, quantity=quantity, **extra
    )


def limit(rig: Rig, price: float, quantity: float = 0.01, side: Side = Side.BUY) -> Order:
    return Order(
        id=next_order_id(),
        instrument=rig.instrument,
        side=side,
        quantity=quantity,
        type=OrderType.LIMIT,
        limit_price=price,
    )


def creates(sim: SimHandle) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["action"] == "create"]


def test_a_market_order_is_journalled_before_it_is_sent_and_filled_once(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    order = market(rig)
    rig.broker.submit(order)
    assert rig.kinds() == ["OrderSubmitted", "OrderAccepted", "OrderFilled"]
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, 0.01))
    steps = [(kind, info.get("outcome")) for kind, _, info in rig.journal.entries[:3]]
    assert steps == [("intent", None), ("sent", None), ("outcome", "acknowledged")]
    (placed,) = sim.orders()
    assert placed["client_order_id"] == rig.journal.entries[0][1]
    rig.broker.poll()
    rig.broker.poll()  # the same trades again, over REST: applied once
    assert [type(e).__name__ for e in rig.events].count("OrderFilled") == 1
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, 0.01))
    assert len(sim.fills()) == 1


def test_two_fills_in_the_same_millisecond_are_both_booked(
    sim: SimHandle, rig_factory: Factory
) -> None:
    """Kraken's trade history ``start`` is exclusive: polling from the newest trade's stamp
    (as the old poll did) never saw a second fill made in that same millisecond, and on
    Kraken the order stayed "closed" with nothing filled. Polls now overlap and de-duplicate
    by trade id."""
    rig = rig_factory(sim)
    first, second = market(rig), market(rig, 0.02)
    rig.broker.submit(first)
    rig.broker.submit(second)  # the sim's clock has not moved: the same millisecond
    rig.broker.poll()
    made = sim.fills()
    assert len(made) == 2 and made[0]["time_ms"] == made[1]["time_ms"]
    assert [type(e).__name__ for e in rig.events].count("OrderFilled") == 2
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, 0.03))
    rig.broker.poll()
    assert [type(e).__name__ for e in rig.events].count("OrderFilled") == 2


def test_a_timeout_after_accept_never_yields_a_second_order(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim, timeout_ms=800)
    sim.add_fault("timeout_after_accept", ORDER_PATH[sim.dialect], method="POST", stall_seconds=2.0)
    rig.broker.submit(market(rig))
    assert rig.broker.stats.unknown == 1
    assert rig.broker.stats.resends == 0
    assert "OrderFilled" in rig.kinds() and "OrderRejected" not in rig.kinds()
    outcomes = [info.get("outcome") for kind, _, info in rig.journal.entries if kind == "outcome"]
    assert outcomes[0] == "unknown" and "acknowledged" in outcomes
    assert len(sim.orders()) == 1, sim.orders()
    assert len(creates(sim)) == 1
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, 0.01))


def test_a_429_on_create_is_resolved_by_client_id_and_resent_with_the_same_id(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    sim.add_fault("429", ORDER_PATH[sim.dialect], method="POST", retry_after=1)
    rig.broker.submit(market(rig))
    sent = creates(sim)
    assert [r["status"] for r in sent] == [429, 200]
    assert sent[0]["client_order_id"] == sent[1]["client_order_id"]  # the same id, re-sent
    assert len(sim.orders()) == 1
    assert rig.broker.stats.resends == 1
    assert "OrderFilled" in rig.kinds()
    requests = sim.requests()
    hit = next(k for k, r in enumerate(requests) if r["status"] == 429)
    assert requests[hit + 1]["received_ms"] - requests[hit]["received_ms"] >= 1000  # Retry-After


def test_a_refused_order_is_rejected_and_never_retried(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    sim.add_fault("insufficient_balance", ORDER_PATH[sim.dialect], method="POST")
    rig.broker.submit(market(rig))
    assert rig.kinds() == ["OrderSubmitted", "OrderRejected"]
    rejected = rig.events[-1]
    assert isinstance(rejected, OrderRejected) and "insufficient" in rejected.reason.lower()
    assert len(creates(sim)) == 1
    rig.broker.poll()
    assert len(creates(sim)) == 1


def test_below_the_minimum_notional_nothing_is_sent(sim: SimHandle, rig_factory: Factory) -> None:
    rig = rig_factory(sim)
    rig.broker.submit(limit(rig, 100.0, quantity=0.001))  # 0.1 USDT < 5 USDT
    assert rig.kinds() == ["OrderSubmitted", "OrderRejected"]
    assert "minimum" in rig.events[-1].reason  # type: ignore[attr-defined]
    assert creates(sim) == []


def test_dust_below_the_amount_precision_is_refused_locally_not_raised(
    sim: SimHandle, rig_factory: Factory
) -> None:
    """ccxt's amount_to_precision raises for an amount that truncates to nothing; a kill
    switch's reduce order for fee dust (0.000007 BTC) raised it through the live session,
    which died ("session k1 failed: binance amount of BTC/USDT must be greater than minimum
    amount precision of 0.00001")."""
    rig = rig_factory(sim)
    rig.broker.submit(market(rig, quantity=0.000007, reduce_only=True))
    assert rig.kinds() == ["OrderSubmitted", "OrderRejected"]
    assert "below the minimum" in rig.events[-1].reason  # type: ignore[attr-defined]
    rig.broker.submit(limit(rig, 0.004, quantity=0.01))  # a price below one tick: the same
    assert rig.kinds()[2:] == ["OrderSubmitted", "OrderRejected"]
    assert "rounds to nothing on its tick" in rig.events[-1].reason  # type: ignore[attr-defined]
    assert creates(sim) == []


def test_amounts_and_prices_are_rounded_to_the_exchange_grid(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    rig.broker.submit(limit(rig, 1000.123456, quantity=0.0123456789))
    (placed,) = sim.orders()
    assert float(placed["quantity"]) == pytest.approx(0.01234)
    assert float(placed["price"]) == pytest.approx(1000.12)


def test_not_found_strikes_then_a_targeted_query_keep_a_known_order(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    order = limit(rig, 1000.0)
    rig.broker.submit(order)
    sim.add_fault("order_not_found", QUERY_PATH[sim.dialect], count=3)
    for _ in range(3):
        rig.broker.poll()
    tracked = rig.broker.tracked[order.id]
    assert tracked.outcome.value == "acknowledged"  # the targeted query found it: not lost
    assert [o.id for o in rig.broker.open_orders()] == [order.id]


def test_an_order_the_exchange_keeps_denying_is_lost_only_after_strikes(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    order = limit(rig, 1000.0)
    rig.broker.submit(order)
    sim.add_fault("order_not_found", "*", count=50)
    rig.broker.poll()
    rig.broker.poll()
    assert rig.broker.tracked[order.id].outcome.value == "acknowledged"  # two strikes: not yet
    rig.broker.poll()
    assert rig.broker.tracked[order.id].outcome.value == "lost"
    assert isinstance(rig.events[-1], OrderCancelled) and "lost" in rig.events[-1].reason


def test_a_partial_fill_then_cancel_records_the_filled_amount_only(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    sim.set_max_fill_per_bar("0.004")
    price = float(sim.state()["prices"]["BTC/USDT"])
    order = limit(rig, round(price * 1.02, 2), quantity=0.01)
    rig.broker.submit(order)
    sim.advance(1)
    rig.broker.poll()
    rig.broker.cancel(order.id)
    filled = sum(float(f["quantity"]) for f in sim.fills())
    assert 0 < filled < 0.01
    final = rig.events[-1]
    assert isinstance(final, OrderCancelled)
    assert final.order.status is OrderStatus.CANCELLED
    assert final.order.filled_quantity == pytest.approx(filled)
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, filled))
    fills = [e.fill for e in rig.events if isinstance(e, OrderFilled)]
    assert sum(f.quantity for f in fills) == pytest.approx(filled)


def test_an_overfill_and_a_replayed_trade_are_refused(sim: SimHandle, rig_factory: Factory) -> None:
    rig = rig_factory(sim)
    order = market(rig)
    rig.broker.submit(order)
    trades = rig.exchange.fetch_my_trades("BTC/USDT")
    assert rig.broker.on_trade(trades[0], "ws") is False  # replayed over the socket
    forged = {**trades[0], "id": "forged-1"}
    assert rig.broker.on_trade(forged, "ws") is False  # the order is already full
    assert rig.broker.stats.overfills_refused == 1
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, 0.01))


def test_an_equity_fraction_order_is_sized_from_the_exchange_balance(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    sim.set_balances({"USDT": "10000", "BTC": "0"})
    rig.broker.submit(market(rig, quantity=1.0, equity_fraction=0.5))
    (placed,) = sim.orders()
    price = float(sim.state()["prices"]["BTC/USDT"])
    assert float(placed["quantity"]) == pytest.approx(5000 / (price * 1.001), rel=2e-3)
    assert float(placed["quantity"]) * price <= 5000.0


def test_an_equity_fraction_below_one_lot_is_cancelled_not_sent(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    sim.set_balances({"USDT": "0.01", "BTC": "0"})
    rig.broker.submit(market(rig, quantity=1.0, equity_fraction=1.0))
    assert rig.kinds() == ["OrderSubmitted", "OrderCancelled"]
    assert creates(sim) == []


def test_the_durable_journal_records_intent_unknown_and_the_one_order(
    binance_sim: SimHandle, rig_factory: Factory, database_url: str
) -> None:
    """The same fault with neo.persistence's OrderJournal (SQLite and PostgreSQL)."""
    from neo.persistence import open_database

    db = open_database(database_url)
    try:
        session = db.sessions.create("live", "acct", "scripted")
        rig = rig_factory(binance_sim, timeout_ms=800)
        rig.broker.journal = db.orders
        rig.broker.session = session.id
        binance_sim.add_fault(
            "timeout_after_accept", "/api/v3/order", method="POST", stall_seconds=2.0
        )
        rig.broker.submit(market(rig))
        (record,) = db.orders.orders()
        (placed,) = binance_sim.orders()
        assert placed["client_order_id"] == record.client_order_id
        assert record.outcome == "final" and record.status == "filled"
        assert record.filled_quantity == pytest.approx(0.01)
        assert len(db.orders.fills()) == 1
        assert db.orders.unknown_orders() == []
    finally:
        db.close()


def _leg(rig: Rig, parent: Order, price: float, group: str) -> Order:
    return Order(
        id=next_order_id(),
        instrument=rig.instrument,
        side=Side.SELL,
        quantity=0.01,
        type=OrderType.LIMIT,
        limit_price=price,
        parent_id=parent.id,
        oco_group=group,
    )


def test_bracket_legs_wait_for_their_entry_then_cancel_each_other(
    binance_sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(binance_sim)
    price = float(binance_sim.state()["prices"]["BTC/USDT"])
    entry = limit(rig, round(price * 0.999, 2))
    rig.broker.submit(entry)
    take, far = _leg(rig, entry, round(price * 1.0005, 2), "g"), _leg(rig, entry, price * 2, "g")
    rig.broker.submit(take)
    rig.broker.submit(far)
    assert [r["client_order_id"] for r in creates(binance_sim)] == ["neot-1"]  # legs held
    assert {o.id for o in rig.broker.open_orders()} == {entry.id, take.id, far.id}
    for _ in range(60):  # the seeded path dips to the entry, then rises to the take-profit
        binance_sim.advance(1)
        rig.broker.poll()
        if rig.broker.tracked.get(take.id) and not rig.broker.open_orders():
            break
    last = {e.order.id: e.order.status for e in rig.events}  # type: ignore[attr-defined]
    assert last == {
        entry.id: OrderStatus.FILLED,
        take.id: OrderStatus.FILLED,
        far.id: OrderStatus.CANCELLED,
    }
    assert len(creates(binance_sim)) == 2  # the other leg of the group never left
    assert rig.ledger.position(rig.instrument) == pytest.approx(0.0)
    assert rig.kinds().count("OrderAccepted") == 3  # each order accepted once


def test_cancel_all_cancels_held_legs_with_their_entry(
    binance_sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(binance_sim)
    entry = limit(rig, 1000.0)
    rig.broker.submit(entry)
    leg = _leg(rig, entry, 100_000.0, "g")
    rig.broker.submit(leg)
    rig.broker.cancel_all(rig.instrument, "flatten")
    assert rig.broker.open_orders() == []
    cancelled = [e.order.id for e in rig.events if isinstance(e, OrderCancelled)]
    assert sorted(cancelled) == sorted([entry.id, leg.id])
    assert len(creates(binance_sim)) == 1


def test_after_a_restart_an_order_sent_before_the_crash_is_adopted_not_resent(
    sim: SimHandle, rig_factory: Factory
) -> None:
    """The previous run journalled ``neot-1`` and sent it, then died before the answer: the new
    run adopts it, finds it by client id, books the fill made while it was down, sends nothing."""
    before = rig_factory(sim)
    order = market(before)
    before.exchange.create_order(
        "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "neot-1"}
    )
    rig = rig_factory(sim)
    rig.journal.record_intent(order, "test")  # what the journal held: neot-1
    rig.broker.adopt(order, "neot-1")
    rig.broker.poll()
    assert len(creates(sim)) == 1
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, 0.01))
    assert rig.broker.tracked[order.id].order.status is OrderStatus.FILLED


def test_after_a_restart_an_intent_that_never_left_is_sent_with_its_own_id(
    sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(sim)
    order = market(rig)
    cid = rig.journal.record_intent(order, "test")
    rig.broker.adopt(order, cid)
    for _ in range(3):
        rig.broker.poll()
    assert [r["client_order_id"] for r in creates(sim)] == [cid]
    assert rig.ledger.position(rig.instrument) == pytest.approx(received(sim, 0.01))


def test_a_refused_resend_is_checked_by_client_id_then_rejected_never_sent_again(
    binance_sim: SimHandle, rig_factory: Factory
) -> None:
    """After a 429 the order is re-sent with its id. A refusal of that re-send may be the
    venue's "duplicate order" (the first did arrive), so it is not taken for a rejection at
    once: the order is looked up by client id; absent, the refusal was the venue's answer and
    the order is rejected with its reason, never sent a third time (a restart that re-sent an
    order the balance no longer covered looped on it, and ended unlike the uninterrupted run)."""
    rig = rig_factory(binance_sim)
    binance_sim.add_fault("429", "/api/v3/order", method="POST", retry_after=0)
    binance_sim.add_fault("insufficient_balance", "/api/v3/order", method="POST")
    order = market(rig)
    rig.broker.submit(order)
    for _ in range(4):
        rig.broker.poll()
    assert binance_sim.orders() == []
    assert len(creates(binance_sim)) == 2  # the first (429) and one re-send, no third
    final = rig.broker.tracked[order.id].order
    assert final.status is OrderStatus.REJECTED and "insufficient balance" in final.reason
    assert rig.kinds().count("OrderRejected") == 1


def test_a_leg_of_a_refused_entry_is_dropped_not_held(
    binance_sim: SimHandle, rig_factory: Factory
) -> None:
    rig = rig_factory(binance_sim)
    entry = limit(rig, 100.0, quantity=0.001)  # below the minimum notional: refused locally
    rig.broker.submit(entry)
    leg = _leg(rig, entry, 100_000.0, "g")
    rig.broker.submit(leg)
    assert rig.kinds() == ["OrderSubmitted", "OrderRejected", "OrderSubmitted", "OrderRejected"]
    assert rig.broker.open_orders() == []


def test_an_unknown_order_survives_failing_queries_and_is_still_found_once(
    binance_sim: SimHandle, rig_factory: Factory
) -> None:
    """Timeout after accept, then the first queries by client id fail with 5xx: the broker
    keeps asking (with backoff) instead of re-sending; one order, found."""
    rig = rig_factory(binance_sim, timeout_ms=800)
    binance_sim.add_fault("timeout_after_accept", "/api/v3/order", method="POST", stall_seconds=2.0)
    binance_sim.add_fault("5xx", "/api/v3/order", method="GET", count=2)
    rig.broker.submit(market(rig))
    assert len(binance_sim.orders()) == 1 and len(creates(binance_sim)) == 1
    assert rig.broker.stats.errors.get("ExchangeUnavailableError", 0) >= 2
    assert rig.broker.stats.resends == 0
    assert "OrderFilled" in rig.kinds()
