"""``neo keys create|list|revoke``: API keys of the REST service (stored hashed in the state
database; the key itself is printed once, by ``create``, and never again)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from neo.cli.common import JsonOpt, emit, settings_of

keys_app = typer.Typer(name="keys", help="API keys of `neo serve`.", no_args_is_help=True)


def _db(ctx: typer.Context) -> Any:
    from neo.app.keys import open_state

    return open_state(settings_of(ctx))


@keys_app.command("create")
def create_command(
    ctx: typer.Context,
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="read, trade or admin (each includes the ones before it)."),
    ],
    label: Annotated[str, typer.Option("--label", help="What the key is for.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once (as ``key``): store it now, it cannot be shown again."""
    from neo.app.keys import create_key

    db = _db(ctx)
    try:
        result = create_key(db, scope, label)
    finally:
        db.close()

    def human() -> None:
        typer.echo(result["key"])
        typer.echo(
            f"created key {result['id']} with scopes {', '.join(result['scopes'])}: it is shown "
            "only now; send it as Authorization: Bearer <key>",
            err=True,
        )

    emit(result, as_json, human)


@keys_app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every key (id, prefix, scopes, label, times), never the key itself."""
    from neo.app.keys import list_keys

    db = _db(ctx)
    try:
        result = list_keys(db)
    finally:
        db.close()

    def human() -> None:
        if not result["keys"]:
            typer.echo("no API keys: create one with `neo keys create --scope read`")
        for key in result["keys"]:
            state = "active" if key["active"] else f"revoked {key['revoked_at']}"
            typer.echo(f"{key['id']}  {','.join(key['scopes'])}  {state}  {key['label']}")

    emit(result, as_json, human)


@keys_app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (see `neo keys list`).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: the service refuses it (401) from the next request on."""
    from neo.app.keys import revoke_key

    db = _db(ctx)
    try:
        result = revoke_key(db, key_id)
    finally:
        db.close()
    emit(result, as_json, lambda: typer.echo(f"revoked key {result['id']}"))


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
