"""NEO's durable state: orders, fills, positions, balances, sessions, API keys and jobs.

SQLAlchemy 2 models with Alembic migrations bundled in the package; SQLite in the data
directory by default, PostgreSQL when ``[database] url`` is set. Open it with
:func:`open_database`, which migrates to the newest schema::

    db = open_database(settings)               # or a URL, or a DatabaseConfig
    session = db.sessions.create("paper", "paper", "sma_cross")
    cid = db.orders.record_intent(order, session.id)   # before the exchange call
    db.orders.record_fill(fill, client_order_id=cid)   # False for a trade id seen before

Importing this package is cheap (``neo.settings`` imports its config): the modules that need
SQLAlchemy load on first use of a name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from neo.persistence.config import DatabaseConfig, mask_url

if TYPE_CHECKING:
    from neo.persistence.database import (
        Database,
        MigrationStatus,
        database_url,
        head_revision,
        migration_status,
        open_database,
        upgrade_to_head,
    )
    from neo.persistence.jobs import JobStore
    from neo.persistence.journal import OPEN_OUTCOMES, UNRESOLVED_OUTCOMES, OrderJournal
    from neo.persistence.keys import SCOPES, KeyStore, scope_allows
    from neo.persistence.recorder import DurableRecorder, RestoredLedger, restore_ledger
    from neo.persistence.records import (
        AccountRecord,
        ApiKeyRecord,
        BalanceRecord,
        CreatedKey,
        FillRecord,
        JobRecord,
        OrderRecord,
        PositionRecord,
        SessionRecord,
    )
    from neo.persistence.sessions import SessionStore, make_client_order_id, session_tag
    from neo.persistence.state import AccountStore, BalanceStore, PositionStore

_HOMES = {
    "Database": "database",
    "MigrationStatus": "database",
    "database_url": "database",
    "head_revision": "database",
    "migration_status": "database",
    "open_database": "database",
    "upgrade_to_head": "database",
    "JobStore": "jobs",
    "OPEN_OUTCOMES": "journal",
    "UNRESOLVED_OUTCOMES": "journal",
    "OrderJournal": "journal",
    "SCOPES": "keys",
    "KeyStore": "keys",
    "scope_allows": "keys",
    "DurableRecorder": "recorder",
    "RestoredLedger": "recorder",
    "restore_ledger": "recorder",
    "AccountRecord": "records",
    "ApiKeyRecord": "records",
    "BalanceRecord": "records",
    "CreatedKey": "records",
    "FillRecord": "records",
    "JobRecord": "records",
    "OrderRecord": "records",
    "PositionRecord": "records",
    "SessionRecord": "records",
    "SessionStore": "sessions",
    "make_client_order_id": "sessions",
    "session_tag": "sessions",
    "AccountStore": "state",
    "BalanceStore": "state",
    "PositionStore": "state",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'neo.persistence' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"neo.persistence.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "OPEN_OUTCOMES",
    "SCOPES",
    "UNRESOLVED_OUTCOMES",
    "AccountRecord",
    "AccountStore",
    "ApiKeyRecord",
    "BalanceRecord",
    "BalanceStore",
    "CreatedKey",
    "Database",
    "DatabaseConfig",
    "DurableRecorder",
    "FillRecord",
    "JobRecord",
    "JobStore",
    "KeyStore",
    "MigrationStatus",
    "OrderJournal",
    "OrderRecord",
    "PositionRecord",
    "PositionStore",
    "RestoredLedger",
    "SessionRecord",
    "SessionStore",
    "database_url",
    "head_revision",
    "make_client_order_id",
    "mask_url",
    "migration_status",
    "open_database",
    "restore_ledger",
    "scope_allows",
    "session_tag",
    "upgrade_to_head",
]
