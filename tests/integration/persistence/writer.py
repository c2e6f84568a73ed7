"""A process that journals orders and fills in a loop, for the SIGKILL test.

``python -m tests.integration.persistence.writer URL SESSION COUNT`` first finishes every order
a previous (killed) run left open, replaying its fills under the same trade ids (the journal
must drop the duplicates), then journals new orders until the session has COUNT. It prints a
line after each call returns, i.e. after its transaction committed, so the parent knows what
must be in the database whatever instant it kills this process.
"""

from __future__ import annotations

import sys

from neo.domain.enums import OrderStatus, Side
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.order import Order
from neo.persistence import Database, open_database

BTC = InstrumentId("binance", "BTC/USDT")
PARTS = (0.25, 0.75)


def finish(db: Database, cid: str, quantity: float) -> None:
    record = db.orders.record_sent(cid)
    if record.outcome != "acknowledged":
        db.orders.record_outcome(cid, "acknowledged", exchange_order_id=f"X{cid}")
    print(f"ack {cid}", flush=True)
    for k, part in enumerate(PARTS):
        fill = Fill(
            order_id=OrderId(cid),
            trade_id=TradeId(f"{cid}-{k}"),
            instrument=BTC,
            side=Side.BUY,
            quantity=quantity * part,
            price=100.0 + k,
            fee=0.01,
            ts=1_000 + k,
        )
        new = db.orders.record_fill(fill, source="ws" if k else "rest")
        print(f"fill {cid}-{k} {int(new)}", flush=True)


def main(url: str, session_id: str, count: int) -> None:
    db = open_database(url)
    for record in db.orders.open_orders(session_id=session_id):
        finish(db, record.client_order_id, record.quantity)
    while len(db.orders.orders(session_id=session_id)) < count:
        order = Order(id=OrderId("O-1"), instrument=BTC, side=Side.BUY, quantity=0.5)
        cid = db.orders.record_intent(order, session_id)
        print(f"intent {cid}", flush=True)
        finish(db, cid, order.quantity)
    assert all(
        OrderStatus(r.status) is OrderStatus.FILLED for r in db.orders.orders(session_id=session_id)
    )
    print("done", flush=True)
    db.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
