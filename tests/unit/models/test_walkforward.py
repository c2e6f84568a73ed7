"""Walk-forward schedule, purging, metrics and baselines, checked independently."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from neo.domain import ConfigError, InstrumentId, ModelError
from neo.features import FeaturePipeline, FeatureSpec, LabelSpec
from neo.models import WalkForwardConfig, create_model, search, walk_forward, walkforward
from neo.models.walkforward import _Samples, _train_mask
from tests.unit.features.synthetic import random_walk

PIPELINE = FeaturePipeline(
    [
        FeatureSpec.of("r1", "return", k=1),
        FeatureSpec.of("r3", "return", k=3),
        FeatureSpec.of("rsi", "rsi", window=5),
    ]
)
A = InstrumentId("sim", "AAA/USDT")
B = InstrumentId("sim", "BBB/USDT")


def _batches(n: int = 400) -> dict[InstrumentId, object]:
    return {A: random_walk(n, 1, "AAA/USDT"), B: random_walk(n, 2, "BBB/USDT")}


CFG = WalkForwardConfig(train_window=120, retrain_every=50, min_train_samples=100)


def test_predictions_are_nan_before_the_first_fold_and_folds_respect_time() -> None:
    label = LabelSpec(kind="sign", horizon=3)
    gap_cfg = WalkForwardConfig(
        train_window=120, retrain_every=50, min_train_samples=100, purge=2, embargo=3
    )
    result = walk_forward(PIPELINE, _batches(), label, "logistic", gap_cfg)  # type: ignore[arg-type]
    hour = 3_600_000_000_000
    for fold in result.folds:
        # the newest training label ended at least purge + embargo bars before the test window
        assert fold["train_end"] <= fold["test_start"] - 5 * hour
        assert fold["train_start"] >= fold["test_start"] - 120 * hour
    first_test = result.folds[0]["test_start"]
    for series in result.predictions.values():
        before = series.ts < first_test
        assert np.isnan(series.prediction[before]).all()
        assert np.isfinite(series.prediction[~before]).all()
    assert result.final_model is not None and result.training_window["n_samples"] > 0
    frame = result.predictions_frame()
    assert list(frame.columns) == ["ts", "symbol", "prediction", "forecast"] and len(frame) == 800


def test_rolling_and_expanding_windows() -> None:
    label = LabelSpec(kind="sign")
    batches = _batches()
    rolling = walk_forward(PIPELINE, batches, label, "logistic", CFG, fit_final=False)  # type: ignore[arg-type]
    expanding_cfg = WalkForwardConfig(
        train_window=120, retrain_every=50, min_train_samples=100, expanding=True
    )
    expanding = walk_forward(PIPELINE, batches, label, "logistic", expanding_cfg)  # type: ignore[arg-type]
    assert rolling.final_model is None
    assert [f["test_start"] for f in rolling.folds] == [f["test_start"] for f in expanding.folds]
    n_rolling = [f["n_train"] for f in rolling.folds]
    n_expanding = [f["n_train"] for f in expanding.folds]
    assert max(n_rolling) <= 2 * 121  # two instruments, 120-bar window
    assert n_expanding == sorted(n_expanding) and n_expanding[-1] > max(n_rolling)


def test_train_mask_keeps_only_labels_known_before_the_gap() -> None:
    n = 10
    samples = _Samples(
        matrix=np.zeros((n, 1)), target=np.zeros(n), realized=np.zeros(n), previous=np.zeros(n),
        start=np.arange(n), end=np.arange(n) + 2, instrument=np.zeros(n, dtype=np.int64),
        row=np.arange(n), features_ok=np.ones(n, bool), trainable=np.ones(n, bool),
    )  # fmt: skip
    cfg = WalkForwardConfig(train_window=3, purge=1, embargo=1, min_train_samples=1)
    # at s=8: labels must end <= 6 (start <= 4), and start >= 5 for the window: none left
    assert not _train_mask(samples, 8, cfg).any()
    wide = WalkForwardConfig(train_window=6, purge=1, embargo=1, min_train_samples=1)
    np.testing.assert_array_equal(np.flatnonzero(_train_mask(samples, 8, wide)), [2, 3, 4])


def test_overall_metrics_match_sklearn_and_baselines_match_by_hand() -> None:
    label = LabelSpec(kind="sign", horizon=1)
    batches = _batches()
    result = walk_forward(PIPELINE, batches, label, "logistic", CFG)  # type: ignore[arg-type]
    probs, targets, prev = [], [], []
    for instrument, batch in sorted(batches.items()):
        pred = result.predictions[instrument].prediction
        close = np.asarray(batch.close)  # type: ignore[attr-defined]
        fwd = np.r_[close[1:] / close[:-1] - 1, np.nan]
        back = np.r_[np.nan, close[1:] / close[:-1] - 1]
        ok = np.isfinite(pred) & np.isfinite(fwd) & (fwd != 0)
        probs.append(pred[ok])
        targets.append((fwd[ok] > 0).astype(float))
        prev.append(back[ok])
    p, y, back = np.concatenate(probs), np.concatenate(targets), np.concatenate(prev)
    overall = result.overall
    assert overall["n"] == len(y)
    assert overall["accuracy"] == pytest.approx(accuracy_score(y, p >= 0.5))
    assert overall["auc"] == pytest.approx(roc_auc_score(y, p))
    assert overall["log_loss"] == pytest.approx(log_loss(y, p))
    assert result.baselines["always_long"]["accuracy"] == pytest.approx(np.mean(y == 1))
    assert result.baselines["previous_return_sign"]["accuracy"] == pytest.approx(
        np.mean((back > 0) == (y == 1))
    )
    assert sum(f["n"] for f in result.folds) == overall["n"]


def test_regression_metrics() -> None:
    from scipy.stats import spearmanr

    label = LabelSpec(kind="forward_return", horizon=2)
    batches = _batches()
    result = walk_forward(PIPELINE, batches, label, "ridge", CFG)  # type: ignore[arg-type]
    preds, rets = [], []
    for instrument, batch in sorted(batches.items()):
        close = np.asarray(batch.close)  # type: ignore[attr-defined]
        fwd = np.r_[close[2:] / close[:-2] - 1, np.nan, np.nan]
        pred = result.predictions[instrument].prediction
        ok = np.isfinite(pred) & np.isfinite(fwd)
        preds.append(pred[ok])
        rets.append(fwd[ok])
    p, r = np.concatenate(preds), np.concatenate(rets)
    assert result.overall["ic"] == pytest.approx(spearmanr(p, r).statistic)
    assert result.overall["rmse"] == pytest.approx(np.sqrt(np.mean((p - r) ** 2)))
    assert result.overall["hit_rate"] == pytest.approx(np.mean(np.sign(p) == np.sign(r)))
    assert result.baselines["always_long"]["hit_rate"] == pytest.approx(np.mean(r > 0))


def test_optuna_sees_only_the_training_window_purged_before_its_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Record every row the search fits and validates on, fold by fold: all are samples of that
    fold's training window (labels known purge + embargo bars before the test window), the
    inner fit rows' labels end purge + embargo bars before the validation part starts, and the
    validation part is a block of whole timestamps after them."""
    label = LabelSpec(kind="sign", horizon=4)
    cfg = WalkForwardConfig(train_window=200, retrain_every=100, min_train_samples=150,
                            search_trials=2, purge=2, embargo=1)  # fmt: skip
    batches = _batches()
    timeline = np.unique(np.concatenate([b.ts for b in batches.values()]))  # type: ignore[attr-defined]
    samples = walkforward._collect(PIPELINE, sorted(batches.items()), label, timeline, None)  # type: ignore[arg-type]
    calls: list[dict[str, Any]] = []
    real_tune = search.tune

    def recording_tune(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append({"x": args[3], "spans": kwargs["spans"], "fit": [], "val": []})
        return real_tune(*args, **kwargs)

    class Recording:
        def __init__(self, name: str, task: Any, params: Any) -> None:
            self.model = create_model(name, task, params)

        def fit(self, x: Any, y: Any, **_: Any) -> Any:
            calls[-1]["fit"].append(np.asarray(x))
            self.model.fit(x, y)
            return self

        def predict(self, x: Any) -> Any:
            calls[-1]["val"].append(np.asarray(x))
            return self.model.predict(x)

    monkeypatch.setattr(walkforward, "tune", recording_tune)
    monkeypatch.setattr(search, "create_model", Recording)
    result = walk_forward(PIPELINE, batches, label, "logistic", cfg)  # type: ignore[arg-type]
    assert len(calls) == len(result.folds) >= 2
    index = {row.tobytes(): k for k, row in enumerate(samples.matrix)}
    for call, fold in zip(calls, result.folds, strict=True):
        s = int(np.searchsorted(timeline, fold["test_start"]))
        window = _train_mask(samples, s, cfg)
        assert np.array_equal(np.sort([index[r.tobytes()] for r in call["x"]]),
                              np.flatnonzero(window))  # fmt: skip
        starts = samples.start[window]
        cut = int(np.unique(starts)[int(len(np.unique(starts)) * 0.75)])
        for fit, val in zip(call["fit"], call["val"], strict=True):
            fit_rows = np.array([index[r.tobytes()] for r in fit])
            val_rows = np.array([index[r.tobytes()] for r in val])
            assert samples.end[fit_rows].max() <= cut - cfg.gap  # purged by label end
            assert samples.start[val_rows].min() == cut  # whole timestamps from the cut on
            assert np.array_equal(
                np.sort(val_rows), np.flatnonzero(window & (samples.start >= cut))
            )
            assert samples.end[val_rows].max() <= s - cfg.gap  # still inside the window
        assert "C" in fold["params"]


def test_not_enough_data_and_bad_config() -> None:
    with pytest.raises(ModelError, match="min_train_samples"):
        walk_forward(PIPELINE, {A: random_walk(60, 1)}, LabelSpec(), "logistic", CFG)
    with pytest.raises(ConfigError, match="at least one instrument"):
        walk_forward(PIPELINE, {}, LabelSpec(), "logistic", CFG)
    with pytest.raises(ConfigError, match="retrain_every"):
        WalkForwardConfig(retrain_every=0)
    with pytest.raises(ConfigError, match="purge"):
        WalkForwardConfig(purge=-1)


def test_ensemble_search_tunes_each_member_inside_the_window() -> None:
    label = LabelSpec(kind="sign", horizon=2)
    cfg = WalkForwardConfig(train_window=200, retrain_every=200, min_train_samples=150,
                            search_trials=2, purge=1)  # fmt: skip
    params = {"members": ["logistic", "random_forest"], "member_params": {"random_forest": {
        "n_estimators": 5}}}  # fmt: skip
    result = walk_forward(PIPELINE, _batches(), label, "ensemble", cfg, params=params)  # type: ignore[arg-type]
    for fold in result.folds:
        members = fold["params"]["member_params"]
        assert 1e-3 <= members["logistic"]["C"] <= 10
        assert members["random_forest"]["n_estimators"] == 5  # configured value kept
        assert 2 <= members["random_forest"]["max_depth"] <= 8
    assert result.final_model is not None
    fitted = result.final_model.metadata()["members"]
    assert fitted[0]["params"]["C"] == result.params["member_params"]["logistic"]["C"]
