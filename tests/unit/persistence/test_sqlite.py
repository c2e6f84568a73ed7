"""SQLite specifics: the file in the data directory, WAL, foreign keys, locks and errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from neo.domain.errors import ConfigError, PersistenceError
from neo.persistence import DatabaseConfig, open_database
from neo.persistence.database import make_engine
from neo.settings import load_settings


def test_open_with_settings_creates_the_file_in_the_data_dir(isolated_neo_env: Path) -> None:
    assert not isolated_neo_env.exists()
    with open_database(load_settings()) as db:
        assert db.backend == "sqlite"
        assert db.masked_url.endswith("/neo.db")
    assert (isolated_neo_env / "neo.db").is_file()


def test_connection_pragmas(tmp_path: Path) -> None:
    config = DatabaseConfig(busy_timeout_ms=1234, sqlite_synchronous="normal")
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", config)
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 1234,
        "synchronous": 1,
    }


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    insert = text(
        "INSERT INTO fills (venue, trade_id, client_order_id, account, symbol, side,"
        " quantity, price, fee, fee_currency, liquidity, ts_ns, source, recorded_ns)"
        " VALUES ('v', 't', 'nope', 'a', 's', 'buy', 1, 1, 0, '', 'taker', 1, 'sim', 1)"
    )
    with (
        open_database(f"sqlite:///{tmp_path / 'a.db'}") as db,
        pytest.raises(PersistenceError, match="FOREIGN KEY"),
        db.transaction() as session,
    ):
        session.execute(insert)


def test_a_writer_waits_for_another_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with open_database(url) as first, open_database(url) as second:
        first.sessions.create("paper", "paper", "x", session_id="s")
        holding = threading.Event()
        release = threading.Event()

        def hold_lock() -> None:
            with first.transaction() as session:
                session.execute(text("UPDATE sessions SET strategy = 'y'"))
                holding.set()
                release.wait(5)

        thread = threading.Thread(target=hold_lock)
        thread.start()
        assert holding.wait(5)
        timer = threading.Timer(0.3, release.set)
        timer.start()
        ids = second.sessions.allocate_client_ids("s", 2)  # blocks until the first commits
        thread.join()
        timer.join()
        assert ids == ["neos-1", "neos-2"]
        assert second.sessions.require("s").strategy == "y"


def test_a_lock_held_past_the_busy_timeout_is_one_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with open_database(url) as first:
        first.sessions.create("paper", "paper", "x", session_id="s")
    impatient = open_database(DatabaseConfig(url=url, busy_timeout_ms=50))
    holder = open_database(url)
    try:
        with holder.transaction() as session:
            session.execute(text("UPDATE sessions SET strategy = 'y'"))
            with pytest.raises(PersistenceError, match="database is locked") as caught:
                impatient.sessions.allocate_client_ids("s", 1)
        assert "is the server running" not in str(caught.value)
    finally:
        impatient.close()
        holder.close()


def test_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported"):
        open_database("ftp://x")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PersistenceError, match="cannot use database url"):
        open_database(f"sqlite:///{blocker / 'sub' / 'neo.db'}")


def test_an_unreachable_postgres_is_one_line_without_the_password() -> None:
    with pytest.raises(PersistenceError, match="is the server running") as caught:
        open_database("postgresql+psycopg://neo:hunter2@127.0.0.1:1/neo")
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_in_memory_database_is_one_database_for_every_thread() -> None:
    with open_database("sqlite://") as db:
        db.sessions.create("backtest", "bt", "x", session_id="m")
        seen: list[object] = []
        thread = threading.Thread(target=lambda: seen.append(db.sessions.get("m")))
        thread.start()
        thread.join()
        assert seen == [db.sessions.get("m")] and seen[0] is not None
