"""CLI commands of the data layer: ``neo simulate``, ``neo ingest`` and ``neo data …``.

Each is a thin shell over :mod:`neo.data` (the same service the REST API will use): parse the
shared flags, call the library, print one result (``--json``: one object on stdout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from neo.app.formats import iso_times_deep
from neo.app.ingest import dataset_stats, ingest_file, quarantine_view, report_payload
from neo.cli.common import (
    EndOpt,
    JsonOpt,
    StartOpt,
    SymbolOpt,
    SymbolsOpt,
    TimeframeOpt,
    VenueOpt,
    emit,
    parse_symbols,
    parse_time,
    parse_timeframe,
    parse_window,
    progress_bar,
    resolve_timeframe,
    settings_of,
)
from neo.domain.errors import ConfigError, DataValidationError
from neo.domain.ids import InstrumentId
from neo.domain.timestamps import iso_or_none

FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="csv, parquet, feather or json (default: from the suffix)."),
]

data_app = typer.Typer(
    name="data", help="Inspect, export and curate the historical store.", no_args_is_help=True
)


def _one_symbol(symbol: str | None, symbols: str | None = None) -> str:
    names = parse_symbols(symbols, symbol)
    if len(names) != 1:
        raise ConfigError("pass exactly one symbol with --symbol, e.g. --symbol BTC/USDT")
    return names[0]


def _instrument(ctx: typer.Context, venue: str | None, symbol: str | None) -> InstrumentId:
    return InstrumentId(venue or settings_of(ctx).data.default_venue, _one_symbol(symbol))


def _api(ctx: typer.Context) -> Any:
    from neo.app.ingest import ingestion_api

    return ingestion_api(settings_of(ctx))


def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="File to write (.csv or .parquet).")],
    symbols: SymbolsOpt = "BTC/USDT",
    timeframe: TimeframeOpt = "1m",
    bars: Annotated[int, typer.Option("--bars", help="Bars per symbol.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 7,
    correlation: Annotated[
        float, typer.Option("--correlation", help="Pairwise correlation of returns, [0, 1).")
    ] = 0.5,
    venue: VenueOpt = "sim",
    as_json: JsonOpt = False,
) -> None:
    """Write a seeded synthetic dataset (regime-switching correlated random walks).

    Several symbols share one file with a ``symbol`` column; ``neo ingest FILE --symbol S``
    picks one of them.
    """
    from neo.data.feeds import simulate_bars, write_bars

    names = parse_symbols(symbols)
    batches = simulate_bars(
        names, parse_timeframe(timeframe or "1m"), bars, seed, venue=venue or "sim",
        correlation=correlation,
    )  # fmt: skip
    rows = write_bars(list(batches.values()), out)
    first = next(iter(batches.values()))
    result = {
        "path": str(out), "rows": rows, "symbols": names, "timeframe": timeframe,
        "bars_per_symbol": bars, "seed": seed, "first_ts": iso_or_none(int(first.ts[0])),
        "last_ts": iso_or_none(int(first.ts[-1])),
    }  # fmt: skip
    emit(result, as_json, lambda: typer.echo(f"wrote {rows} bars of {', '.join(names)} to {out}"))


_SHOWN_WARNINGS = 5


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    inferred = " (inferred)" if report["timeframe_inferred"] else ""
    table = Table(
        title=f"{report['instrument']} {report['timeframe']}{inferred} ← {report['source']}"
    )
    table.add_column("result")
    table.add_column("rows", justify="right")
    for key in ("rows_read", "accepted", "rejected", "merged_duplicates", "warnings", "stored"):
        table.add_row(key, str(report[key]))
    for code, count in report["counts_by_rule"].items():
        if count:
            table.add_row(f"  rule {code}", str(count))
    Console().print(table)
    events = [w for w in report["warning_samples"] if w["code"] != "return_zscore"]
    for w in events[:_SHOWN_WARNINGS]:
        typer.echo(f"warning: {w['code']} at {w['ts']}: {w['message']}")


_report_payload = report_payload


ReplaceOpt = Annotated[
    bool,
    typer.Option(
        "--replace",
        help="Allow changing bars another source stored (recorded in the series' provenance).",
    ),
]


def _say_provenance(report: Any) -> None:
    """On stderr: bars appended to another source's series, or another source's replaced."""
    if report.replaced:
        typer.echo(
            f"note: replaced {report.replaced} bars of {report.instrument} {report.timeframe} "
            "that another source had stored (recorded in its provenance)",
            err=True,
        )
    if report.other_sources and report.inserted:
        typer.echo(
            f"note: added {report.inserted} new bars to {report.instrument} "
            f"{report.timeframe}, which also holds bars from {', '.join(report.other_sources)}",
            err=True,
        )


InferredTimeframeOpt = Annotated[
    str | None,
    typer.Option(
        "--timeframe",
        help="Bar timeframe: 1m, 5m, 1h, 1d … (default: inferred from the median spacing of "
        "the file's timestamps, and reported; one that contradicts the file is an error).",
    ),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="strftime format of text dates, e.g. %d/%m/%Y or %m/%d/%Y (needed when a file's "
        "dd/mm or mm/dd order is ambiguous).",
    ),
]
IngestSymbolOpt = Annotated[
    str | None,
    typer.Option(
        "--symbol",
        help="The file's instrument, e.g. BTC/USDT; for a file with a symbol column, the one "
        "to take (default: every symbol in the file).",
    ),
]


def ingest_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV, Parquet, feather or ccxt/freqtrade JSON.")],
    symbol: IngestSymbolOpt = None,
    timeframe: InferredTimeframeOpt = None,
    venue: VenueOpt = None,
    fmt: FormatOpt = None,
    replace: ReplaceOpt = False,
    date_format: DateFormatOpt = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Also publish the accepted bars to the Redis bus (redis.url / NEO_REDIS__URL) "
            "for `neo paper --bus redis`; publishing again adds nothing.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate a file and store its bars; rejected rows go to the quarantine.

    Without ``--symbol`` a file with a symbol column is ingested whole, one report per symbol
    (``--json``: ``{"reports": [...]}``). Bars another source stored are never changed
    silently: such an ingest is refused, naming both sources, unless ``--replace`` is given
    (then it is recorded in the provenance).
    """
    options = {
        "timeframe": timeframe, "fmt": fmt, "date_format": date_format, "replace": replace,
    }  # fmt: skip
    venue_name = venue or settings_of(ctx).data.default_venue
    if symbol is None:
        api = _api(ctx)
        reports = ingest_file(api, file, venue=venue_name, symbol=None, **options)
        for one in reports:
            _say_provenance(one)
        payloads = [_report_payload(r) for r in reports]
        bus = _publish(ctx, api, reports) if publish else None

        def human() -> None:
            for payload in payloads:
                _print_report(payload)

        emit({"reports": payloads, **bus_payload(bus)}, as_json, human)
        _fail_if_nothing_accepted(file, reports)
        return
    instrument = _instrument(ctx, venue, symbol)
    api = _api(ctx)
    (report,) = ingest_file(api, file, venue=instrument.venue, symbol=instrument.symbol, **options)
    _say_provenance(report)
    payload = {
        **_report_payload(report),
        **bus_payload(_publish(ctx, api, [report]) if publish else None),
    }
    emit(payload, as_json, lambda: _print_report(payload))
    _fail_if_nothing_accepted(file, [report])


def _publish(ctx: typer.Context, api: Any, reports: list[Any]) -> Any:
    """``--publish``: the accepted bars onto the Redis bus (after they are stored)."""
    from neo.service.redis_bus import publish_ingested

    return publish_ingested(api.store, reports, settings_of(ctx))


def bus_payload(result: Any) -> dict[str, Any]:
    """``{"bus": {"published": n, "duplicates": m}}`` after ``--publish``, else nothing."""
    return {} if result is None else {"bus": result.to_dict()}


def _fail_if_nothing_accepted(file: Path, reports: list[Any]) -> None:
    bad = [r for r in reports if not r.ok]
    if bad:
        raise DataValidationError(
            f"no row of {file} was accepted for {', '.join(r.instrument for r in bad)} "
            f"({sum(r.rejected for r in bad)} quarantined); see `neo data quarantine`"
        )


@data_app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List stored datasets.

    A damaged store file does not hide the healthy datasets: each one is named in a
    ``warning:`` line on stderr (and under ``damaged`` in the JSON), left out of the counts,
    and the command still succeeds, since the listing is what is asked for.
    """
    infos = _api(ctx).datasets()
    datasets = [
        {
            "venue": d.venue,
            "symbol": d.symbol,
            "timeframe": d.timeframe,
            "rows": d.rows,
            "first": iso_or_none(d.first_ts),
            "last": iso_or_none(d.last_ts),
            "files": d.files,
            "bytes": d.bytes,
            "sources": dict(d.sources),
            "provenance": [dict(e) for e in d.provenance],
        }
        for d in infos
    ]
    damaged = [entry for d in infos for entry in d.damaged]
    for entry in damaged:
        typer.echo(
            f"warning: damaged store file {entry} (left out; move it out of the store and "
            "ingest its data again)",
            err=True,
        )

    def human() -> None:
        if not datasets:
            typer.echo("the store is empty: try `neo data ingest-samples`")
        for d in datasets:
            typer.echo(
                f"{d['symbol']}@{d['venue']} {d['timeframe']}: {d['rows']} rows "
                f"{d['first']} → {d['last']}"
            )

    emit({"datasets": datasets, "damaged": damaged}, as_json, human)


@data_app.command("stats")
def stats_command(
    ctx: typer.Context,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    venue: VenueOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rows, span, gaps and return/volatility summary of one dataset."""
    stats = dataset_stats(
        _api(ctx), settings_of(ctx), symbol=_one_symbol(symbol), venue=venue,
        timeframe=timeframe, start=start, end=end,
    )  # fmt: skip
    emit(stats, as_json)


@data_app.command("export")
def export_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="File to write (.csv or .parquet).")],
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    venue: VenueOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stream a stored range to CSV or Parquet (works for ranges larger than memory)."""
    instrument = _instrument(ctx, venue, symbol)
    frame = resolve_timeframe(settings_of(ctx), timeframe, [instrument], "1m")
    start_ns, end_ns = parse_window(start, end)
    result = _api(ctx).export(
        instrument, str(frame), out, fmt=fmt, start_ns=start_ns, end_ns=end_ns
    )
    payload = {"path": str(result.path), "rows": result.rows, "format": result.format}
    emit(payload, as_json, lambda: typer.echo(f"exported {result.rows} rows to {result.path}"))


@data_app.command("quarantine")
def quarantine_command(
    ctx: typer.Context,
    symbol: SymbolOpt = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", help="Bar timeframe.")] = None,
    venue: VenueOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show rows rejected at ingestion, with their stable ids, reasons and source (release a
    reviewed one with `neo data release ID`)."""
    result = quarantine_view(
        _api(ctx), settings_of(ctx), symbol=symbol, venue=venue, timeframe=timeframe, limit=limit
    )
    sample, reasons = result["sample"], result["by_reason"]

    def human() -> None:
        typer.echo(f"{result['rows']} quarantined rows; by reason: {reasons}")
        for row in sample:
            typer.echo(
                f"  {row['id']} {row['symbol']}@{row['venue']} {row['ts']}: {row['reasons']}"
            )

    emit(result, as_json, human)


@data_app.command("samples")
def samples_command(as_json: JsonOpt = False) -> None:
    """List the real historical data shipped with NEO."""
    from neo.data.samples import list_samples

    samples = [
        {
            "symbol": s.symbol,
            "venue": s.venue,
            "timeframe": s.timeframe,
            "rows": s.rows,
            "first": iso_or_none(s.first_ts),
            "last": iso_or_none(s.last_ts),
            "path": str(s.path),
        }
        for s in list_samples()
    ]

    def human() -> None:
        for s in samples:
            typer.echo(f"{s['symbol']}@{s['venue']} {s['timeframe']}: {s['rows']} rows "
                       f"{s['first']} → {s['last']}")  # fmt: skip

    emit({"samples": samples}, as_json, human)


@data_app.command("ingest-samples")
def ingest_samples_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Validate and store every shipped sample (idempotent).

    Samples never change your data: a sample whose series already holds bars from another
    source is skipped, with a ``warning:`` line on stderr (and under ``skipped``).
    """
    from neo.data.samples import ingest_samples_report

    done, skipped = ingest_samples_report(_api(ctx))
    reports = [report_payload(r) for r in done]
    for message in skipped:
        typer.echo(f"warning: {message}", err=True)

    def human() -> None:
        for r in reports:
            typer.echo(f"{r['instrument']}: {r['accepted']} accepted, {r['rejected']} "
                       f"quarantined, {r['stored']} new or changed")  # fmt: skip

    emit({"reports": reports, "skipped": skipped}, as_json, human)


@data_app.command("release")
def release_command(
    ctx: typer.Context,
    ids: Annotated[list[str], typer.Argument(help="Ids from `neo data quarantine --json`.")],
    as_json: JsonOpt = False,
) -> None:
    """Store reviewed quarantined rows: each is validated again, except the rule it failed
    (a price jump or a duplicate conflict), stored with its source and removed from the
    quarantine; recorded in the series' provenance."""
    from neo.data.store.review import release

    api = _api(ctx)
    done = release(api.store, ids, api.validator_config)
    released: list[dict[str, Any]] = [
        {"instrument": str(r.instrument), "timeframe": str(r.timeframe), "ids": list(r.ids),
         "stored": r.stored}
        for r in done
    ]  # fmt: skip

    def human() -> None:
        for r in released:
            typer.echo(f"released {len(r['ids'])} rows into {r['instrument']} {r['timeframe']}")

    emit({"released": released}, as_json, human)


@data_app.command("delete")
def delete_command(
    ctx: typer.Context,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar timeframe: 1m, 1d …")],
    symbol: SymbolOpt = None,
    venue: VenueOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete (else: say what would).")] = (
        False
    ),
    as_json: JsonOpt = False,
) -> None:
    """Remove a stored series, or the bars in [--start, --end); recorded in its provenance.
    Without --yes nothing is deleted: the command says what would be, and fails."""
    instrument = _instrument(ctx, venue, symbol)
    lo, hi = parse_time(start), parse_time(end)
    store = _api(ctx).store
    span = f"from {start or 'the first bar'} to {end or 'the last bar'}"
    if not yes:
        count = store.delete(instrument, timeframe, lo, hi, dry_run=True)
        raise ConfigError(
            f"would delete {count} bars of {instrument} {timeframe} {span}; nothing was "
            "deleted: add --yes to delete them"
        )
    deleted = store.delete(instrument, timeframe, lo, hi)
    result = {
        "instrument": str(instrument), "timeframe": timeframe, "deleted": deleted,
        "start": iso_or_none(lo), "end": iso_or_none(hi),
    }  # fmt: skip
    emit(result, as_json, lambda: typer.echo(f"deleted {deleted} bars of {instrument} {span}"))


@data_app.command("compact")
def compact_command(
    ctx: typer.Context,
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fold appended segment files into their year files (every series, or those selected):
    fewer files per read, the bars unchanged. Appends compact by themselves; this is
    housekeeping, e.g. before copying a store."""
    instrument = _instrument(ctx, venue, symbol) if symbol else None
    tf = parse_timeframe(timeframe) if timeframe else None
    done = _api(ctx).store.compact(instrument, tf, venue=venue)
    emit(
        done,
        as_json,
        lambda: typer.echo(f"compacted {done['series']} series ({done['files']} files folded)"),
    )


@data_app.command("fetch")
def fetch_command(
    ctx: typer.Context,
    exchange: Annotated[str, typer.Option("--exchange", help="ccxt exchange id, e.g. binance.")],
    since: Annotated[
        str, typer.Option("--since", "--start", help="Inclusive start, ISO date/time (UTC).")
    ],
    symbols: SymbolsOpt = None,
    symbol: SymbolOpt = None,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar timeframe: 1m, 1h …")] = "1m",
    until: Annotated[
        str | None,
        typer.Option("--until", "--end", help="Exclusive end, ISO date/time (default: now)."),
    ] = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            "--exchange-url",
            help="Base URL override, e.g. http://127.0.0.1:8765 "
            "(neo exchange-sim); default: the setting exchanges.<id>.url.",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Candles per request (default: the exchange's).")
    ] = None,
    replace: ReplaceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch OHLCV history from an exchange (paginated, rate-limited) and store it through
    the same validation as `neo ingest`; rejected rows go to the quarantine."""
    try:
        from neo.adapters.ccxt.client import make_exchange
        from neo.adapters.ccxt.history import fetch_history
    except ModuleNotFoundError as exc:  # ccxt is the optional extra `live`
        raise ConfigError(
            f"neo data fetch needs {exc.name}: pip install 'neo-trading[live]'"
        ) from None
    from neo.adapters.ccxt.config import ExchangeConfig

    names = parse_symbols(symbols, symbol)
    if not names:
        raise ConfigError("pass the symbols to fetch with --symbols, e.g. --symbols BTC/USDT")
    start_ns, end_ns = parse_window(since, until)
    if start_ns is None:
        raise ConfigError("give --since (or --start): where the history starts")
    settings = settings_of(ctx)
    config = settings.exchanges.get(exchange, ExchangeConfig())
    if exchange_url:
        config = config.model_copy(update={"url": exchange_url})
    client = make_exchange(exchange, config)
    api = _api(ctx)
    reports = []
    for name in names:
        total = None if end_ns is None else float(end_ns - start_ns)
        with progress_bar(f"{name} {timeframe}", total, enabled=not as_json) as advance:
            done = [start_ns]

            def on_page(rows: int, last_ts: int, done: list[int] = done) -> None:
                advance(float(max(0, last_ts - done[0])))
                done[0] = max(done[0], last_ts)

            report = fetch_history(client, api, name, timeframe, start_ns, end_ns,
                                   limit=limit, on_page=on_page, replace=replace)  # fmt: skip
        reports.append(iso_times_deep(report.to_dict()))

    def human() -> None:
        for r in reports:
            typer.echo(f"{r['instrument']} {r['timeframe']}: {r['rows_fetched']} fetched in "
                       f"{r['pages']} pages, {r['accepted']} accepted, {r['rejected']} "
                       f"quarantined, {r['stored']} new or changed")  # fmt: skip

    emit({"reports": reports}, as_json, human)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("simulate")(simulate_command)
    app.command("ingest")(ingest_command)
    app.add_typer(data_app, name="data")
