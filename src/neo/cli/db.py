"""``neo db upgrade`` and ``neo db status``: the state database's schema version.

The database is the one ``[database] url`` (``NEO_DATABASE__URL``) names, or SQLite in the data
directory; ``--url`` overrides it for one command. Passwords are masked in every output.
Opening the database for trading upgrades it too; ``upgrade`` does it ahead of time (e.g. in a
deployment step) and ``status`` only looks.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from neo.cli.common import JsonOpt, emit, settings_of

db_app = typer.Typer(
    name="db",
    help="The state database (orders, fills, sessions, keys, jobs): schema status and upgrade.",
    no_args_is_help=True,
)

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Database URL for this command (default: [database] url, else "
        "sqlite:///<data-dir>/neo.db).",
    ),
]


def _target(ctx: typer.Context, url: str | None) -> Any:
    return url if url else settings_of(ctx)


def _result(status: Any, **extra: Any) -> dict[str, Any]:
    return {
        "backend": status.backend,
        "url": status.url,
        "current": status.current,
        "head": status.head,
        "up_to_date": status.up_to_date,
        **extra,
    }


def _print(result: dict[str, Any], title: str) -> None:
    typer.echo(f"{title}: {result['backend']} {result['url']}")
    typer.echo(f"  revision {result['current'] or '(empty)'}, newest {result['head']}")


@db_app.command("status")
def status_command(ctx: typer.Context, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Show the backend, the URL (password masked), the current and the newest revision."""
    from neo.persistence import migration_status, open_database

    with open_database(_target(ctx, url), upgrade=False) as database:
        result = _result(migration_status(database))
    title = "up to date" if result["up_to_date"] else "needs `neo db upgrade`"
    emit(result, as_json, lambda: _print(result, title))


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Migrate the state database to the newest schema (creating it when missing)."""
    from neo.persistence import migration_status, open_database, upgrade_to_head

    with open_database(_target(ctx, url), upgrade=False) as database:
        before = migration_status(database).current
        result = _result(upgrade_to_head(database), previous=before)
    emit(result, as_json, lambda: _print(result, "upgraded"))


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to the root app."""
    app.add_typer(db_app, name="db")
