"""Walk-forward training: the only honest way to get out-of-sample predictions for a backtest.

Every instrument's bars are placed on one shared timeline of bar timestamps. Models are refit
every ``retrain_every`` positions; the model that predicts positions ``[s, s + retrain_every)``
is trained only on samples whose label was fully known at ``s`` minus the purge and embargo gap
(label end <= s - purge - embargo), from a rolling or expanding window. So a prediction at bar t
never depends on anything after t, which the look-ahead tests prove by perturbing the future.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from neo.domain.bar import BarBatch, BoolArray, FloatArray, IntArray
from neo.domain.errors import ConfigError, ModelError
from neo.domain.ids import InstrumentId
from neo.features.labels import LabelSpec
from neo.features.pipeline import FeaturePipeline
from neo.models.base import EnsembleModel, Model, create_model
from neo.models.forecast import signed_forecast
from neo.models.metrics import baselines, score
from neo.models.purge import Spans, known_before
from neo.models.search import tune

_NEVER = np.iinfo(np.int64).max // 2


class WalkForwardConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Walk-forward schedule; all lengths are in bars of the shared timeline.

    ``purge`` drops training samples whose labels end within that many bars of a test window;
    ``embargo`` widens the gap further against serial correlation between features.
    """

    train_window: int = 500
    expanding: bool = False
    retrain_every: int = 100
    purge: int = 0
    embargo: int = 0
    min_train_samples: int = 100
    search_trials: int = 0
    seed: int = 42

    def __post_init__(self) -> None:
        for key in ("train_window", "retrain_every", "min_train_samples"):
            if getattr(self, key) < 1:
                raise ConfigError(f"walk-forward {key} must be >= 1, got {getattr(self, key)}")
        for key in ("purge", "embargo", "search_trials"):
            if getattr(self, key) < 0:
                raise ConfigError(f"walk-forward {key} must be >= 0, got {getattr(self, key)}")

    @property
    def gap(self) -> int:
        return self.purge + self.embargo


@dataclass(frozen=True, slots=True)
class PredictionSeries:
    """One instrument's out-of-sample predictions, aligned to its bars (NaN: no model yet)."""

    ts: IntArray
    prediction: FloatArray


@dataclass(slots=True)
class _Samples:
    """Every bar of every instrument, in (position, instrument) order."""

    matrix: FloatArray
    target: FloatArray
    realized: FloatArray
    previous: FloatArray
    start: IntArray
    end: IntArray
    instrument: IntArray
    row: IntArray
    features_ok: BoolArray
    trainable: BoolArray


@dataclass(slots=True)
class WalkForwardResult:
    """Out-of-sample predictions, per-fold and overall scores, naive baselines, live model."""

    task: str
    model_name: str
    params: dict[str, Any]
    predictions: dict[InstrumentId, PredictionSeries]
    folds: list[dict[str, Any]]
    overall: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    final_model: Model | None = None
    training_window: dict[str, Any] = field(default_factory=dict)
    fold_models: list[Model] = field(default_factory=list)
    """The model of each fold, in ``folds`` order: ``neo predict --end T`` answers with the
    one walk-forward used at T, never with a model that was trained on data after T."""

    def predictions_frame(self) -> Any:
        """Long table ``ts`` (UTC), ``symbol``, ``prediction`` (the model's raw output) and
        ``forecast`` (the signed forecast strategies read) for CSV/Parquet export."""
        import pandas as pd

        parts = [
            pd.DataFrame(
                {
                    "ts": pd.to_datetime(series.ts, unit="ns", utc=True),
                    "symbol": str(instrument),
                    "prediction": series.prediction,
                    "forecast": signed_forecast(series.prediction, self.task),
                }
            )
            for instrument, series in self.predictions.items()
        ]
        return pd.concat(parts, ignore_index=True)


def _previous_return(close: FloatArray, h: int) -> FloatArray:
    out = np.full(len(close), np.nan)
    if len(close) > h:
        out[h:] = close[h:] / close[:-h] - 1.0
    return out


def _collect(
    pipeline: FeaturePipeline,
    items: list[tuple[InstrumentId, BarBatch]],
    label_spec: LabelSpec,
    timeline: IntArray,
    context: Mapping[str, BarBatch] | None,
) -> _Samples:
    parts: dict[str, list[Any]] = {k: [] for k in _Samples.__dataclass_fields__}
    for j, (_, batch) in enumerate(items):
        frame = pipeline.compute(batch, context=context)
        labels = label_spec.compute(batch)
        pos = np.searchsorted(timeline, batch.ts).astype(np.int64)
        end = np.where(labels.end >= 0, pos[np.clip(labels.end, 0, None)], _NEVER)
        ok = frame.valid_rows()
        parts["matrix"].append(frame.values)
        parts["target"].append(labels.target)
        parts["realized"].append(labels.realized)
        parts["previous"].append(_previous_return(np.asarray(batch.close), label_spec.horizon))
        parts["start"].append(pos)
        parts["end"].append(end.astype(np.int64))
        parts["instrument"].append(np.full(len(batch), j, dtype=np.int64))
        parts["row"].append(np.arange(len(batch), dtype=np.int64))
        parts["features_ok"].append(ok)
        parts["trainable"].append(ok & np.isfinite(labels.target) & (end < _NEVER))
    merged = {k: np.concatenate(v) if k != "matrix" else np.vstack(v) for k, v in parts.items()}
    order = np.lexsort((merged["instrument"], merged["start"]))
    return _Samples(**{k: v[order] for k, v in merged.items()})


def _train_mask(samples: _Samples, s: int, config: WalkForwardConfig) -> BoolArray:
    mask = samples.trainable & known_before(samples.end, s, config.gap)
    if not config.expanding:
        mask &= samples.start >= s - config.train_window
    return mask


def _fit(
    model_name: str,
    task: Any,
    params: Mapping[str, Any],
    samples: _Samples,
    mask: BoolArray,
    config: WalkForwardConfig,
) -> tuple[Model, dict[str, Any]]:
    x = samples.matrix[mask]
    y = samples.target[mask]
    spans = Spans(samples.start[mask], samples.end[mask], config.gap)
    chosen = dict(params)
    if config.search_trials > 0:
        chosen = _search(model_name, task, chosen, x, y, spans, config)
    model = create_model(model_name, task, {**chosen, "seed": config.seed})
    return model.fit(x, y, spans=spans), chosen


def _search(
    model_name: str,
    task: Any,
    params: dict[str, Any],
    x: FloatArray,
    y: FloatArray,
    spans: Spans,
    config: WalkForwardConfig,
) -> dict[str, Any]:
    """Optuna inside this training window; an ensemble searches each member's parameters."""
    if model_name != "ensemble":
        return tune(
            model_name, task, params, x, y,
            spans=spans, trials=config.search_trials, seed=config.seed,
        )  # fmt: skip
    ensemble = create_model("ensemble", task, params)
    members = [m.name for m in ensemble.members] if isinstance(ensemble, EnsembleModel) else []
    member_params = {k: dict(v) for k, v in (params.get("member_params") or {}).items()}
    for name in dict.fromkeys(members):
        member_params[name] = tune(
            name, task, member_params.get(name, {}), x, y,
            spans=spans, trials=config.search_trials, seed=config.seed,
        )  # fmt: skip
    return {**params, "member_params": member_params}


def _first_fold(samples: _Samples, config: WalkForwardConfig) -> int:
    ends = np.sort(samples.end[samples.trainable])
    if len(ends) < config.min_train_samples:
        raise ModelError(
            f"only {len(ends)} labelled bars after feature warm-up; walk-forward needs at least "
            f"min_train_samples={config.min_train_samples}: load more history or lower it"
        )
    return int(ends[config.min_train_samples - 1]) + config.gap


def _ts_of(timeline: IntArray, pos: int) -> int:
    return int(timeline[min(max(pos, 0), len(timeline) - 1)])


def walk_forward(
    pipeline: FeaturePipeline,
    batches: Mapping[InstrumentId, BarBatch],
    label_spec: LabelSpec,
    model_name: str,
    config: WalkForwardConfig | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    context: Mapping[str, BarBatch] | None = None,
    fit_final: bool = True,
) -> WalkForwardResult:
    """Train and predict walk-forward over the whole history of every instrument.

    Parameters
    ----------
    pipeline
        Features; rows still in warm-up never reach a model.
    batches
        Bars per instrument (one timeframe); samples of all instruments are pooled.
    label_spec
        What to learn; its ``task`` picks classification or regression.
    model_name
        A name :func:`neo.models.create_model` accepts.
    config
        Window, retrain cadence, purge/embargo, optional Optuna trials.
    params
        Model hyper-parameters.
    context
        Market series for cross-asset features.
    fit_final
        Also fit the live model on every label known at the end of the data.

    Returns
    -------
    WalkForwardResult
        ``predictions[instrument]`` is aligned to that instrument's bars, NaN before the first
        fold and on warm-up rows.
    """
    config = config or WalkForwardConfig()
    if not batches:
        raise ConfigError("walk-forward needs bars for at least one instrument")
    items = sorted(batches.items())
    timeline = np.unique(np.concatenate([b.ts for _, b in items]))
    samples = _collect(pipeline, items, label_spec, timeline, context)
    task = label_spec.task
    first = _first_fold(samples, config)
    prediction = np.full(len(samples.start), np.nan)
    folds: list[dict[str, Any]] = []
    fold_models: list[Model] = []
    chosen = dict(params or {})
    for s in range(first, len(timeline), config.retrain_every):
        stop = s + config.retrain_every
        train = _train_mask(samples, s, config)
        if not train.any():
            continue
        model, chosen = _fit(model_name, task, params or {}, samples, train, config)
        test = samples.features_ok & (samples.start >= s) & (samples.start < stop)
        if test.any():
            prediction[test] = model.predict(samples.matrix[test])
        fold = {
            "fold": len(folds),
            "train_start": _ts_of(timeline, int(samples.start[train].min())),
            "train_end": _ts_of(timeline, int(samples.end[train].max())),
            "test_start": _ts_of(timeline, s),
            "test_end": _ts_of(timeline, stop - 1),
            "n_train": int(train.sum()),
            "params": chosen,
        }
        fold.update(score(task, prediction[test], samples.target[test], samples.realized[test]))
        folds.append(fold)
        fold_models.append(model)
    oos = np.isfinite(prediction)
    result = WalkForwardResult(
        task=task,
        model_name=model_name,
        params=chosen,
        predictions=_per_instrument(items, samples, prediction),
        folds=folds,
        overall=score(task, prediction[oos], samples.target[oos], samples.realized[oos]),
        baselines=baselines(
            task, samples.target[oos], samples.realized[oos], samples.previous[oos]
        ),
        fold_models=fold_models,
    )
    if fit_final:
        _attach_final(result, model_name, task, chosen, samples, timeline, config)
    return result


def _per_instrument(
    items: list[tuple[InstrumentId, BarBatch]], samples: _Samples, prediction: FloatArray
) -> dict[InstrumentId, PredictionSeries]:
    out: dict[InstrumentId, PredictionSeries] = {}
    for j, (instrument, batch) in enumerate(items):
        series = np.full(len(batch), np.nan)
        mine = samples.instrument == j
        series[samples.row[mine]] = prediction[mine]
        out[instrument] = PredictionSeries(np.asarray(batch.ts, dtype=np.int64), series)
    return out


def _attach_final(
    result: WalkForwardResult,
    model_name: str,
    task: Any,
    params: Mapping[str, Any],
    samples: _Samples,
    timeline: IntArray,
    config: WalkForwardConfig,
) -> None:
    """Fit the live model on everything known at the last bar (same window rules)."""
    mask = _train_mask(samples, len(timeline) - 1, config)
    base = {k: v for k, v in params.items()}
    model = create_model(model_name, task, {**base, "seed": config.seed})
    spans = Spans(samples.start[mask], samples.end[mask], config.gap)
    result.final_model = model.fit(samples.matrix[mask], samples.target[mask], spans=spans)
    result.training_window = {
        "start": _ts_of(timeline, int(samples.start[mask].min())),
        "end": _ts_of(timeline, int(samples.end[mask].max())),
        "n_samples": int(mask.sum()),
        "last_bar": int(timeline[-1]),
    }
