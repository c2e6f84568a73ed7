"""What every CLI command shares: the data-selection flags, ``--json`` output, settings access,
progress bars on stderr, and turning NeoErrors into one clear line and a non-zero exit."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import msgspec
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

from neo.domain.errors import ConfigError
from neo.domain.timeframe import Timeframe
from neo.domain.timestamps import iso_or_none
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


def parse_symbols(symbols: str | None, symbol: str | None = None) -> list[str]:
    """Symbols from ``--symbols a,b`` and/or ``--symbol a``, in order, without duplicates."""
    names = [s.strip() for s in (symbols or "").split(",") if s.strip()]
    if symbol:
        names.append(symbol.strip())
    return list(dict.fromkeys(names))


def parse_timeframe(text: str) -> Timeframe:
    return Timeframe.parse(text)


def parse_time(text: str | None) -> int | None:
    """ISO date or date-time (naive means UTC), or integer epoch ms/s, to integer ns UTC."""
    if text is None or text == "":
        return None
    stripped = text.strip()
    if stripped.isdigit():
        value = int(stripped)
        return value * 1_000_000 if value > 10**11 else value * 1_000_000_000
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"invalid time {text!r}: use an ISO date such as 2024-01-31 or 2024-01-31T12:00"
        ) from exc
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def iso_utc(ns: int | None) -> str | None:
    """Integer ns UTC → ISO 8601 with a ``Z`` (microseconds only when there are any).

    The one timestamp convention of every command's output: a time field holds this string;
    where the exact value matters, an integer ``<field>_ns`` sits beside it (:func:`stamp`).
    """
    return iso_or_none(ns)


def stamp(name: str, ns: int | None) -> dict[str, Any]:
    """``{name: ISO string, name_ns: int}`` for a JSON row (see :func:`iso_utc`)."""
    return {name: iso_utc(ns), f"{name}_ns": None if ns is None else int(ns)}


TIME_KEYS = ("ts", "start", "end")


def is_time_key(key: str) -> bool:
    """Whether a result field named ``key`` holds a point in time (in integer ns)."""
    return key in TIME_KEYS or key.endswith(("_ts", "_at"))


def times_as_iso(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row whose integer ns time fields (``ts``, ``*_ts`` …) become ISO strings, each with
    its ``_ns`` twin; other fields pass as they are."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if is_time_key(key) and isinstance(value, int | np.integer) and not isinstance(value, bool):
            out.update(stamp(key, int(value)))
        else:
            out[key] = value
    return out


def iso_times_deep(value: Any) -> Any:
    """:func:`times_as_iso` through nested mappings and lists (e.g. an ingest report with its
    warning samples)."""
    if isinstance(value, Mapping):
        return {k: iso_times_deep(v) for k, v in times_as_iso(value).items()}
    if isinstance(value, list | tuple):
        return [iso_times_deep(v) for v in value]
    return value


def metrics_json(metrics: Any) -> dict[str, Any]:
    """Performance metrics for ``--json``: ``start``/``end`` as ISO with ``_ns`` twins,
    durations in integer ns with a humanised twin (``max_drawdown_duration``: ``"31 d 14 h"``),
    non-finite figures as null."""
    from neo.analytics.html import format_duration

    out: dict[str, Any] = {}
    for key, value in times_as_iso(metrics.to_dict(json_safe=True)).items():
        out[key] = value
        if key.endswith("duration_ns"):
            out[key.removesuffix("_ns")] = None if value is None else format_duration(value)
    return out


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


def parse_window(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """``--start`` / ``--end`` as ns, refusing a window that ends before it starts."""
    start_ns, end_ns = parse_time(start), parse_time(end)
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise ConfigError(
            f"--start {start} is not before --end {end}: the window is empty; swap them or "
            "widen it (--start is inclusive, --end exclusive)"
        )
    return start_ns, end_ns


def resolve_timeframe(
    settings: NeoSettings, given: str | None, instruments: Any, default: str
) -> Timeframe:
    """``--timeframe`` if given; else the one timeframe stored for every selected instrument
    when there is exactly one (so a daily-only store needs no flag); else ``default``."""
    if given:
        return parse_timeframe(given)
    from neo.data.store.layout import iter_dataset_dirs

    wanted = {str(i) for i in instruments}
    bars_root = settings.data_dir / "store" / "bars"  # HistoricalDataStore.from_settings
    stored = {str(t) for i, t, _ in iter_dataset_dirs(bars_root) if str(i) in wanted}
    if len(stored) == 1:
        return parse_timeframe(stored.pop())
    return parse_timeframe(default)


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


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths, enums, datetimes, structs… into JSON types.

    Non-finite floats become ``null`` so the output is strict JSON.
    """
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, msgspec.Struct):
        return to_jsonable(msgspec.to_builtins(value))
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f: getattr(value, f) for f in value.__dataclass_fields__})
    return str(value)


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
