"""``neo strategies``: list the strategies NEO can run, and check a strategy's two forms agree.

Thin shells: :mod:`neo.strategies.registry` finds strategies (shipped, the user's files and
modules, installed plugins) and :mod:`neo.engine.parity` runs both backtest paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neo.cli.common import (
    EndOpt,
    JsonOpt,
    StartOpt,
    SymbolOpt,
    SymbolsOpt,
    TimeframeOpt,
    VenueOpt,
    emit,
    parse_window,
    resolve_timeframe,
    settings_of,
)
from neo.cli.trading import (
    CashOpt,
    FeesOpt,
    FillOpt,
    ParamOpt,
    SlippageOpt,
    execution_config,
    instruments_of,
    read_predictions,
)

strategies_app = typer.Typer(
    name="strategies",
    help="The strategies NEO can run: shipped, your files and modules, installed plugins.",
    no_args_is_help=True,
)

LoadOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--load",
        help="Also list this strategy: path/to/file.py:ClassName or package.module:ClassName "
        "(repeat for several; \\[strategies] load in neo.toml lists them always).",
    ),
]


@strategies_app.command("list")
def strategies_list_command(
    ctx: typer.Context, load: LoadOpt = None, as_json: JsonOpt = False
) -> None:
    """Name every strategy with its source, parameters (type, default, bounds) and version."""
    from neo.strategies.registry import list_strategies

    settings = settings_of(ctx)
    extra = [*settings.strategies.load, *(load or [])]
    infos = [info.to_dict() for info in list_strategies(extra)]

    def human() -> None:
        table = Table("strategy", "version", "source", "parameters", "description")
        for info in infos:
            params = ", ".join(
                f"{name}: {spec['type']} = {spec['default']}{_bounds(spec)}"
                for name, spec in info["params"].items()
            )
            source = info["source"] if info["source"] == "builtin" else (
                f"{info['source']} {info['origin']}"
            )  # fmt: skip
            table.add_row(info["name"], info["version"], source, params, info["description"])
        Console().print(table)

    emit({"strategies": infos}, as_json, human)


def _bounds(spec: Mapping[str, Any]) -> str:
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is None and high is None:
        return ""
    return f" [{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}]"


@strategies_app.command("check")
def strategies_check_command(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="Strategy: a name, path/to/file.py:Class or module:Class.")
    ],
    param: ParamOpt = None,
    venue: VenueOpt = None,
    symbols: SymbolsOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = "1m",
    start: StartOpt = None,
    end: EndOpt = None,
    fill: FillOpt = None,
    fees_bps: FeesOpt = None,
    slippage_bps: SlippageOpt = None,
    cash: CashOpt = None,
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", help="Forecasts for strategies that read them."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the event path (on_bar) and the fast path (vector_targets) on stored bars and
    report the first trade where they differ; exit 1 when they do."""
    from neo.data.store import HistoricalDataStore
    from neo.engine.backtest import check_job
    from neo.engine.instruments import configured_instrument
    from neo.engine.parity import compare_paths
    from neo.strategies.registry import configured_strategy

    settings = settings_of(ctx)
    chosen = configured_strategy(settings, name, param)
    ids = instruments_of(settings, venue, symbols, symbol)
    check_job(chosen, "fast", len(ids), has_predictions=predictions is not None)
    config = execution_config(
        settings, fill=fill, fees_bps=fees_bps, slippage_bps=slippage_bps, cash=cash
    )
    store = HistoricalDataStore.from_settings(settings)
    try:
        batches = store.read_many(
            ids, resolve_timeframe(settings, timeframe, ids, "1m"), *parse_window(start, end)
        )
    finally:
        store.close()
    forecasts = None if predictions is None else read_predictions(predictions, batches)
    specs = {iid: configured_instrument(iid, settings.instruments) for iid in batches}
    comparison = compare_paths(
        chosen, batches, instruments=specs, execution=config, predictions=forecasts
    )
    payload = comparison.to_dict()
    payload["bars"] = sum(len(b) for b in batches.values())
    emit(payload, as_json, lambda: _print_check(payload))
    if not comparison.agree:
        raise typer.Exit(code=1)


def _print_check(payload: Mapping[str, Any]) -> None:
    event, fast = payload["event"], payload["fast"]
    typer.echo(
        f"{payload['strategy']} {payload['params']} on {payload['bars']} bars: "
        f"event {event['trades']} trades, final equity {event['final_equity']:,.2f}; "
        f"fast {fast['trades']} trades, final equity {fast['final_equity']:,.2f}"
    )
    difference = payload["first_difference"]
    if difference is None:
        typer.echo("the two forms agree, trade for trade")
        return
    typer.echo(f"they differ at {difference['kind']} {difference['index']}:")
    typer.echo(f"  event (on_bar):         {difference['event']}")
    typer.echo(f"  fast  (vector_targets): {difference['fast']}")


def register(app: typer.Typer) -> None:
    """Add the ``strategies`` group to the root app."""
    app.add_typer(strategies_app, name="strategies")
