"""The order journal on both backends: intent before the call, outcomes, fills by trade id."""

from __future__ import annotations

import msgspec
import pytest

from neo.domain.enums import OrderStatus, Side, TimeInForce
from neo.domain.errors import (
    ConfigError,
    InvalidOrderTransitionError,
    OverfillError,
    PersistenceError,
    RecordNotFoundError,
)
from neo.domain.ids import InstrumentId
from neo.persistence import Database, open_database
from tests.integration.persistence.conftest import BTC, make_fill, make_order


def test_intent_is_committed_and_visible_to_another_connection_before_the_call(
    db: Database, session_id: str, database_url: str
) -> None:
    cid = db.orders.record_intent(make_order(limit_price=50.0), session_id)
    other = open_database(database_url)  # what a restarted process would see
    try:
        record = other.orders.get(cid)
    finally:
        other.close()
    assert record is not None
    assert record.outcome == "intent"
    assert record.account == "exchange:binance:main"
    assert (record.venue, record.symbol, record.side, record.limit_price) == (
        "binance",
        "BTC/USDT",
        "buy",
        50.0,
    )
    assert record.engine_order_id == "O-1"
    assert [r.client_order_id for r in other_unknown(database_url)] == [cid]


def other_unknown(url: str) -> list:  # type: ignore[type-arg]
    database = open_database(url)
    try:
        return database.orders.unknown_orders()
    finally:
        database.close()


def test_client_order_ids_follow_the_binance_rule(db: Database, session_id: str) -> None:
    ids = [db.orders.record_intent(make_order(), session_id) for _ in range(3)]
    assert len(set(ids)) == 3
    tag = db.sessions.require(session_id).tag
    assert ids == [f"neo{tag}-{n}" for n in (1, 2, 3)]
    for cid in ids:
        assert len(cid) <= 36
        assert all(c.isalnum() or c in "_-" for c in cid)


def test_explicit_client_id_is_used_and_never_reused(db: Database, session_id: str) -> None:
    [cid] = db.sessions.allocate_client_ids(session_id, 1)
    assert db.orders.record_intent(make_order(), session_id, client_order_id=cid) == cid
    with pytest.raises(PersistenceError, match="already journaled"):
        db.orders.record_intent(make_order(), session_id, client_order_id=cid)
    with pytest.raises(ConfigError, match="36 characters"):
        db.orders.record_intent(make_order(), session_id, client_order_id="bad id!")


def test_intent_needs_a_known_session_or_an_account(db: Database) -> None:
    with pytest.raises(RecordNotFoundError, match="no session"):
        db.orders.record_intent(make_order(), "nope")
    with pytest.raises(ConfigError, match="account"):
        db.orders.record_intent(make_order(), None, client_order_id="x-1")
    cid = db.orders.record_intent(make_order(), None, client_order_id="x-1", account="acc")
    record = db.orders.get(cid)
    assert record is not None
    assert record.session_id is None
    assert record.account == "acc"


def test_outcome_lifecycle_and_no_step_back(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(), session_id)
    assert db.orders.record_sent(cid).outcome == "sent"
    assert db.orders.record_outcome(cid, "unknown").outcome == "unknown"
    assert [r.client_order_id for r in db.orders.unknown_orders(session_id=session_id)] == [cid]
    record = db.orders.record_outcome(
        cid, "acknowledged", exchange_order_id="EX-9", status=OrderStatus.ACCEPTED
    )
    assert (record.outcome, record.status, record.exchange_order_id) == (
        "acknowledged",
        "accepted",
        "EX-9",
    )
    assert db.orders.unknown_orders() == []
    assert [r.client_order_id for r in db.orders.open_orders()] == [cid]
    assert db.orders.by_exchange_id("binance", "EX-9") is not None
    final = db.orders.record_status(cid, OrderStatus.CANCELLED, reason="user")
    assert (final.outcome, final.status, final.reason) == ("final", "cancelled", "user")
    assert db.orders.open_orders() == []
    with pytest.raises(InvalidOrderTransitionError, match="outcome cannot go from final"):
        db.orders.record_outcome(cid, "unknown")
    with pytest.raises(InvalidOrderTransitionError, match="already cancelled"):
        db.orders.record_status(cid, OrderStatus.ACCEPTED)
    assert db.orders.record_status(cid, OrderStatus.CANCELLED).status == "cancelled"
    with pytest.raises(ConfigError, match="unknown order outcome"):
        db.orders.record_outcome(cid, "maybe")


def test_strikes_count_not_found_and_reset_when_found(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(), session_id)
    db.orders.record_outcome(cid, "unknown")
    assert [db.orders.record_not_found(cid) for _ in range(3)] == [1, 2, 3]
    lost = db.orders.record_outcome(cid, "lost")
    assert (lost.outcome, lost.strikes) == ("lost", 3)
    assert db.orders.open_orders() == []
    found = db.orders.record_outcome(cid, "acknowledged")  # it turned up after all
    assert (found.outcome, found.strikes) == ("acknowledged", 0)
    with pytest.raises(RecordNotFoundError):
        db.orders.record_not_found("neoabsent-1")


def test_fills_are_idempotent_by_venue_and_trade_id(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(quantity=1.0), session_id)
    db.orders.record_outcome(cid, "acknowledged")
    first = make_fill(cid, "T-1", 0.25, price=100.0)
    assert db.orders.record_fill(first, source="ws") is True
    assert db.orders.record_fill(first, source="rest") is False  # same trade, other stream
    assert db.orders.record_fill(first, source="replay") is False
    assert db.orders.record_fill(make_fill(cid, "T-2", 0.75, price=104.0), source="rest")
    record = db.orders.get(cid)
    assert record is not None
    assert record.filled_quantity == pytest.approx(1.0)
    assert record.average_fill_price == pytest.approx(103.0)
    assert (record.status, record.outcome) == ("filled", "final")
    fills = db.orders.fills(client_order_id=cid)
    assert [(f.trade_id, f.source, f.quantity) for f in fills] == [
        ("T-1", "ws", 0.25),
        ("T-2", "rest", 0.75),
    ]
    assert fills[0].to_fill().order_id == cid
    # the same trade id on another venue is another trade
    eth = InstrumentId("kraken", "ETH/USD")
    other = db.orders.record_intent(make_order(instrument=eth), session_id)
    assert db.orders.record_fill(make_fill(other, "T-1", 0.5, instrument=eth))


def test_a_fee_taken_in_the_base_asset_is_kept_and_restores_the_holding(
    db: Database, session_id: str
) -> None:
    """``fee_base`` (fills.fee_base, migration 0002) survives the round trip, so a ledger
    restored from the fills holds what the account received, not what the order filled."""
    from neo.execution.ledger import Ledger
    from neo.persistence import restore_ledger

    cid = db.orders.record_intent(make_order(quantity=1.0), session_id)
    bought = make_fill(cid, "T-1", 1.0, price=100.0, fee=0.1)
    bought = msgspec.structs.replace(bought, fee_base=0.001)
    assert db.orders.record_fill(bought, source="rest", fee_currency="BTC")
    (stored,) = db.orders.fills(client_order_id=cid)
    assert (stored.fee, stored.fee_base, stored.fee_currency) == (0.1, 0.001, "BTC")
    assert stored.to_fill() == bought
    record = db.orders.get(cid)
    assert record is not None and record.filled_quantity == 1.0  # what the exchange filled
    ledger = Ledger(1_000.0, {})
    restore_ledger(db, ledger, session_id=session_id)
    assert ledger.position(BTC) == pytest.approx(0.999)
    assert ledger.cash == pytest.approx(900.0) and ledger.fees == pytest.approx(0.1)


def test_an_overfill_is_refused_and_nothing_is_written(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(quantity=1.0), session_id)
    db.orders.record_fill(make_fill(cid, "T-1", 0.6))
    with pytest.raises(OverfillError, match=r"1\.2 filled of 1\.0"):
        db.orders.record_fill(make_fill(cid, "T-2", 0.6))
    record = db.orders.get(cid)
    assert record is not None
    assert record.filled_quantity == pytest.approx(0.6)
    assert record.status == "partially_filled"
    assert [f.trade_id for f in db.orders.fills()] == ["T-1"]
    with pytest.raises(OverfillError):
        db.orders.record_status(cid, OrderStatus.PARTIALLY_FILLED, filled_quantity=1.5)
    with pytest.raises(OverfillError, match="cannot size it"):
        db.orders.record_quantity(cid, 0.5)


def test_float_dust_within_tolerance_fills_the_order(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(quantity=0.3), session_id)
    for n, quantity in enumerate((0.1, 0.1, 0.1)):  # 0.1 * 3 = 0.30000000000000004
        assert db.orders.record_fill(make_fill(cid, f"T-{n}", quantity))
    record = db.orders.get(cid)
    assert record is not None
    assert record.status == "filled"


def test_a_fill_must_match_its_order(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(side=Side.BUY), session_id)
    with pytest.raises(PersistenceError, match="does not match order"):
        db.orders.record_fill(make_fill(cid, "T-1", 0.5, side=Side.SELL))
    with pytest.raises(RecordNotFoundError, match="not journaled"):
        db.orders.record_fill(make_fill("O-77", "T-9", 0.5))
    assert db.orders.record_fill(make_fill("O-77", "T-9", 0.5), account="acc", source="rest")
    [foreign] = db.orders.fills(account="acc")
    assert foreign.client_order_id is None


def test_a_late_fill_of_a_cancelled_order_keeps_the_status(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(quantity=1.0), session_id)
    db.orders.record_status(cid, OrderStatus.ACCEPTED)
    db.orders.record_status(cid, OrderStatus.CANCELLED)
    assert db.orders.record_fill(make_fill(cid, "T-1", 0.4))  # traded before the cancel
    record = db.orders.get(cid)
    assert record is not None
    assert (record.status, record.filled_quantity) == ("cancelled", pytest.approx(0.4))


def test_to_order_rebuilds_the_domain_order(db: Database, session_id: str) -> None:
    from neo.domain.ids import OrderId
    from neo.domain.order import Order

    order = Order(
        id=OrderId("O-5"),
        instrument=BTC,
        side=Side.SELL,
        quantity=2.0,
        time_in_force=TimeInForce.IOC,
        tag="exit",
        reduce_only=True,
    )
    cid = db.orders.record_intent(order, session_id, payload={"note": "x"})
    db.orders.record_fill(make_fill(cid, "T-1", 0.5, side=Side.SELL, price=10.0))
    record = db.orders.get(cid)
    assert record is not None
    rebuilt = record.to_order()
    assert rebuilt.id == cid
    assert (rebuilt.time_in_force, rebuilt.tag, rebuilt.reduce_only) == (
        TimeInForce.IOC,
        "exit",
        True,
    )
    assert (rebuilt.status, rebuilt.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 0.5)
    assert record.payload is not None and record.payload["note"] == "x"


def test_orders_filter_by_session_account_and_outcome(db: Database, session_id: str) -> None:
    other = db.sessions.create("paper", "paper", "rsi").id
    a = db.orders.record_intent(make_order(), session_id)
    b = db.orders.record_intent(make_order(), other)
    db.orders.record_outcome(b, "acknowledged")
    assert [r.client_order_id for r in db.orders.orders(session_id=other)] == [b]
    assert [r.client_order_id for r in db.orders.orders(account="paper")] == [b]
    assert [r.client_order_id for r in db.orders.orders(outcomes=("intent",))] == [a]
    assert len(db.orders.orders(limit=1)) == 1


def test_status_reports_from_the_venue(db: Database, session_id: str) -> None:
    cid = db.orders.record_intent(make_order(quantity=2.0), session_id)
    report = db.orders.record_status(
        cid,
        OrderStatus.PARTIALLY_FILLED,
        filled_quantity=0.5,
        average_fill_price=99.0,
        exchange_order_id="EX-1",
        reason="venue says",
        ts_ns=77,
    )
    assert (report.outcome, report.filled_quantity, report.average_fill_price) == (
        "acknowledged",
        0.5,
        99.0,
    )
    assert (report.exchange_order_id, report.reason, report.updated_ns) == (
        "EX-1",
        "venue says",
        77,
    )
    lower = db.orders.record_status(cid, OrderStatus.PARTIALLY_FILLED, filled_quantity=0.2)
    assert lower.filled_quantity == 0.5  # never goes down
    resized = db.orders.record_status(cid, OrderStatus.PARTIALLY_FILLED, quantity=1.0)
    assert resized.quantity == 1.0
    with pytest.raises(ConfigError, match="must be > 0"):
        db.orders.record_quantity(cid, 0.0)
    # the fills arriving later catch up with the report, not double it
    assert db.orders.record_fill(make_fill(cid, "T-1", 0.5, price=99.0))
    record = db.orders.get(cid)
    assert record is not None and record.filled_quantity == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="explicit client order id"):
        db.orders.record_intent(make_order(), None, account="acc")
    assert db.orders.by_exchange_id("binance", "nope") is None
