"""Sessions and client order ids on both backends."""

from __future__ import annotations

import math

import pytest

from neo.domain.errors import ConfigError, PersistenceError, RecordNotFoundError
from neo.persistence import Database, open_database


def test_create_get_list_and_status(db: Database) -> None:
    a = db.sessions.create("paper", "paper", "sma_cross", {"fast": 5}, session_id="paper1")
    b = db.sessions.create("live", "exchange:binance:main", "hybrid")
    assert a.tag == "paper1"
    assert len(b.id) == 12 and b.tag == b.id
    assert db.sessions.get("paper1") == a
    assert [s.id for s in db.sessions.list()] == ["paper1", b.id]
    assert [s.id for s in db.sessions.list(kind="live")] == [b.id]
    assert [s.id for s in db.sessions.list(account="paper")] == ["paper1"]
    stopped = db.sessions.set_status("paper1", "stopped")
    assert stopped.status == "stopped" and stopped.updated_at >= a.updated_at
    assert [s.id for s in db.sessions.list(status="running")] == [b.id]
    assert db.sessions.get("nope") is None


def test_bad_session_input_says_what_to_do(db: Database) -> None:
    with pytest.raises(ConfigError, match="unknown session kind 'swing'"):
        db.sessions.create("swing", "paper", "x")
    db.sessions.create("paper", "paper", "x", session_id="s1")
    with pytest.raises(PersistenceError, match="already exists"):
        db.sessions.create("paper", "paper", "x", session_id="s1")
    with pytest.raises(RecordNotFoundError, match="no session 'nope'"):
        db.sessions.set_status("nope", "stopped")
    with pytest.raises(ConfigError, match="unknown session status"):
        db.sessions.set_status("s1", "asleep")
    with pytest.raises(PersistenceError, match="JSON"):
        db.sessions.save_checkpoint("s1", {"peak": math.nan})
    with pytest.raises(PersistenceError, match="JSON"):
        db.sessions.create("paper", "paper", "x", {"when": object()})


def test_a_long_session_id_gets_a_hashed_tag_that_fits(db: Database) -> None:
    record = db.sessions.create("paper", "paper", "x", session_id="paper session/BTC-USDT 2024")
    assert len(record.tag) == 12
    [cid] = db.sessions.allocate_client_ids(record.id, 1)
    assert cid == f"neo{record.tag}-1" and len(cid) <= 36


def test_checkpoint_round_trip(db: Database) -> None:
    db.sessions.create("paper", "paper", "x", session_id="s1")
    assert db.sessions.checkpoint("s1") is None
    point = {"last_bar_ns": {"BTC/USDT@binance": 1_700_000_000_000_000_000}, "peak": 10_500.25}
    db.sessions.save_checkpoint("s1", point)
    assert db.sessions.checkpoint("s1") == point
    db.sessions.save_checkpoint("s1", {"peak": 11_000.0})
    assert db.sessions.checkpoint("s1") == {"peak": 11_000.0}


def test_client_ids_are_unique_across_reopen(db: Database, database_url: str) -> None:
    session = db.sessions.create("live", "acc", "x")
    first = db.sessions.allocate_client_ids(session.id, 3)
    db.close()
    again = open_database(database_url)
    try:
        second = again.sessions.allocate_client_ids(session.id, 2)
        assert again.sessions.require(session.id).next_client_seq == 6
    finally:
        again.close()
    assert first + second == [f"neo{session.tag}-{n}" for n in range(1, 6)]
    with pytest.raises(ConfigError, match="at least one"):
        db.sessions.allocate_client_ids(session.id, 0)
    with pytest.raises(RecordNotFoundError):
        db.sessions.allocate_client_ids("nope", 1)
