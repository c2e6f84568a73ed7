"""No look-ahead in walk-forward predictions, for every model type: replace every bar after a
random t (of every instrument) with noise and retrain; predictions at or before t are unchanged
bit for bit, while later ones do change (so the test can fail)."""

from __future__ import annotations

import numpy as np
import pytest

from neo.domain import BarBatch, InstrumentId
from neo.features import LabelSpec, default_pipeline
from neo.models import MODEL_NAMES, WalkForwardConfig, walk_forward
from tests.unit.features.synthetic import perturb_after, random_walk

N = 330
CFG = WalkForwardConfig(train_window=100, retrain_every=40, min_train_samples=80, purge=1)
PARAMS: dict[str, dict[str, object]] = {
    "lightgbm": {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5},
    "random_forest": {"n_estimators": 10, "min_samples_leaf": 5},
    "ensemble": {
        "member_params": {"lightgbm": {"n_estimators": 10}, "random_forest": {"n_estimators": 5}}
    },
}
LABELS = {
    "ridge": LabelSpec(kind="forward_return", horizon=2),
    "default": LabelSpec(kind="triple_barrier", horizon=4, take_profit=0.01, stop_loss=0.01),
}


def _batches(seed: int) -> dict[InstrumentId, BarBatch]:
    return {
        InstrumentId("sim", s): random_walk(N, seed + i, s)
        for i, s in enumerate(("AAA/USDT", "BBB/USDT"))
    }


@pytest.mark.parametrize("model_name", MODEL_NAMES)
def test_future_noise_never_changes_past_predictions(model_name: str) -> None:
    rng = np.random.default_rng(sum(map(ord, model_name)))
    pipeline = default_pipeline()
    label = LABELS.get(model_name, LABELS["default"])
    params = PARAMS.get(model_name, {})
    clean = _batches(7)
    base = walk_forward(pipeline, clean, label, model_name, CFG, params=params, fit_final=False)
    first = base.folds[0]["test_start"]
    for _ in range(2):
        t_ns = int(rng.choice(clean[InstrumentId("sim", "AAA/USDT")].ts[150:300]))
        noisy = {
            iid: perturb_after(b, int(np.searchsorted(b.ts, t_ns)), int(rng.integers(1 << 30)))
            for iid, b in clean.items()
        }
        again = walk_forward(
            pipeline, noisy, label, model_name, CFG, params=params, fit_final=False
        )
        for iid, series in base.predictions.items():
            past = series.ts <= t_ns
            assert np.array_equal(
                again.predictions[iid].prediction[past], series.prediction[past], equal_nan=True
            )
            assert np.isfinite(series.prediction[past & (series.ts >= first)]).all()
            later = again.predictions[iid].prediction[~past]
            assert not np.array_equal(later, series.prediction[~past], equal_nan=True)
