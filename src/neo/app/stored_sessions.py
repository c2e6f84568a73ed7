"""Sessions the state database knows, for ``/v1/sessions``: those running in their own process
(``neo live``, ``neo paper --feed exchange:…``) and those of an earlier service run.

Their view comes from the ``sessions`` row and its last checkpoint (bars, equity, positions,
orders and fills counted at the end of the last complete step) and their orders and fills
from the order journal, so the service shows a session it did not start, and one it started
before a restart, as the database has it. Equity curves and risk events are kept only by a
session running in this process.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from neo.app.formats import to_jsonable
from neo.domain.timestamps import iso_or_none
from neo.persistence import Database
from neo.persistence.records import SessionRecord


def stored_view(record: SessionRecord) -> dict[str, Any]:
    """A stored session in the shape of an in-process one (``source: database``)."""
    checkpoint = record.checkpoint or {}
    return {
        "id": record.id,
        "kind": record.kind,
        "account": record.account,
        "strategy": record.strategy,
        "status": record.status,
        "started_at": iso_or_none(record.started_at),
        "updated_at": iso_or_none(record.updated_at),
        "bars": int(checkpoint.get("bars", 0)),
        "equity": checkpoint.get("equity"),
        "positions": dict(checkpoint.get("positions", {})),
        "fills": int(checkpoint.get("fills", 0)),
        "orders": int(checkpoint.get("orders", 0)),
        "params": to_jsonable(record.params),
        "source": "database",
    }


def stored_sessions(db: Database, *, besides: set[str]) -> list[dict[str, Any]]:
    """Every stored session but those named in ``besides`` (running here), oldest first."""
    return [stored_view(r) for r in db.sessions.list() if r.id not in besides]


def stored_session(db: Database, session_id: str) -> dict[str, Any]:
    """One stored session's view; RecordNotFoundError when the database has none."""
    return stored_view(db.sessions.require(session_id))


def stored_records(db: Database, session_id: str, what: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` journaled ``orders`` or ``fills`` of a stored session."""
    db.sessions.require(session_id)
    journal = db.orders
    rows = (
        journal.orders(session_id=session_id)
        if what == "orders"
        else journal.fills(session_id=session_id)
    )
    return [_shown(to_jsonable(asdict(row))) for row in rows[-limit:]]


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A journal row with the fields an in-process session's rows have too: ``instrument``
    (``symbol@venue``) and ``ts`` (ISO, when it traded or was created)."""
    stamp = row.get("ts_ns") or row.get("created_ns")
    return {**row, "instrument": f"{row['symbol']}@{row['venue']}", "ts": iso_or_none(stamp)}


__all__ = ["stored_records", "stored_session", "stored_sessions", "stored_view"]
