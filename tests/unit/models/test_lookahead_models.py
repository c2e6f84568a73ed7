"""No look-ahead in walk-forward predictions, for every model type, label kind and feature set:
pick a random t, replace every bar after t (of every instrument and of the market series) with
noise, recompute the features and retrain walk-forward; features and predictions at or before t
are unchanged bit for bit, while later ones do change (so the test can fail)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from neo.domain import BarBatch, InstrumentId
from neo.features import FeaturePipeline, LabelSpec, default_pipeline, pipeline_from_config
from neo.features.config import FeatureConfig
from neo.models import MODEL_NAMES, WalkForwardConfig, walk_forward
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
