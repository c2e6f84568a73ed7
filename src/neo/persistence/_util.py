"""Small helpers the repositories share."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from neo.domain.errors import ConfigError, PersistenceError


def choice(value: str, allowed: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else a ConfigError that lists them."""
    options = tuple(allowed)
    if value not in options:
        raise ConfigError(f"unknown {what} {value!r}: use one of {', '.join(options)}")
    return value


def json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A plain JSON object copy of ``value``; refuses what JSON cannot hold (NaN, objects),
    so both backends store exactly the same thing."""
    if value is None:
        return {}
    try:
        encoded = json.dumps(dict(value), allow_nan=False, default=_refuse)
    except (TypeError, ValueError) as exc:
        raise PersistenceError(f"{what} must be a JSON object of plain values: {exc}") from exc
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON")


def upsert(session: Any, model: Any, values: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE, on either backend (one statement, so two
    processes writing the same row never collide)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(model).values(**values)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(model).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))
