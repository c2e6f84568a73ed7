"""The ``neo`` command: a typer app whose command groups live one per module."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from neo.cli.common import JsonOpt, emit, error_line, unexpected_error_line, usage_error_line
from neo.domain.errors import NeoError
from neo.logs import configure_logging, get_logger
from neo.settings import load_settings

log = get_logger("cli")


class NeoGroup(TyperGroup):
    """Root group: every failure becomes one ``error: ...`` line on stderr and an exit code.

    A NeoError keeps its own exit code; a usage error (unknown option, missing value, bad
    choice) exits 2 instead of typer's boxed panel; anything unexpected exits 1 with its type
    and first line (the traceback is logged at DEBUG), never a traceback on the terminal.
    """

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        try:
            return super().invoke(ctx)
        except NeoError as exc:
            typer.echo(error_line(str(exc)), err=True)
            raise typer.Exit(code=exc.exit_code) from None
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug: still one line, details at --log-level DEBUG
            log.debug("unexpected error", exc_info=True)
            typer.echo(unexpected_error_line(exc), err=True)
            raise typer.Exit(code=1) from None

    def main(  # type: ignore[override]  # click's parameters, used by keyword
        self, args: Any = None, prog_name: str | None = None, *, standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        if not standalone_mode:  # the caller handles exceptions itself
            return super().main(args, prog_name, standalone_mode=False, **kwargs)
        try:
            result = super().main(args, prog_name, standalone_mode=False, **kwargs)
        except typer.TyperException as exc:  # click's UsageError and friends
            typer.echo(usage_error_line(exc), err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo(error_line("aborted"), err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=NeoGroup,
    name="neo",
    help="NEO: autonomous hybrid-AI trading, from raw market data to orders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (default ./neo.toml).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where NEO keeps its data (./neo-data).")
    ] = None,
    log_json: Annotated[
        bool | None, typer.Option("--log-json", help="Log JSON lines to stderr.")
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)."),
    ] = None,
) -> None:
    settings = load_settings(config, data_dir=data_dir, log_json=log_json, log_level=log_level)
    configure_logging(settings.log_level, settings.log_json)
    ctx.obj = settings


def package_version() -> str:
    try:
        return version("neo-trading")
    except PackageNotFoundError:  # pragma: no cover - only when run from a bare checkout
        return "0+unknown"


@app.command("version")
def version_command(as_json: JsonOpt = False) -> None:
    """Print NEO's version."""
    result = {"name": "neo", "version": package_version(), "python": sys.version.split()[0]}
    emit(result, as_json, lambda: typer.echo(f"neo {result['version']}"))


def _register_command_groups() -> None:
    from neo.cli import data, demo, models, risk, strategies, sweep, trading

    for module in (data, models, trading, strategies, risk, demo, sweep):
        module.register(app)
    from neo.cli import keys, serve  # neo serve, neo keys (the REST service)

    for module in (keys, serve):
        module.register(app)


_register_command_groups()


def main() -> None:
    """Console-script entry point."""
    app()
