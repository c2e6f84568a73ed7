"""The bundled migrations on both backends: they build exactly the models' schema from empty,
go down and up again, and several processes opening a new database at once all succeed."""

from __future__ import annotations

import multiprocessing
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from neo.persistence import head_revision, migration_status, open_database
from neo.persistence.database import alembic_config
from neo.persistence.models import Base

TABLES = {"sessions", "orders", "fills", "positions", "balances", "accounts", "api_keys", "jobs"}


def test_upgrade_from_empty_creates_every_table_at_head(database_url: str) -> None:
    before = open_database(database_url, upgrade=False)
    try:
        assert migration_status(before).current is None
    finally:
        before.close()
    with open_database(database_url) as db:
        status = migration_status(db)
        assert status.current == status.head == head_revision() and status.up_to_date
        names = set(inspect(db.engine).get_table_names())
    assert names >= TABLES | {"alembic_version"}


def test_models_and_migrations_agree(database_url: str) -> None:
    """``alembic check``: autogenerate finds nothing to add, drop or alter."""
    with open_database(database_url) as db, db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences: list[Any] = compare_metadata(context, Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    with open_database(database_url) as db:
        db.sessions.create("paper", "paper", "x", session_id="s1")
        with db.transaction() as session:
            command.downgrade(alembic_config(session.connection()), "base")
        assert set(inspect(db.engine).get_table_names()) & TABLES == set()
    with open_database(database_url) as db:
        assert migration_status(db).up_to_date
        assert db.sessions.list() == []


def _open(url: str) -> str | None:
    db = open_database(url)
    try:
        return migration_status(db).current
    finally:
        db.close()


def test_processes_opening_a_new_database_at_once_all_succeed(database_url: str) -> None:
    context = multiprocessing.get_context("fork")  # nothing is connected before the fork
    with context.Pool(4) as pool:
        revisions = pool.map(_open, [database_url] * 4)
    assert revisions == [head_revision()] * 4
