"""SqlMirror (neo.engine.mirror): the state database follows the session's file journal.

Its writes leave the order path while an event loop runs (deferred to the step's checkpoint),
the file keeps every record at once, a process that dies before the deferred writes loses
nothing (the next start re-synchronises), and a repeated outcome never fails the mirror.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from neo.engine.journal import (
    Checkpoint,
    FileJournal,
    FillRecord,
    OrderRecord,
    SessionMeta,
    session_dir,
)
from neo.engine.mirror import SqlMirror
from neo.persistence import open_database

CID = "neoabc-1"
META = SessionMeta(
    session="m1", mode="live", account="exchange:binance:main", strategy="flip", params={},
    instruments=["BTC/USDT@binance"], timeframe="1m", cash=1000.0, tag="neoabc",
)  # fmt: skip


def _order(status: str, outcome: str, filled: float = 0.0, exchange_id: str = "") -> OrderRecord:
    return OrderRecord(
        cid=CID, instrument="BTC/USDT@binance", side="buy", type="market", quantity=0.01,
        status=status, filled_quantity=filled, average_fill_price=100.0 if filled else 0.0,
        created_ns=1, updated_ns=2, exchange_id=exchange_id, outcome=outcome, bar=0,
    )  # fmt: skip


FILL = FillRecord(
    trade_id="binance:1", cid=CID, instrument="BTC/USDT@binance", side="buy", quantity=0.01,
    price=100.0, fee=0.01, ts=3, source="rest", bar=0,
)  # fmt: skip
CHECKPOINT = Checkpoint(
    bars=1, step_ts=0, orders=1, fills=1, cash=998.99, equity=999.99,
    positions={"BTC/USDT@binance": 0.01}, next_seq=2,
)  # fmt: skip
# What the exchange broker journals for a market order filled in its create answer.
ORDER_LIFE = [
    _order("submitted", ""),
    _order("submitted", "intent"),
    _order("submitted", "sent"),
    _order("submitted", "acknowledged", exchange_id="7"),
    _order("accepted", "acknowledged", exchange_id="7"),
    FILL,
    _order("filled", "acknowledged", 0.01, "7"),  # the database made it final with the fill
    _order("filled", "final", 0.01, "7"),
]


def _mirror(data: Path, url: str) -> SqlMirror:
    return SqlMirror(FileJournal(session_dir(data, "m1")), open_database(url))


def _write(mirror: SqlMirror, records: list[OrderRecord | FillRecord]) -> None:
    for record in records:
        if isinstance(record, FillRecord):
            mirror.record_fill(record)
        else:
            mirror.record_order(record)


def _stored(url: str) -> tuple[str | None, str | None, int]:
    with open_database(url) as db:
        order = db.orders.get(CID)
        fills = db.orders.fills(session_id="m1")
    if order is None:
        return None, None, len(fills)
    return str(order.status), order.outcome, len(fills)


def test_an_order_life_is_mirrored_without_a_failure(tmp_path: Path, database_url: str) -> None:
    """A record repeating ``acknowledged`` after the fill made the order final is not an
    outcome step back (it failed the mirror, once per order, before)."""
    mirror = _mirror(tmp_path, database_url)
    mirror.load()
    mirror.start(META)
    _write(mirror, ORDER_LIFE)
    mirror.checkpoint(CHECKPOINT)
    mirror.close()
    assert mirror.failures == 0
    assert _stored(database_url) == ("filled", "final", 1)


def test_database_writes_wait_for_the_checkpoint_while_a_loop_runs(
    tmp_path: Path, database_url: str
) -> None:
    mirror = _mirror(tmp_path, database_url)
    mirror.load()
    mirror.start(META)
    seen: dict[str, object] = {}

    async def step() -> None:
        _write(mirror, ORDER_LIFE)  # the cycle: intent, sent, the create's answer, the fill
        seen["pending"] = mirror.pending
        seen["before"] = _stored(database_url)
        mirror.checkpoint(CHECKPOINT)  # the step is done: its orders were sent
        seen["after"] = _stored(database_url)

    asyncio.run(step())
    mirror.close()
    assert seen["pending"] == len(ORDER_LIFE)
    assert seen["before"] == (None, None, 0)
    assert seen["after"] == ("filled", "final", 1)
    assert mirror.failures == 0


def test_a_record_between_steps_is_flushed_soon_after(tmp_path: Path, database_url: str) -> None:
    mirror = _mirror(tmp_path, database_url)
    mirror.load()
    mirror.start(META)

    async def between_steps() -> int:
        _write(mirror, ORDER_LIFE[:4])
        while mirror.pending:  # the flush timer fires without any checkpoint
            await asyncio.sleep(0.01)
        return mirror.pending

    assert asyncio.run(between_steps()) == 0
    assert _stored(database_url)[:2] == ("submitted", "acknowledged")
    mirror.close()


def test_deferred_writes_lost_with_the_process_are_resynchronised(
    tmp_path: Path, database_url: str
) -> None:
    """Killed after the order went out, before the deferred database writes: the file has
    every record, and the next start puts them in the database."""
    mirror = _mirror(tmp_path, database_url)
    mirror.load()
    mirror.start(META)

    async def step() -> None:
        _write(mirror, ORDER_LIFE)
        mirror._pending.clear()  # what a SIGKILL here leaves: nothing reached the database

    asyncio.run(step())
    assert _stored(database_url) == (None, None, 0)
    mirror.file.close()  # the process is gone; its database connection with it
    mirror.db.close()
    again = _mirror(tmp_path, database_url)
    state = again.load()
    assert state.orders[CID].outcome == "final"
    assert _stored(database_url) == ("filled", "final", 1)
    again.close()


def test_without_an_event_loop_every_write_goes_through_at_once(
    tmp_path: Path, database_url: str
) -> None:
    mirror = _mirror(tmp_path, database_url)
    mirror.load()
    mirror.start(META)
    _write(mirror, ORDER_LIFE)
    assert mirror.pending == 0
    assert _stored(database_url) == ("filled", "final", 1)
    mirror.close()


def test_a_fee_in_the_base_asset_survives_the_journal_and_the_database(
    tmp_path: Path, database_url: str
) -> None:
    """The file journal reads ``fee_base`` back (a restart's replay books the holding from it)
    and the mirror stores it in fills.fee_base; a record written before the field is 0."""
    fill = msgspec.structs.replace(FILL, fee_base=0.00001)
    life = [fill if r is FILL else r for r in ORDER_LIFE]
    mirror = _mirror(tmp_path, database_url)
    mirror.load()
    mirror.start(META)
    _write(mirror, life)
    mirror.checkpoint(CHECKPOINT)
    mirror.close()
    assert mirror.failures == 0
    with open_database(database_url) as db:
        (stored,) = db.orders.fills(session_id="m1")
    assert stored.fee_base == 0.00001 and stored.to_fill().position_delta == 0.01 - 0.00001
    journal = FileJournal(session_dir(tmp_path, "m1"))
    try:
        assert journal.load().fills[fill.trade_id] == fill
    finally:
        journal.close()
    old = msgspec.json.decode(
        b'{"kind":"fill","trade_id":"b:2","cid":"c","instrument":"BTC/USDT@binance",'
        b'"side":"buy","quantity":1.0,"price":1.0,"fee":0.0,"ts":1}',
        type=FillRecord,
    )
    assert old.fee_base == 0.0
