"""What every CLI command shares: the data-selection flags, ``--json`` output, settings access,
progress bars on stderr, and turning NeoErrors into one clear line and a non-zero exit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from neo.app.formats import (  # the one JSON convention of every front end (CLI and REST)
    TIME_KEYS as TIME_KEYS,
)
from neo.app.formats import (
    is_time_key,
    iso_utc,
    to_jsonable,
)
from neo.app.formats import iso_times_deep as iso_times_deep
from neo.app.formats import metrics_json as metrics_json
from neo.app.formats import stamp as stamp
from neo.app.formats import times_as_iso as times_as_iso
from neo.app.hooks import telemetry_hook as telemetry_hook
from neo.app.selection import parse_symbols as parse_symbols
from neo.app.selection import parse_time as parse_time
from neo.app.selection import parse_timeframe as parse_timeframe
from neo.app.selection import parse_window as parse_window
from neo.app.selection import resolve_timeframe as resolve_timeframe
from neo.settings import NeoSettings, load_settings

# soft_wrap: a line printed on stderr is never broken at the terminal width (one error, one line)
stderr_console = Console(stderr=True, soft_wrap=True)

# The same data-selection flags on every command (ARCHITECTURE.md, "CLI").
VenueOpt = Annotated[str | None, typer.Option("--venue", help="Venue id, e.g. binance or sim.")]
SymbolsOpt = Annotated[
    str | None,
    typer.Option("--symbols", help="Comma-separated ccxt symbols, e.g. BTC/USDT,ETH/USDT."),
]
SymbolOpt = Annotated[str | None, typer.Option("--symbol", help="One ccxt symbol, e.g. BTC/USDT.")]
TimeframeOpt = Annotated[
    str | None,
    typer.Option(
        "--timeframe",
        help="Bar timeframe: 1m, 5m, 1h, 1d … (default: the one stored for the symbols when "
        "there is only one, else the command's default).",
    ),
]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="Inclusive start, ISO date/time (UTC).")
]
EndOpt = Annotated[str | None, typer.Option("--end", help="Exclusive end, ISO date/time (UTC).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


def error_line(message: str) -> str:
    """``error: <message>`` on one physical line, whatever line breaks the message held."""
    return "error: " + " ".join(message.split())


def usage_error_line(exc: Any) -> str:
    """A click/typer usage error as one line, with the help hint of the command at fault."""
    text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    hint = f" (try '{ctx.command_path} --help')" if ctx is not None else ""
    return error_line(f"{text}{hint}")


def unexpected_error_line(exc: BaseException) -> str:
    """One line for an exception NEO did not raise on purpose (a bug worth reporting)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    detail = f": {lines[0].strip()}" if lines else ""
    return error_line(
        f"unexpected {type(exc).__name__}{detail} (rerun with --log-level DEBUG for the "
        "traceback, and please report it)"
    )


def human_value(key: str, value: Any) -> str:
    """A result field as the text tables print it: ISO times, humanised durations, percents
    for fractions the metrics name, no ``-0``."""
    from neo.analytics.html import clean_number, format_duration, format_metric

    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return str(value)
    if key.endswith("duration_ns"):
        return format_duration(float(value))
    if is_time_key(key) or key.endswith("_ts_ns"):
        return str(iso_utc(int(value)))
    text = format_metric(key, value)
    return clean_number(text)


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) rows of :func:`metrics_json` output for a text table: the ISO times and
    humanised durations, not their ``_ns`` twins."""
    return [
        (key.replace("_", " "), human_value(key, value))
        for key, value in metrics.items()
        if not (key.endswith("_ns") and key.removesuffix("_ns") in metrics)
    ]


def settings_of(ctx: typer.Context) -> NeoSettings:
    """The settings the root callback built (or defaults when a command is invoked alone)."""
    root = ctx.find_root()
    if isinstance(root.obj, NeoSettings):
        return root.obj
    settings = load_settings()
    root.obj = settings
    return settings


def emit(result: Mapping[str, Any], as_json: bool, human: Callable[[], None] | None = None) -> None:
    """Print a command's result: one JSON object on stdout, or the human rendering."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), allow_nan=False) + "\n")
        sys.stdout.flush()
        return
    if human is not None:
        human()
        return
    console = Console()
    for key, value in to_jsonable(result).items():
        console.print(f"[bold]{key}[/bold]: {value}")


@contextmanager
def progress_bar(description: str, total: float | None, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr, shown only on a terminal; yields ``advance(n)``."""
    show = enabled and stderr_console.is_terminal
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr_console,
        disable=not show,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)

        def advance(amount: float = 1.0) -> None:
            progress.advance(task, amount)

        yield advance
