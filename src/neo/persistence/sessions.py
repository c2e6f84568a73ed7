"""Sessions and their client order ids.

A client order id is ``neo<tag>-<seq>``: at most 36 characters of ``[A-Za-z0-9_-]`` (Binance's
rule, the strictest of the venues NEO trades), where ``tag`` names the session and ``seq`` counts
up from 1. :meth:`SessionStore.allocate_client_ids` moves the session's persisted counter forward
and commits BEFORE it hands an id out, so an id is never used twice, even by a process killed
with SIGKILL and restarted, or by several processes at once: the counter's row is updated in
one statement under the database's write lock.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from neo.domain.errors import ConfigError, PersistenceError, RecordNotFoundError
from neo.persistence._util import choice, json_object
from neo.persistence.models import SESSION_KINDS, SESSION_STATUSES, SessionRow
from neo.persistence.records import SessionRecord, now_ns

if TYPE_CHECKING:
    from neo.persistence.database import Database

CLIENT_ID_MAX_LENGTH = 36
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,36}")
MAX_TAG_LENGTH = 20
MAX_SEQ = 10**12 - 1  # 3 + 20 + 1 + 12 = 36 characters at most
_PLAIN_TAG = re.compile(r"[A-Za-z0-9]{1,20}")


def session_tag(session_id: str) -> str:
    """The tag of a session's client order ids: the id itself when it is at most 20 letters
    and digits, else 12 hex digits of its SHA-256."""
    if _PLAIN_TAG.fullmatch(session_id):
        return session_id
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]


def make_client_order_id(tag: str, seq: int) -> str:
    if not _PLAIN_TAG.fullmatch(tag) or not 0 < seq <= MAX_SEQ:
        raise ConfigError(f"cannot make a client order id from tag {tag!r} and number {seq}")
    return f"neo{tag}-{seq}"


class SessionStore:
    """Paper, live and backtest sessions: status, checkpoint and client order ids."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def create(
        self,
        kind: str,
        account: str,
        strategy: str,
        params: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        status: str = "running",
    ) -> SessionRecord:
        """A new session (id generated when not given). Raises PersistenceError if the id is
        taken: resume that session with :meth:`get` instead."""
        choice(kind, SESSION_KINDS, "session kind")
        choice(status, SESSION_STATUSES, "session status")
        identifier = session_id if session_id is not None else secrets.token_hex(6)
        if not identifier or len(identifier) > 64:
            raise ConfigError(f"session id {identifier!r} must have 1 to 64 characters")
        now = now_ns()
        row = SessionRow(
            id=identifier,
            tag=session_tag(identifier),
            kind=kind,
            account=account,
            strategy=strategy,
            params=json_object(params, "session params"),
            status=status,
            started_at=now,
            updated_at=now,
            next_client_seq=1,
            checkpoint=None,
        )
        try:
            with self._db.transaction() as session:
                session.add(row)
        except PersistenceError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise PersistenceError(
                    f"session {identifier!r} already exists (or its tag {row.tag!r} is taken): "
                    "resume it, or choose another session id"
                ) from exc
            raise
        return SessionRecord.of(row)

    def get(self, session_id: str) -> SessionRecord | None:
        with self._db.reading() as session:
            row = session.get(SessionRow, session_id)
            return None if row is None else SessionRecord.of(row)

    def require(self, session_id: str) -> SessionRecord:
        """The session, or RecordNotFoundError."""
        record = self.get(session_id)
        if record is None:
            raise RecordNotFoundError(f"no session {session_id!r} in the state database")
        return record

    def list(
        self, *, status: str | None = None, kind: str | None = None, account: str | None = None
    ) -> list[SessionRecord]:
        """Sessions, oldest first, optionally filtered."""
        query = select(SessionRow).order_by(SessionRow.started_at, SessionRow.id)
        if status is not None:
            query = query.where(SessionRow.status == status)
        if kind is not None:
            query = query.where(SessionRow.kind == kind)
        if account is not None:
            query = query.where(SessionRow.account == account)
        with self._db.reading() as session:
            return [SessionRecord.of(row) for row in session.scalars(query)]

    def set_status(self, session_id: str, status: str) -> SessionRecord:
        choice(status, SESSION_STATUSES, "session status")
        with self._db.transaction() as session:
            row = _row(session, session_id)
            row.status = status
            row.updated_at = now_ns()
            return SessionRecord.of(row)

    def save_checkpoint(self, session_id: str, checkpoint: Mapping[str, Any]) -> None:
        """Replace the session's checkpoint (a JSON object: last bar per instrument, equity
        peak, loop stats …), committed when this returns."""
        data = json_object(checkpoint, f"checkpoint of session {session_id!r}")
        with self._db.transaction() as session:
            row = _row(session, session_id)
            row.checkpoint = data
            row.updated_at = now_ns()

    def checkpoint(self, session_id: str) -> dict[str, Any] | None:
        """The last checkpoint saved, or None before the first."""
        return self.require(session_id).checkpoint

    def allocate_client_ids(self, session_id: str, n: int = 1) -> builtins.list[str]:
        """``n`` fresh client order ids, persisted (committed) before they are returned."""
        with self._db.transaction() as session:
            return allocate(session, session_id, n)


def allocate(session: Session, session_id: str, n: int) -> list[str]:
    """Reserve ``n`` ids inside the caller's transaction (one UPDATE … RETURNING, so
    concurrent allocations serialise on the row and never overlap)."""
    if n < 1:
        raise ConfigError(f"allocate at least one client order id, not {n}")
    statement = (
        update(SessionRow)
        .where(SessionRow.id == session_id)
        .values(next_client_seq=SessionRow.next_client_seq + n, updated_at=now_ns())
        .returning(SessionRow.next_client_seq, SessionRow.tag)
        .execution_options(synchronize_session=False)
    )
    found = session.execute(statement).first()
    if found is None:
        raise RecordNotFoundError(
            f"no session {session_id!r} in the state database: create it before placing orders"
        )
    end, tag = int(found[0]), str(found[1])
    if end - 1 > MAX_SEQ:
        raise PersistenceError(f"session {session_id!r} has used every client order id")
    return [make_client_order_id(tag, seq) for seq in range(end - n, end)]


def _row(session: Session, session_id: str) -> SessionRow:
    row = session.get(SessionRow, session_id, with_for_update=True)
    if row is None:
        raise RecordNotFoundError(f"no session {session_id!r} in the state database")
    return row
