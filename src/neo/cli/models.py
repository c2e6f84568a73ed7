"""CLI commands: ``neo train``, ``neo predict`` and ``neo models list``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from neo.app.train import _STAMPS as _STAMPS
from neo.app.train import TrainRequest, train
from neo.app.train import _context as _context
from neo.app.train import _metadata as _metadata
from neo.app.train import _walk_config as _walk_config
from neo.app.train import configured_features as configured_features
from neo.app.train import context_ids as context_ids
from neo.app.train import label_spec_of as label_spec_of
from neo.app.train import load_bars as load_bars
from neo.app.train import registry_of as registry_of
from neo.app.train import run_predict as run_predict
from neo.app.train import run_train as run_train
from neo.app.train import with_utc as with_utc
from neo.app.train import write_predictions as write_predictions
from neo.cli.common import (
    EndOpt,
    JsonOpt,
    StartOpt,
    SymbolOpt,
    SymbolsOpt,
    TimeframeOpt,
    VenueOpt,
    emit,
    parse_time,
    parse_timeframe,
    settings_of,
    stderr_console,
)
from neo.domain.errors import ConfigError

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="lightgbm, logistic, ridge, random_forest or ensemble."),
]
LabelOpt = Annotated[
    str | None, typer.Option("--label", help="sign, forward_return or triple_barrier.")
]
IntOpt = Annotated[int | None, typer.Option()]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}"


def _render_train(result: Mapping[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"walk-forward {result['model']} ({result['task']}), out of sample")
    keys = ["n", *(k for k in result["overall"] if k != "n")]
    for column in ["", *keys]:
        table.add_column(column)

    def row(name: str, values: Mapping[str, Any]) -> None:
        table.add_row(name, *(_cell(values.get(k)) for k in keys))

    folds = result["folds"]
    shown = folds if len(folds) <= 12 else [*folds[:3], None, *folds[-3:]]
    for fold in shown:
        if fold is None:
            table.add_row(f"… {len(folds) - 6} more folds (--json lists all)")
        else:
            row(f"fold {fold['fold']}", fold)
    table.add_section()
    row("overall", result["overall"])
    for name, values in result["baselines"].items():
        row(f"baseline: {name}", values)
    console = Console()
    console.print(table)
    console.print(f"model id: [bold]{result['model_id']}[/bold]")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``predict`` and the ``models`` group to the root app."""
    models_app = typer.Typer(help="Trained models in the registry.", no_args_is_help=True)

    @app.command("train")
    def train_command(
        ctx: typer.Context,
        venue: VenueOpt = None,
        symbols: SymbolsOpt = None,
        symbol: SymbolOpt = None,
        timeframe: TimeframeOpt = None,
        start: StartOpt = None,
        end: EndOpt = None,
        model: ModelOpt = None,
        label: LabelOpt = None,
        horizon: Annotated[int | None, typer.Option(help="Label horizon in bars.")] = None,
        train_window: Annotated[int | None, typer.Option(help="Training window (bars).")] = None,
        retrain_every: Annotated[int | None, typer.Option(help="Refit every k bars.")] = None,
        expanding: Annotated[
            bool | None, typer.Option("--expanding/--rolling", help="Window type.")
        ] = None,
        purge: Annotated[int | None, typer.Option(help="Purge gap (bars).")] = None,
        embargo: Annotated[int | None, typer.Option(help="Embargo gap (bars).")] = None,
        min_train: Annotated[int | None, typer.Option(help="Samples before 1st fold.")] = None,
        trials: Annotated[int | None, typer.Option(help="Optuna trials per fold.")] = None,
        dead_zone: Annotated[
            float | None, typer.Option(help="Sign label: |return| below this is skipped.", min=0)
        ] = None,
        take_profit: Annotated[
            float | None, typer.Option(help="Triple barrier: take-profit return (> 0).")
        ] = None,
        stop_loss: Annotated[
            float | None, typer.Option(help="Triple barrier: stop-loss return (> 0).")
        ] = None,
        barrier_timeout: Annotated[
            str | None,
            typer.Option(
                help="Triple barrier, no barrier hit: drop (leave out) or sign (of the return)."
            ),
        ] = None,
        predictions_out: Annotated[
            Path | None, typer.Option(help="Write OOS predictions (.csv or .parquet).")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Walk-forward train a model; print OOS metrics beside naive baselines; save it."""
        request = TrainRequest(
            venue=venue, symbols=symbols, symbol=symbol, timeframe=timeframe, start=start,
            end=end, model=model, label=label, horizon=horizon, train_window=train_window,
            retrain_every=retrain_every, expanding=expanding, purge=purge, embargo=embargo,
            min_train=min_train, trials=trials, dead_zone=dead_zone, take_profit=take_profit,
            stop_loss=stop_loss, barrier_timeout=barrier_timeout, predictions_out=predictions_out,
        )  # fmt: skip
        result = train(settings_of(ctx), request)
        emit(result, as_json, lambda: _render_train(result))

    @app.command("predict")
    def predict_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Option("--model", help="Model id (see `neo models list`).")],
        symbol: SymbolOpt = None,
        venue: VenueOpt = None,
        timeframe: Annotated[
            str | None, typer.Option("--timeframe", help="Must be the model's (default: it).")
        ] = None,
        end: EndOpt = None,
        model_features: Annotated[
            bool,
            typer.Option(
                "--model-features",
                help="Use the model's own feature spec even if \\[features] is configured.",
            ),
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """The latest prediction of a saved model for one symbol (as of --end if given).

        The forecast comes from the model walk-forward training used at that bar (a fold
        model, or the live model after the training data), so it never saw later data.
        """
        if not symbol:
            raise ConfigError("give the symbol to predict, e.g. --symbol BTC/USDT")
        result = run_predict(
            settings_of(ctx),
            model,
            symbol,
            venue,
            timeframe=parse_timeframe(timeframe) if timeframe else None,
            end_ns=parse_time(end),
            model_features=model_features,
        )
        emit(result, as_json)

    @models_app.command("list")
    def list_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
        """Every saved model, newest first; damaged ones are named, not fatal."""
        rows, damaged = registry_of(settings_of(ctx)).scan()
        for bad in damaged:  # the healthy models are listed all the same
            stderr_console.print(f"warning: damaged model {bad['model_id']}: {bad['error']}")

        def human() -> None:
            if not rows:
                typer.echo("no models yet: train one with `neo train`")
            for r in rows:
                stale = "" if r["loadable"] else "  (old format: retrain)"
                typer.echo(
                    f"{r['model_id']}  {r['task']}  {r['instruments']}  {r['timeframe']}{stale}"
                )
            for bad in damaged:
                typer.echo(f"{bad['model_id']}  DAMAGED: {bad['error']}")

        emit({"models": rows, "damaged": damaged}, as_json, human)

    app.add_typer(models_app, name="models")
