"""API keys for the REST service: created once, stored only as a salted hash, checked in
constant time.

A key reads ``neo_<id>_<secret>``: ``id`` (12 hex digits) finds the row, ``secret`` (256 random
bits, URL-safe base64) is what proves possession. The table keeps ``sha256(salt ‖ secret)``
with a per-key random salt; since the secret itself has 256 bits of entropy, a fast hash is as
safe as a slow one here and keeps each request cheap. :meth:`KeyStore.create` is the only place
the plaintext key ever appears.

Scopes are ordered: ``read`` < ``trade`` < ``admin`` (a key with ``trade`` may read).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from neo.domain.errors import ConfigError, RecordNotFoundError
from neo.persistence.models import ApiKeyRow
from neo.persistence.records import ApiKeyRecord, CreatedKey, now_ns

if TYPE_CHECKING:
    from neo.persistence.database import Database

SCOPES = ("read", "trade", "admin")
KEY_PREFIX = "neo_"
_ID_HEX = 12
_KEY_PATTERN = re.compile(r"neo_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})")
TOUCH_INTERVAL_NS = 60 * 1_000_000_000
"""``last_used_at`` is written at most once a minute per key, not on every request."""
_DUMMY_SALT = secrets.token_hex(16)


def scope_allows(scopes: Iterable[str], needed: str) -> bool:
    """Whether a key holding ``scopes`` may do what needs ``needed``."""
    rank = SCOPES.index(_scope(needed))
    return any(scope in SCOPES and SCOPES.index(scope) >= rank for scope in scopes)


def _scope(name: str) -> str:
    if name not in SCOPES:
        raise ConfigError(f"unknown scope {name!r}: use one of {', '.join(SCOPES)}")
    return name


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class KeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def create(self, scopes: Iterable[str], label: str = "") -> CreatedKey:
        """A new key with ``scopes``; the plaintext is in the result and nowhere else."""
        wanted = tuple(dict.fromkeys(_scope(scope) for scope in scopes))
        if not wanted:
            raise ConfigError("an API key needs at least one scope: read, trade or admin")
        key_id = secrets.token_hex(_ID_HEX // 2)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        row = ApiKeyRow(
            id=key_id,
            prefix=f"{KEY_PREFIX}{key_id}",
            hash=f"sha256${salt}${_digest(salt, secret)}",
            scopes=list(wanted),
            label=" ".join(label.split())[:200],
            created_at=now_ns(),
            revoked_at=None,
            last_used_at=None,
        )
        with self._db.transaction() as session:
            session.add(row)
        return CreatedKey(key=f"{KEY_PREFIX}{key_id}_{secret}", record=ApiKeyRecord.of(row))

    def verify(self, key: str, *, touch: bool = True) -> ApiKeyRecord | None:
        """The key's record when ``key`` is a valid, unrevoked key; None otherwise.

        The secret is compared with :func:`hmac.compare_digest`, and an unknown id costs the
        same hash as a known one, so timing tells nothing about which part was wrong.
        """
        match = _KEY_PATTERN.fullmatch(key.strip())
        key_id, secret = (match.group(1), match.group(2)) if match else ("", key)
        with self._db.reading() as session:
            row = session.get(ApiKeyRow, key_id) if key_id else None
            record = None if row is None else ApiKeyRecord.of(row)
            stored = row.hash if row is not None else f"sha256${_DUMMY_SALT}${'0' * 64}"
        _, salt, expected = stored.split("$", 2)
        good = hmac.compare_digest(_digest(salt, secret), expected)
        if not good or record is None or record.revoked_at is not None:
            return None
        if touch:
            self._touch(record)
        return record

    def _touch(self, record: ApiKeyRecord) -> None:
        now = now_ns()
        if record.last_used_at is not None and now - record.last_used_at < TOUCH_INTERVAL_NS:
            return
        with self._db.transaction() as session:
            row = session.get(ApiKeyRow, record.id)
            if row is not None:
                row.last_used_at = now

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (idempotent); RecordNotFoundError for an unknown id."""
        with self._db.transaction() as session:
            row = session.get(ApiKeyRow, key_id, with_for_update=True)
            if row is None:
                raise RecordNotFoundError(f"no API key with id {key_id!r}: see `neo keys list`")
            if row.revoked_at is None:
                row.revoked_at = now_ns()
            return ApiKeyRecord.of(row)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        with self._db.reading() as session:
            row = session.get(ApiKeyRow, key_id)
            return None if row is None else ApiKeyRecord.of(row)

    def list(self, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
        """Every key, oldest first, without secrets or hashes."""
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if not include_revoked:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        with self._db.reading() as session:
            return [ApiKeyRecord.of(row) for row in session.scalars(query)]

    def count_active(self) -> int:
        query = select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
        with self._db.reading() as session:
            return int(session.scalar(query) or 0)
