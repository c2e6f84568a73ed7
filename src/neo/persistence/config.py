"""Where NEO keeps its durable state: ``[database]`` in neo.toml, ``NEO_DATABASE__URL``.

No URL means the embedded default, SQLite in the data directory (``<data_dir>/neo.db``), so a
fresh install trades durably with no server; a ``postgresql+psycopg://`` URL selects PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SQLITE_NAME = "neo.db"
SUPPORTED_SCHEMES = ("sqlite", "postgresql")


class DatabaseConfig(BaseModel):
    """The state database. ``url`` None means ``sqlite:///<data_dir>/neo.db``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    """SQLAlchemy URL: ``sqlite:///path/neo.db`` or ``postgresql+psycopg://user:pw@host/db``."""
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    """How long a writer waits for another process's lock before failing (SQLite)."""
    sqlite_synchronous: Literal["full", "normal"] = "full"
    """``full``: every commit survives a power cut; ``normal`` (WAL): survives a crash of the
    process (SIGKILL) but a power cut may lose the last commits, for lower write latency."""

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        text = value.strip()
        scheme = text.split(":", 1)[0].split("+", 1)[0].lower()
        if scheme not in SUPPORTED_SCHEMES or "://" not in text:
            raise ValueError(
                f"unsupported database url {mask_url(text)!r}: use sqlite:///PATH or "
                "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
            )
        return text


def resolve_url(config: DatabaseConfig, data_dir: Path) -> str:
    """The URL to connect to: the configured one, or SQLite in ``data_dir``.

    A bare ``postgresql://`` (or ``postgres://``) URL is given the psycopg 3 driver, the one
    NEO ships with.
    """
    if config.url is None:
        return f"sqlite:///{Path(data_dir).expanduser().resolve() / DEFAULT_SQLITE_NAME}"
    return with_driver(config.url)


def with_driver(url: str) -> str:
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs, status output and errors)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"
