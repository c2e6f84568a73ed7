"""Test databases for the persistence layer: a fresh SQLite file or a fresh PostgreSQL schema.

PostgreSQL comes from ``NEO_TEST_POSTGRES_URL`` (``bash scripts/ci/postgres.sh start`` writes it
to /tmp/neo-ci/postgres.env, which ``make unit`` sources). It is read once, when the tests are
collected, because the autouse fixture that isolates each test clears every ``NEO_*`` variable.
Without it a PostgreSQL test skips on a developer's machine and FAILS under ``CI=true``: CI
must test both backends, never silently one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.optional import in_ci

POSTGRES_URL = os.environ.get("NEO_TEST_POSTGRES_URL", "").strip() or None
BACKENDS = ("sqlite", "postgresql")


def libpq_url(url: str) -> str:
    """The plain libpq form of a SQLAlchemy PostgreSQL URL (for psycopg.connect)."""
    rest = url.partition("://")[2]
    return "postgresql://" + rest


def require_postgres() -> str:
    if POSTGRES_URL is None:
        hint = (
            "NEO_TEST_POSTGRES_URL is not set: run `bash scripts/ci/postgres.sh start` and "
            "`. /tmp/neo-ci/postgres.env` (make unit does both when the server runs)"
        )
        if in_ci():
            pytest.fail(f"{hint} (CI must test PostgreSQL, not skip it)", pytrace=False)
        pytest.skip(hint)
    return POSTGRES_URL


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'state' / 'neo.db'}"


def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of an empty database of ``backend``; drop it afterwards."""
    if backend == "sqlite":
        yield sqlite_url(directory)
        return
    import psycopg

    base = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(libpq_url(base), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(libpq_url(base), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
