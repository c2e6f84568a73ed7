"""Positions, balances and the drawdown basis on both backends."""

from __future__ import annotations

from neo.domain.ids import InstrumentId
from neo.domain.position import Position
from neo.persistence import Database, open_database
from tests.integration.persistence.conftest import BTC

ETH = InstrumentId("binance", "ETH/USDT")


def test_positions_upsert_and_list(db: Database) -> None:
    db.positions.save("acc", Position(instrument=BTC, quantity=1.5, average_price=100.0, ts=5))
    db.positions.save("acc", Position(instrument=ETH, quantity=0.0, ts=6))
    db.positions.save(
        "acc",
        Position(instrument=BTC, quantity=0.5, average_price=100.0, realized_pnl=7.0, fees=0.2),
        ts_ns=9,
    )
    record = db.positions.get("acc", BTC)
    assert record is not None
    assert (record.quantity, record.realized_pnl, record.fees, record.updated_ns) == (
        0.5,
        7.0,
        0.2,
        9,
    )
    assert record.to_position().instrument == BTC
    assert [p.symbol for p in db.positions.list("acc")] == ["BTC/USDT", "ETH/USDT"]
    assert [p.symbol for p in db.positions.list("acc", include_flat=False)] == ["BTC/USDT"]
    assert db.positions.list("other") == [] and db.positions.get("other", BTC) is None


def test_balances_save_and_replace(db: Database) -> None:
    db.balances.save("acc", "USDT", free=900.0, used=100.0)
    db.balances.save("acc", "BTC", free=0.5)
    usdt = db.balances.get("acc", "USDT")
    assert usdt is not None and usdt.total == 1000.0
    db.balances.save("acc", "USDT", free=800.0, used=0.0, total=800.0, ts_ns=3)
    assert [(b.currency, b.total) for b in db.balances.list("acc")] == [
        ("BTC", 0.5),
        ("USDT", 800.0),
    ]
    db.balances.replace("acc", {"USDT": (10.0, 0.0, 10.0)}, ts_ns=4)
    assert [(b.currency, b.free, b.updated_ns) for b in db.balances.list("acc")] == [
        ("USDT", 10.0, 4)
    ]
    assert db.balances.get("acc", "BTC") is None


def test_drawdown_basis_survives_a_restart(db: Database, database_url: str) -> None:
    assert db.accounts.get("acc") is None
    assert db.accounts.raise_peak("acc", 10_000.0) == 10_000.0
    assert db.accounts.raise_peak("acc", 9_000.0) == 10_000.0  # never lowered
    assert db.accounts.raise_peak("acc", 12_000.0) == 12_000.0
    db.accounts.save("acc", peak_equity=12_500.0, basis={"day_start_equity": 11_800.0})
    db.close()
    again = open_database(database_url)
    try:
        record = again.accounts.get("acc")
    finally:
        again.close()
    assert record is not None
    assert record.peak_equity == 12_500.0
    assert record.basis == {"day_start_equity": 11_800.0}


def test_doubles_round_trip_exactly(db: Database) -> None:
    value = 0.1 + 0.2  # not representable in decimal: a float column must keep every bit
    db.positions.save("acc", Position(instrument=BTC, quantity=value, average_price=1 / 3))
    record = db.positions.get("acc", BTC)
    assert record is not None
    assert record.quantity == value and record.average_price == 1 / 3
