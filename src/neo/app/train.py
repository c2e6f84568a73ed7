"""Training and prediction as use cases: walk-forward train and save a model, predict with it.

``neo train`` / ``neo predict`` and the REST API's train jobs call these, so both return the
same out-of-sample metrics and the same forecast for the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from pydantic import BaseModel, ConfigDict

from neo.app.formats import stamp
from neo.app.selection import parse_symbols, parse_window, resolve_timeframe
from neo.domain.bar import BarBatch
from neo.domain.errors import ConfigError, DataNotFoundError, ModelError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.domain.timestamps import iso_ns
from neo.features.config import FeatureConfig
from neo.features.labels import LabelSpec
from neo.features.pipeline import FeaturePipeline, feature_code_version, pipeline_from_config
from neo.logs import get_logger
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

log = get_logger("app.train")


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
    log.info("training %s walk-forward on %d instrument(s)", model_name, len(instruments))
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


class TrainRequest(BaseModel):
    """One walk-forward training as both front ends describe it (``neo train``'s flags, a
    train job's JSON body). Unset fields take the ``[models]`` configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: str | None = None
    symbols: str | None = None
    symbol: str | None = None
    timeframe: str | None = None
    start: str | None = None
    end: str | None = None
    model: str | None = None
    label: str | None = None
    horizon: int | None = None
    train_window: int | None = None
    retrain_every: int | None = None
    expanding: bool | None = None
    purge: int | None = None
    embargo: int | None = None
    min_train: int | None = None
    trials: int | None = None
    dead_zone: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    barrier_timeout: str | None = None
    predictions_out: Path | None = None


def train(settings: NeoSettings, request: TrainRequest) -> dict[str, Any]:
    """The training use case: select the bars, walk forward, save the model, report."""
    names = parse_symbols(request.symbols, request.symbol)
    if not names:
        raise ConfigError("give the symbols to train on, e.g. --symbols BTC/USDT,ETH/USDT")
    default_venue = request.venue or settings.data.default_venue
    instruments = [InstrumentId.parse(s, default_venue=default_venue) for s in names]
    overrides = {
        "train_window": request.train_window,
        "expanding": request.expanding,
        "retrain_every": request.retrain_every,
        "purge": request.purge,
        "embargo": request.embargo,
        "min_train_samples": request.min_train,
        "search_trials": request.trials,
    }
    barriers = {
        "dead_zone": request.dead_zone,
        "take_profit": request.take_profit,
        "stop_loss": request.stop_loss,
    }
    return run_train(
        settings,
        instruments,
        resolve_timeframe(settings, request.timeframe, instruments, "1h"),
        parse_window(request.start, request.end),
        request.model or settings.models.default_model,
        label_spec_of(settings, request.label, request.horizon, barriers, request.barrier_timeout),
        _walk_config(settings, overrides),
        request.predictions_out,
    )
