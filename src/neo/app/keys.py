"""API keys as use cases: create (the key is shown once), list, revoke.

Keys live hashed in the state database (:class:`neo.persistence.KeyStore`); ``neo keys`` and
the service's authentication both go through it. Nothing here ever logs or returns a secret
except :func:`create_key`'s one ``key`` field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neo.domain.timestamps import iso_or_none
from neo.settings import NeoSettings

if TYPE_CHECKING:
    from neo.persistence import ApiKeyRecord, Database


def open_state(settings: NeoSettings) -> Database:
    """The state database of these settings (migrated to the newest schema)."""
    from neo.persistence import open_database

    return open_database(settings)


def key_view(record: ApiKeyRecord) -> dict[str, Any]:
    """A key as listed: id, prefix, scopes, label and times; never its secret or hash."""
    return {
        "id": record.id,
        "prefix": record.prefix,
        "scopes": list(record.scopes),
        "label": record.label,
        "created_at": iso_or_none(record.created_at),
        "revoked_at": iso_or_none(record.revoked_at),
        "last_used_at": iso_or_none(record.last_used_at),
        "active": record.revoked_at is None,
    }


def create_key(db: Database, scopes: list[str], label: str = "") -> dict[str, Any]:
    """A new key: its view plus ``key``, the plaintext, which is stored nowhere."""
    created = db.keys.create(scopes, label)
    return {**key_view(created.record), "key": created.key}


def list_keys(db: Database) -> dict[str, Any]:
    return {"keys": [key_view(r) for r in db.keys.list()]}


def revoke_key(db: Database, key_id: str) -> dict[str, Any]:
    return key_view(db.keys.revoke(key_id))


def active_keys(db: Database) -> int:
    """How many unrevoked keys exist (``neo serve`` binds beyond loopback only if any)."""
    return db.keys.count_active()
