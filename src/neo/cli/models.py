"""CLI commands: ``neo train``, ``neo predict`` and ``neo models list``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
import numpy as np
import typer

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
    resolve_timeframe,
    settings_of,
    stamp,
    stderr_console,
)
from neo.domain.bar import BarBatch
from neo.domain.errors import ConfigError, DataNotFoundError, ModelError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.domain.timestamps import iso_ns
from neo.features.config import FeatureConfig
from neo.features.labels import LabelSpec
from neo.features.pipeline import FeaturePipeline, feature_code_version, pipeline_from_config
from neo.models.forecast import signed_forecast
from neo.models.registry import (
    ModelRegistry,
    data_hash,
    market_instruments,
    model_for_bar,
    resolve_pipeline,
)
from neo.models.walkforward import WalkForwardConfig, WalkForwardResult, walk_forward
from neo.settings import NeoSettings

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="lightgbm, logistic, ridge, random_forest or ensemble."),
]
LabelOpt = Annotated[
    str | None, typer.Option("--label", help="sign, forward_return or triple_barrier.")
]
IntOpt = Annotated[int | None, typer.Option()]


def registry_of(settings: NeoSettings) -> ModelRegistry:
    """The registry under the data directory (``<data_dir>/models``)."""
    return ModelRegistry(settings.data_dir / "models")


def load_bars(
    settings: NeoSettings,
    instruments: list[InstrumentId],
    timeframe: Timeframe,
    start_ns: int | None,
    end_ns: int | None,
) -> dict[InstrumentId, BarBatch]:
    """Bars from the historical store; an empty selection is a DataNotFoundError."""
    from neo.data.store import HistoricalDataStore

    store = HistoricalDataStore.from_settings(settings)
    try:
        batches = store.read_many(instruments, timeframe, start_ns, end_ns)
    finally:
        store.close()
    for instrument, batch in batches.items():
        if len(batch) == 0:
            raise DataNotFoundError(
                f"no {timeframe} bars stored for {instrument} in the selected range: "
                "ingest them first (see `neo data --help`) or widen --start/--end"
            )
    return batches


def context_ids(pipeline: FeaturePipeline, venue: str) -> dict[str, InstrumentId]:
    """The instrument behind each market key of the cross-asset features (bare symbols are on
    the traded instruments' venue)."""
    return {m: InstrumentId.parse(m, default_venue=venue) for m in pipeline.markets}


def _context(
    settings: NeoSettings,
    ids: Mapping[str, InstrumentId],
    timeframe: Timeframe,
    window: tuple[int | None, int | None],
) -> dict[str, BarBatch] | None:
    if not ids:
        return None
    bars = load_bars(settings, list(ids.values()), timeframe, *window)
    return {market: bars[iid] for market, iid in ids.items()}


def configured_features(settings: NeoSettings) -> FeatureConfig | None:
    """The ``[features]`` configuration if the user gave one (file or environment), else None.

    A saved model must meet the pipeline the configuration builds; with no configuration the
    model's own feature spec is used (it is the only one there is).
    """
    return settings.features if "features" in settings.model_fields_set else None


def label_spec_of(
    settings: NeoSettings,
    label: str | None,
    horizon: int | None,
    overrides: Mapping[str, float | None] | None = None,
    barrier_timeout: str | None = None,
) -> LabelSpec:
    """The label from the config, with ``dead_zone``/``take_profit``/``stop_loss`` overrides."""
    cfg = settings.models
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in ("take_profit", "stop_loss"):
        if key in given and given[key] <= 0:
            raise ConfigError(f"--{key.replace('_', '-')} must be > 0, got {given[key]}")
    try:
        return LabelSpec(
            kind=(label or cfg.label),  # type: ignore[arg-type]
            horizon=horizon or cfg.horizon,
            dead_zone=given.get("dead_zone", cfg.dead_zone),
            take_profit=given.get("take_profit", cfg.take_profit),
            stop_loss=given.get("stop_loss", cfg.stop_loss),
            barrier_timeout=(barrier_timeout or cfg.barrier_timeout),  # type: ignore[arg-type]
        )
    except msgspec.ValidationError as exc:  # pragma: no cover - __post_init__ raises first
        raise ConfigError(str(exc)) from exc


def write_predictions(result: WalkForwardResult, path: Path) -> int:
    """Write ``ts, symbol, prediction`` rows as CSV or Parquet (by suffix); returns rows."""
    frame = result.predictions_frame()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"--predictions-out {path}: use a .csv or .parquet file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return len(frame)


_STAMPS = ("train_start", "train_end", "test_start", "test_end", "start", "end", "last_bar")


def with_utc(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with each nanosecond timestamp as ISO-8601 UTC and its exact ``<key>_ns``
    twin beside it (the one time convention of every command's output)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in _STAMPS and isinstance(value, int) and not isinstance(value, bool):
            out.update(stamp(key, value))
        else:
            out[key] = value
    return out


def _metadata(
    result: WalkForwardResult,
    pipeline: FeaturePipeline,
    label_spec: LabelSpec,
    config: WalkForwardConfig,
    batches: Mapping[InstrumentId, BarBatch],
    timeframe: Timeframe,
    context: Mapping[str, BarBatch] | None,
    markets: Mapping[str, InstrumentId],
) -> dict[str, Any]:
    return {
        "features": pipeline.to_config(),
        "feature_hash": pipeline.spec_hash(),
        "feature_code": feature_code_version(),
        "label": msgspec.to_builtins(label_spec),
        "walk_forward": msgspec.to_builtins(config),
        "params": result.params,
        "instruments": [str(i) for i in sorted(batches)],
        "timeframe": str(timeframe),
        "markets": pipeline.markets,
        "context_instruments": {key: str(iid) for key, iid in markets.items()},
        "training_window": with_utc(result.training_window),
        "data_hash": data_hash((batches[i] for i in sorted(batches)), context),
        "folds": [with_utc(fold) for fold in result.folds],
        "overall": result.overall,
        "baselines": result.baselines,
    }


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


def _walk_config(settings: NeoSettings, overrides: Mapping[str, Any]) -> WalkForwardConfig:
    cfg = settings.models
    values: dict[str, Any] = {
        "train_window": cfg.train_window,
        "expanding": cfg.expanding,
        "retrain_every": cfg.retrain_every,
        "purge": cfg.purge,
        "embargo": cfg.embargo,
        "min_train_samples": cfg.min_train_samples,
        "search_trials": cfg.search_trials,
        "seed": cfg.seed,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return WalkForwardConfig(**values)


def run_train(
    settings: NeoSettings,
    instruments: list[InstrumentId],
    timeframe: Timeframe,
    window: tuple[int | None, int | None],
    model_name: str,
    label_spec: LabelSpec,
    config: WalkForwardConfig,
    predictions_out: Path | None = None,
) -> dict[str, Any]:
    """Walk-forward train, save the live model, return what ``neo train`` prints."""
    pipeline = pipeline_from_config(settings.features)
    batches = load_bars(settings, instruments, timeframe, *window)
    markets = context_ids(pipeline, instruments[0].venue)
    context = _context(settings, markets, timeframe, window)
    params = settings.models.params.get(model_name, {})
    stderr_console.print(f"training {model_name} walk-forward on {len(instruments)} instrument(s)")
    result = walk_forward(
        pipeline, batches, label_spec, model_name, config, params=params, context=context
    )
    if result.final_model is None:  # pragma: no cover - walk_forward fits it by default
        raise ModelError("walk-forward produced no model")
    meta = _metadata(result, pipeline, label_spec, config, batches, timeframe, context, markets)
    model_id = registry_of(settings).save(result.final_model, meta, result.fold_models)
    rows = write_predictions(result, predictions_out) if predictions_out else None
    return {
        "model_id": model_id,
        "model": model_name,
        "task": result.task,
        "label": msgspec.to_builtins(label_spec),
        "instruments": [str(i) for i in instruments],
        "timeframe": str(timeframe),
        "bars": {str(i): len(b) for i, b in batches.items()},
        "folds": meta["folds"],
        "overall": result.overall,
        "baselines": result.baselines,
        "training_window": meta["training_window"],
        "predictions_out": str(predictions_out) if predictions_out else None,
        "predictions_rows": rows,
    }


def run_predict(
    settings: NeoSettings,
    model_id: str,
    symbol: str,
    venue: str | None,
    *,
    timeframe: Timeframe | None = None,
    end_ns: int | None = None,
    model_features: bool = False,
) -> dict[str, Any]:
    """The latest prediction of a saved model for one symbol, as of ``end_ns`` if given: only
    bars complete by then (``ts + timeframe <= end_ns``) are read, so nothing later can reach
    the features, and the forecast comes from the model walk-forward training used for that
    bar (:func:`neo.models.registry.model_for_bar`), so no later data reaches the model
    either: it equals the walk-forward out-of-sample prediction of the bar."""
    registry = registry_of(settings)
    meta = registry.metadata(model_id)
    configured = None if model_features else configured_features(settings)
    pipeline = resolve_pipeline(meta, configured)
    trained_on = Timeframe.parse(meta["timeframe"])
    if timeframe is not None and timeframe != trained_on:
        raise ConfigError(
            f"model {model_id} was trained on {trained_on} bars, not {timeframe}: "
            f"use --timeframe {trained_on} or train a {timeframe} model"
        )
    instrument = InstrumentId.parse(symbol, default_venue=venue or settings.data.default_venue)
    cutoff = None if end_ns is None else end_ns - trained_on.nanos + 1
    batch = load_bars(settings, [instrument], trained_on, None, cutoff)[instrument]
    markets = market_instruments(meta)
    context = _context(settings, markets, trained_on, (None, cutoff))
    frame = pipeline.compute(batch, context=context)
    row = frame.values[-1]
    if not np.isfinite(row).all():
        raise DataNotFoundError(
            f"{instrument} has {len(batch)} {trained_on} bars but the features need more than "
            f"{pipeline.lookback} (and every market series on the last bar): ingest more history"
        )
    last_ts = int(batch.ts[-1])
    part, used = model_for_bar(meta, last_ts)
    model, meta = registry.load_with_metadata(model_id, pipeline, part=part)
    prediction = float(model.predict(row)[0])
    return {
        "model_id": model_id,
        "instrument": str(instrument),
        "timeframe": str(trained_on),
        "bar_ts": iso_ns(last_ts),
        "decided_at": iso_ns(last_ts + trained_on.nanos),
        "as_of": iso_ns(end_ns) if end_ns is not None else None,
        "model_used": with_utc(used),
        "task": meta.get("task"),
        "prediction": prediction,
        "forecast": float(signed_forecast(np.array([prediction]), str(meta.get("task")))[0]),
        "meaning": "P(forward return > 0)"
        if meta.get("task") == "classification"
        else "forecast forward return",
    }


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
        settings = settings_of(ctx)
        names = parse_symbols(symbols, symbol)
        if not names:
            raise ConfigError("give the symbols to train on, e.g. --symbols BTC/USDT,ETH/USDT")
        default_venue = venue or settings.data.default_venue
        instruments = [InstrumentId.parse(s, default_venue=default_venue) for s in names]
        overrides = {
            "train_window": train_window, "expanding": expanding, "retrain_every": retrain_every,
            "purge": purge, "embargo": embargo, "min_train_samples": min_train,
            "search_trials": trials,
        }  # fmt: skip
        result = run_train(
            settings,
            instruments,
            resolve_timeframe(settings, timeframe, instruments, "1h"),
            parse_window(start, end),
            model or settings.models.default_model,
            label_spec_of(
                settings,
                label,
                horizon,
                {"dead_zone": dead_zone, "take_profit": take_profit, "stop_loss": stop_loss},
                barrier_timeout,
            ),
            _walk_config(settings, overrides),
            predictions_out,
        )
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
