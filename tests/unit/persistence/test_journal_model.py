"""The journal's fill rules against a plain Python model, on random streams of fills with
repeated trade ids and overfills (SQLite; the same code runs on PostgreSQL in integration)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.domain.enums import OrderStatus, Side
from neo.domain.errors import OverfillError
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.order import Order
from neo.persistence import Database, open_database
from neo.persistence.journal import FILL_TOLERANCE

BTC = InstrumentId("binance", "BTC/USDT")

attempts = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from([0.1, 0.25, 0.3, 0.5, 1.0])),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def journal_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("journal") / "neo.db"
    db = open_database(f"sqlite:///{path}")
    db.sessions.create("paper", "acc", "model", session_id="model")
    yield db
    db.close()


@settings(max_examples=40)
@given(quantity=st.sampled_from([0.5, 1.0, 1.3]), stream=attempts)
def test_fills_match_the_model(
    journal_db: Database, quantity: float, stream: list[tuple[int, float]]
) -> None:
    db = journal_db
    order = Order(id=OrderId("O-1"), instrument=BTC, side=Side.BUY, quantity=quantity)
    cid = db.orders.record_intent(order, "model")
    booked: dict[str, float] = {}
    for trade, size in stream:
        trade_id = f"{cid}-{trade}"
        fill = Fill(
            order_id=OrderId(cid),
            trade_id=TradeId(trade_id),
            instrument=BTC,
            side=Side.BUY,
            quantity=size,
            price=100.0 + trade,
            fee=0.0,
            ts=trade,
        )
        duplicate = trade_id in booked
        over = sum(booked.values()) + size > quantity * (1 + FILL_TOLERANCE)
        if not duplicate and over:
            with pytest.raises(OverfillError):
                db.orders.record_fill(fill)
            continue
        assert db.orders.record_fill(fill) is (not duplicate)
        if not duplicate:
            booked[trade_id] = size
    record = db.orders.get(cid)
    assert record is not None
    total = sum(booked.values())
    assert record.filled_quantity == pytest.approx(total, abs=1e-12)
    stored = db.orders.fills(client_order_id=cid)
    assert {f.trade_id: f.quantity for f in stored} == booked
    if not booked:
        assert record.status == OrderStatus.NEW
    elif total >= quantity * (1 - FILL_TOLERANCE):
        assert record.status == OrderStatus.FILLED and record.outcome == "final"
    else:
        assert record.status == OrderStatus.PARTIALLY_FILLED
        vwap = sum(q * (100.0 + int(t.rsplit("-", 1)[1])) for t, q in booked.items()) / total
        assert record.average_fill_price == pytest.approx(vwap, rel=1e-12)
