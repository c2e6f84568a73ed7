"""No look-ahead in walk-forward predictions, for every model type, label kind and feature set:
pick a random t, replace every bar after t (of every instrument and of the market series) with
noise, recompute the features and retrain walk-forward; features and predictions at or before t
are unchanged bit for bit, while later ones do change (so the test can fail)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neo.domain import BarBatch, InstrumentId, ModelError
from neo.features import FeaturePipeline, LabelSpec, default_pipeline, pipeline_from_config
from neo.features.config import FeatureConfig
from neo.models import MODEL_NAMES, ModelRegistry, WalkForwardConfig, walk_forward
from neo.models.registry import model_for_bar
from tests.unit.features.synthetic import perturb_after, random_walk

N = 330
CFG = WalkForwardConfig(train_window=100, retrain_every=40, min_train_samples=80, purge=1)
SEARCH = WalkForwardConfig(
    train_window=120, retrain_every=60, min_train_samples=100, purge=1, embargo=1, search_trials=2
)
SMALL_GBM = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5}
SMALL_FOREST = {"n_estimators": 10, "min_samples_leaf": 5}
MEMBERS = {"lightgbm": {"n_estimators": 10}, "random_forest": {"n_estimators": 5}}
BARRIER = LabelSpec(kind="triple_barrier", horizon=4, take_profit=0.01, stop_loss=0.01)
FORWARD = LabelSpec(kind="forward_return", horizon=2)
SIGN = LabelSpec(kind="sign", horizon=3, dead_zone=0.001)
MARKET = InstrumentId("sim", "MMM/USDT")


@dataclass(frozen=True)
class Case:
    model: str
    label: LabelSpec = BARRIER
    params: dict[str, Any] = field(default_factory=dict)
    config: WalkForwardConfig = CFG
    market: bool = False


CASES = {
    "lightgbm-classifier": Case("lightgbm", params=SMALL_GBM),
    "lightgbm-regressor": Case("lightgbm", FORWARD, SMALL_GBM),
    "logistic": Case("logistic", SIGN),
    "ridge": Case("ridge", FORWARD),
    "random_forest-classifier": Case("random_forest", params=SMALL_FOREST),
    "random_forest-regressor": Case("random_forest", FORWARD, SMALL_FOREST),
    "ensemble-average": Case("ensemble", params={"member_params": MEMBERS}),
    "ensemble-stack": Case("ensemble", SIGN, {"method": "stack", "member_params": MEMBERS}),
    "ensemble-stack-regressor": Case(
        "ensemble", FORWARD, {"method": "stack", "member_params": MEMBERS}
    ),
    "optuna-logistic": Case("logistic", SIGN, config=SEARCH),
    "optuna-lightgbm": Case("lightgbm", FORWARD, SMALL_GBM, SEARCH),
    "optuna-ensemble": Case("ensemble", SIGN, {"members": ["logistic", "random_forest"]}, SEARCH),
    "cross-asset": Case("lightgbm", BARRIER, SMALL_GBM, market=True),
    "cross-asset-optuna-stack": Case(
        "ensemble", SIGN, {"method": "stack", "member_params": MEMBERS}, SEARCH, market=True
    ),
}


def test_every_model_name_is_covered() -> None:
    assert {case.model for case in CASES.values()} == set(MODEL_NAMES)


def _batches(seed: int) -> dict[InstrumentId, BarBatch]:
    return {
        InstrumentId("sim", s): random_walk(N, seed + i, s)
        for i, s in enumerate(("AAA/USDT", "BBB/USDT"))
    }


def _pipeline(case: Case) -> FeaturePipeline:
    return (
        pipeline_from_config(FeatureConfig(market="MMM/USDT"))
        if case.market
        else (default_pipeline())
    )


def _run(case: Case, batches: dict[InstrumentId, BarBatch], market: BarBatch | None) -> Any:
    context = {"MMM/USDT": market} if market is not None else None
    return walk_forward(
        _pipeline(case), batches, case.label, case.model, case.config,
        params=case.params, context=context, fit_final=False,
    )  # fmt: skip


def _features(case: Case, batch: BarBatch, market: BarBatch | None) -> Any:
    context = {"MMM/USDT": market} if market is not None else None
    return _pipeline(case).compute(batch, context=context).values


def _noise(batch: BarBatch, t_ns: int, rng: np.random.Generator) -> BarBatch:
    at = int(np.searchsorted(batch.ts, t_ns))
    return perturb_after(batch, at, int(rng.integers(1 << 30)))


@pytest.mark.parametrize("name", list(CASES))
def test_future_noise_never_changes_past_features_or_predictions(name: str) -> None:
    case = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    clean = _batches(7)
    market = random_walk(N, 99, "MMM/USDT") if case.market else None
    base = _run(case, clean, market)
    first = base.folds[0]["test_start"]
    for _ in range(2):
        t_ns = int(rng.choice(clean[InstrumentId("sim", "AAA/USDT")].ts[150:300]))

        noisy = {iid: _noise(b, t_ns, rng) for iid, b in clean.items()}
        noisy_market = _noise(market, t_ns, rng) if market is not None else None
        again = _run(case, noisy, noisy_market)
        for iid, series in base.predictions.items():
            past = series.ts <= t_ns
            before = _features(case, clean[iid], market)
            after = _features(case, noisy[iid], noisy_market)
            assert np.array_equal(after[past], before[past], equal_nan=True)
            assert not np.array_equal(after[~past], before[~past], equal_nan=True)
            assert np.array_equal(
                again.predictions[iid].prediction[past], series.prediction[past], equal_nan=True
            )
            assert np.isfinite(series.prediction[past & (series.ts >= first)]).all()
            later = again.predictions[iid].prediction[~past]
            assert not np.array_equal(later, series.prediction[~past], equal_nan=True)
        past_folds = [f for f in base.folds if f["test_start"] <= t_ns]
        assert [f["params"] for f in again.folds[: len(past_folds)]] == [
            f["params"] for f in past_folds
        ]


AS_OF_CASES = ["lightgbm-regressor", "random_forest-classifier", "ensemble-stack", "cross-asset"]


def _saved_as_of(
    case: Case,
    batches: dict[InstrumentId, BarBatch],
    market: BarBatch | None,
    registry: ModelRegistry,
    t_ns: int,
) -> tuple[dict[InstrumentId, float], Any]:
    """Train walk-forward, save it with its fold models, reload the model the registry picks
    for the bar at ``t_ns`` and score that bar: what ``neo predict --end`` does."""
    context = {"MMM/USDT": market} if market is not None else None
    result = walk_forward(
        _pipeline(case), batches, case.label, case.model, case.config,
        params=case.params, context=context,
    )  # fmt: skip
    assert result.final_model is not None
    meta = {"folds": result.folds, "training_window": result.training_window}
    model_id = registry.save(result.final_model, meta, result.fold_models)
    part, _ = model_for_bar(registry.metadata(model_id), t_ns)
    model, _ = registry.load_with_metadata(model_id, part=part)
    scored = {}
    for iid, batch in batches.items():
        at = int(np.searchsorted(batch.ts, t_ns))
        scored[iid] = float(model.predict(_features(case, batch, market)[at])[0])
    return scored, result


@pytest.mark.parametrize("name", AS_OF_CASES)
def test_the_saved_model_as_of_t_gives_the_walk_forward_prediction_and_ignores_the_future(
    name: str, tmp_path: Path
) -> None:
    """`neo predict --end T` picks a saved fold model: its forecast for the bar at T equals the
    walk-forward out-of-sample prediction of that bar, and retraining on data whose bars after
    T are noise gives the same number (the live model, trained to the end, would not)."""
    case = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)) + 1)
    clean = _batches(7)
    market = random_walk(N, 99, "MMM/USDT") if case.market else None
    t_ns = int(rng.choice(clean[InstrumentId("sim", "AAA/USDT")].ts[160:300]))
    registry = ModelRegistry(tmp_path)
    before, result = _saved_as_of(case, clean, market, registry, t_ns)
    for iid, value in before.items():
        series = result.predictions[iid]
        assert value == series.prediction[int(np.searchsorted(series.ts, t_ns))]
    noisy = {iid: _noise(b, t_ns, rng) for iid, b in clean.items()}
    noisy_market = _noise(market, t_ns, rng) if market is not None else None
    after, again = _saved_as_of(case, noisy, noisy_market, registry, t_ns)
    assert after == before
    assert again.final_model is not None
    iid = InstrumentId("sim", "AAA/USDT")
    at = int(np.searchsorted(clean[iid].ts, t_ns))
    live = float(again.final_model.predict(_features(case, clean[iid], market)[at])[0])
    assert live != before[iid]


def test_no_saved_model_before_the_first_fold(tmp_path: Path) -> None:
    case = CASES["ridge"]
    clean = _batches(7)
    result = _run(case, clean, None)
    record = {"model_id": "m", "folds": result.folds, "fold_models": len(result.folds)}
    first = int(result.folds[0]["test_start"])
    assert model_for_bar(record, first)[0] == "folds/0"
    with pytest.raises(ModelError, match="first fold's test window"):
        model_for_bar(record, first - 1)
