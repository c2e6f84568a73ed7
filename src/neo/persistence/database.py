"""Opening the state database: engine, connection pragmas, transactions and migrations.

:func:`open_database` is the one way in. It resolves the URL (settings, a config, or a URL),
creates the engine with the settings each backend needs for durability under concurrency, runs
the bundled Alembic migrations up to head, and returns a :class:`Database` holding the
repositories.

SQLite is opened in WAL mode (readers never block the writer) with foreign keys on and a busy
timeout; every write transaction starts with ``BEGIN IMMEDIATE`` so two processes that read and
then write never deadlock on a lock upgrade (the second one waits for the first instead).
PostgreSQL runs the default READ COMMITTED; the repositories lock the rows they update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from neo.domain.errors import NeoError, PersistenceError
from neo.persistence.config import DatabaseConfig, mask_url, resolve_url, with_driver

if TYPE_CHECKING:
    from neo.persistence.jobs import JobStore
    from neo.persistence.journal import OrderJournal
    from neo.persistence.keys import KeyStore
    from neo.persistence.sessions import SessionStore
    from neo.persistence.state import AccountStore, BalanceStore, PositionStore
    from neo.settings import NeoSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_READ_ONLY = "neo_read_only"
_PG_MIGRATION_LOCK = 0x4E454F  # "NEO": one migrating process at a time per database


class Database:
    """An open state database: the engine, transactions, and one instance of each repository.

    Thread-safe (each call checks a connection out of the engine's pool); open it once per
    process and share it. Use :meth:`close` (or ``with``) to release the connections.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        from neo.persistence.jobs import JobStore
        from neo.persistence.journal import OrderJournal
        from neo.persistence.keys import KeyStore
        from neo.persistence.sessions import SessionStore
        from neo.persistence.state import AccountStore, BalanceStore, PositionStore

        self.engine = engine
        self.url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(
            engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )
        self.sessions: SessionStore = SessionStore(self)
        self.orders: OrderJournal = OrderJournal(self)
        self.positions: PositionStore = PositionStore(self)
        self.balances: BalanceStore = BalanceStore(self)
        self.accounts: AccountStore = AccountStore(self)
        self.keys: KeyStore = KeyStore(self)
        self.jobs: JobStore = JobStore(self)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def session(self) -> Session:
        """A new ORM session (the caller manages its transaction)."""
        return self._sessions()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction, committed (durably) when the block ends without an error."""
        with self._guard(), self._sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite it takes no write lock)."""
        with self._guard(), self._reader() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except NeoError:
            raise
        except SQLAlchemyError as exc:
            raise PersistenceError(f"state database {self.masked_url}: {_first_line(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    backend: str
    url: str
    """The URL with its password masked."""
    current: str | None
    head: str | None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def database_url(target: NeoSettings | DatabaseConfig | str | None = None) -> str:
    """The URL ``target`` selects: a URL as given, a config or the settings' ``[database]``
    (SQLite in the data directory when no URL is set), or the current settings when None."""
    if isinstance(target, str):
        return with_driver(target)
    if isinstance(target, DatabaseConfig):
        from neo.settings import load_settings

        return resolve_url(target, load_settings().data_dir)
    if target is None:
        from neo.settings import load_settings

        target = load_settings()
    return resolve_url(target.database, target.data_dir)


def open_database(
    target: NeoSettings | DatabaseConfig | str | None = None, *, upgrade: bool = True
) -> Database:
    """Open the state database and (by default) migrate it to the newest schema.

    ``target`` is the settings, a :class:`DatabaseConfig`, a SQLAlchemy URL, or None for the
    current settings. Raises :class:`PersistenceError` with a one-line reason when the database
    cannot be reached or migrated.
    """
    config = _config_of(target)
    url = database_url(target)
    engine = make_engine(url, config)
    database = Database(engine, url)
    try:
        if upgrade:
            upgrade_to_head(database)
        else:
            with database.reading() as session:
                session.execute(text("SELECT 1"))
    except BaseException:
        database.close()
        raise
    return database


def _config_of(target: object) -> DatabaseConfig:
    if isinstance(target, DatabaseConfig):
        return target
    config = getattr(target, "database", None)
    return config if isinstance(config, DatabaseConfig) else DatabaseConfig()


def make_engine(url: str, config: DatabaseConfig | None = None) -> Engine:
    """An engine for ``url`` with NEO's connection settings (see the module docstring)."""
    config = config or DatabaseConfig()
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url, config)
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise PersistenceError(
            f"cannot use database url {mask_url(url)}: {_first_line(exc)} "
            "(set [database] url or NEO_DATABASE__URL to sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB)"
        ) from exc


def _sqlite_engine(url: str, config: DatabaseConfig) -> Engine:
    engine = create_engine(url, connect_args={"timeout": config.busy_timeout_ms / 1000})
    database = engine.url.database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # NEO issues BEGIN itself (see _on_begin)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(config.busy_timeout_ms)}")
            cursor.execute(f"PRAGMA synchronous={config.sqlite_synchronous.upper()}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this version of NEO."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return head


def upgrade_to_head(database: Database) -> MigrationStatus:
    """Apply every missing migration in one transaction (one process at a time)."""
    from alembic import command

    with database.transaction() as session:
        connection = session.connection()
        if database.backend == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        command.upgrade(_alembic_config(connection), "head")
    return migration_status(database)


def migration_status(database: Database) -> MigrationStatus:
    """Which revision the database is at and which one this NEO ships."""
    from alembic.runtime.migration import MigrationContext

    with database.reading() as session:
        current = MigrationContext.configure(session.connection()).get_current_revision()
    return MigrationStatus(
        backend=database.backend, url=database.masked_url, current=current, head=head_revision()
    )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
