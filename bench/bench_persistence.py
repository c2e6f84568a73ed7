"""How long does the journal take on the order path, per backend?

    .venv/bin/python bench/bench_persistence.py [--orders 300] [--postgres URL]

For each backend (SQLite with ``synchronous=full`` and ``normal``, and PostgreSQL when
``--postgres`` or ``NEO_TEST_POSTGRES_URL`` gives one) it times, per order, the calls an
exchange adapter makes around one order: ``record_intent`` (committed before the request),
``record_sent``, ``record_outcome(acknowledged)`` and one ``record_fill``, and prints p50/p99
of each in milliseconds plus orders/s for the whole sequence. Every call is a durable commit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from neo.domain.enums import Side
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.order import Order
from neo.persistence import DatabaseConfig, open_database

BTC = InstrumentId("binance", "BTC/USDT")
STEPS = ("intent", "sent", "outcome", "fill")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(name: str, target: DatabaseConfig | str, orders: int) -> None:
    db = open_database(target)
    try:
        session = db.sessions.create("live", "bench", "bench")
        timings: dict[str, list[float]] = {step: [] for step in STEPS}
        started = time.perf_counter()
        for n in range(orders):
            order = Order(id=OrderId(f"O-{n}"), instrument=BTC, side=Side.BUY, quantity=1.0)
            t0 = time.perf_counter()
            cid = db.orders.record_intent(order, session.id)
            t1 = time.perf_counter()
            db.orders.record_sent(cid)
            t2 = time.perf_counter()
            db.orders.record_outcome(cid, "acknowledged", exchange_order_id=f"X{n}")
            t3 = time.perf_counter()
            fill = Fill(
                order_id=OrderId(cid),
                trade_id=TradeId(f"T{n}"),
                instrument=BTC,
                side=Side.BUY,
                quantity=1.0,
                price=100.0,
                fee=0.0,
                ts=n,
            )
            db.orders.record_fill(fill, source="ws")
            t4 = time.perf_counter()
            for step, (a, b) in zip(STEPS, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
                timings[step].append((b - a) * 1e3)
        elapsed = time.perf_counter() - started
    finally:
        db.close()
    cells = "  ".join(
        f"{step} p50 {statistics.median(v):6.2f} p99 {percentile(v, 0.99):6.2f}"
        for step, v in timings.items()
    )
    print(f"{name:<16} {orders / elapsed:7.0f} orders/s   {cells}  (ms)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--postgres", default=os.environ.get("NEO_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("full", "normal"):
            url = f"sqlite:///{Path(tmp) / f'{mode}.db'}"
            config = DatabaseConfig(url=url, sqlite_synchronous=mode)  # type: ignore[arg-type]
            run(f"sqlite {mode}", config, args.orders)
    if args.postgres:
        run("postgresql", args.postgres, args.orders)
    else:
        print("postgresql       skipped: pass --postgres URL or set NEO_TEST_POSTGRES_URL")


if __name__ == "__main__":
    main()
