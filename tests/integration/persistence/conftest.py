"""Every test here runs twice, on SQLite and on PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from neo.domain.enums import OrderType, Side
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.order import Order
from neo.persistence import Database, open_database

pytestmark = pytest.mark.integration

BTC = InstrumentId("binance", "BTC/USDT")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def session_id(db: Database) -> str:
    return db.sessions.create("live", "exchange:binance:main", "sma_cross", {"fast": 5}).id


def make_order(
    quantity: float = 1.0,
    side: Side = Side.BUY,
    order_id: str = "O-1",
    instrument: InstrumentId = BTC,
    limit_price: float | None = None,
) -> Order:
    return Order(
        id=OrderId(order_id),
        instrument=instrument,
        side=side,
        quantity=quantity,
        type=OrderType.LIMIT if limit_price is not None else OrderType.MARKET,
        limit_price=limit_price,
        created_ns=1_000,
        updated_ns=1_000,
    )


def make_fill(
    order_id: str,
    trade_id: str,
    quantity: float,
    price: float = 100.0,
    side: Side = Side.BUY,
    ts: int = 2_000,
    instrument: InstrumentId = BTC,
    fee: float = 0.1,
) -> Fill:
    return Fill(
        order_id=OrderId(order_id),
        trade_id=TradeId(trade_id),
        instrument=instrument,
        side=side,
        quantity=quantity,
        price=price,
        fee=fee,
        ts=ts,
    )
