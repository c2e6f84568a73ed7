"""Every model follows one contract: fit, predict P(up) / forecast, save, load, metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neo.domain import ConfigError, ModelError
from neo.models import MODEL_NAMES, EnsembleModel, EstimatorModel, Model, create_model, load_model
from neo.models.purge import Spans

SMALL = {"lightgbm": {"n_estimators": 20}, "random_forest": {"n_estimators": 15}}


def _data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    signal = x[:, 0] - 0.5 * x[:, 1]
    noisy = signal + rng.normal(0, 0.5, n)
    return x, (noisy > 0).astype(float), 0.01 * noisy


def _params(name: str) -> dict[str, object]:
    if name == "ensemble":
        return {"member_params": SMALL}
    return dict(SMALL.get(name, {}))


CLASSIFIERS = ["lightgbm", "logistic", "random_forest", "ensemble"]
REGRESSORS = ["lightgbm", "ridge", "random_forest", "ensemble"]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifiers_learn_a_real_signal(name: str) -> None:
    x, y, _ = _data()
    model = create_model(name, "classification", _params(name)).fit(x[:200], y[:200])
    assert isinstance(model, Model)
    prob = model.predict(x[200:])
    assert prob.shape == (100,) and ((prob >= 0) & (prob <= 1)).all()
    assert np.mean((prob >= 0.5) == (y[200:] == 1)) > 0.7
    proba = model.predict_proba(x[200:])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba[:, 1], prob)
    assert model.predict(x[0]).shape == (1,)  # one feature vector = one row


@pytest.mark.parametrize("name", REGRESSORS)
def test_regressors_learn_a_real_signal(name: str) -> None:
    x, _, r = _data()
    model = create_model(name, "regression", _params(name)).fit(x[:200], r[:200])
    pred = model.predict(x[200:])
    assert np.corrcoef(pred, r[200:])[0, 1] > 0.6
    with pytest.raises(ModelError, match="regression"):
        model.predict_proba(x[:3])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip_and_determinism(name: str, tmp_path: Path) -> None:
    task = "regression" if name == "ridge" else "classification"
    x, y, r = _data()
    target = r if task == "regression" else y
    first = create_model(name, task, _params(name)).fit(x, target)  # type: ignore[arg-type]
    again = create_model(name, task, _params(name)).fit(x, target)  # type: ignore[arg-type]
    np.testing.assert_array_equal(first.predict(x), again.predict(x))
    first.save(tmp_path / "m.pkl")
    loaded = type(first).load(tmp_path / "m.pkl")  # type: ignore[attr-defined]
    np.testing.assert_array_equal(loaded.predict(x), first.predict(x))
    meta = loaded.metadata()
    assert meta["name"] == name and meta["task"] == task


def test_one_class_window_predicts_its_frequency() -> None:
    x, _, _ = _data(50)
    model = create_model("lightgbm", "classification", {"n_estimators": 5})
    model.fit(x, np.ones(50))
    np.testing.assert_array_equal(model.predict(x[:3]), [1.0, 1.0, 1.0])


def test_stacked_ensemble_uses_a_meta_model() -> None:
    x, y, _ = _data(400)
    stacked = create_model("ensemble", "classification", {"method": "stack", **_params("ensemble")})
    averaged = create_model("ensemble", "classification", _params("ensemble"))
    assert isinstance(stacked, EnsembleModel)
    stacked.fit(x[:300], y[:300])
    averaged.fit(x[:300], y[:300])
    assert not np.allclose(stacked.predict(x[300:]), averaged.predict(x[300:]))
    assert np.mean((stacked.predict(x[300:]) >= 0.5) == (y[300:] == 1)) > 0.7
    assert stacked.metadata()["method"] == "stack"
    regression = create_model("ensemble", "regression", {"members": ["ridge"], "method": "stack"})
    regression.fit(x[:300], y[:300])
    with pytest.raises(ModelError, match="regression"):
        regression.predict_proba(x[:2])


@pytest.mark.parametrize(
    ("name", "task", "params", "message"),
    [
        ("xgboost", "classification", {}, "unknown model"),
        ("lightgbm", "ranking", {}, "unknown task"),
        ("logistic", "regression", {}, "use 'ridge'"),
        ("ridge", "classification", {}, "use 'logistic'"),
        ("random_forest", "classification", {"trees": 3}, "bad parameters"),
        ("ensemble", "classification", {"weights": [1]}, "no parameter"),
        ("ensemble", "classification", {"members": ["ensemble"]}, "invalid"),
        ("ensemble", "classification", {"method": "vote"}, "average"),
    ],
)
def test_bad_model_requests(name: str, task: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_model(name, task, params)  # type: ignore[arg-type]


def test_misuse_is_a_model_error(tmp_path: Path) -> None:
    x, y, _ = _data(40)
    model = EstimatorModel("logistic", "classification")
    with pytest.raises(ModelError, match="not fitted"):
        model.predict(x)
    with pytest.raises(ModelError, match="NaN"):
        model.fit(np.full((3, 2), np.nan), np.ones(3))
    with pytest.raises(ModelError, match="rows"):
        model.fit(x, y[:10])
    with pytest.raises(ModelError, match="2-D"):
        model.fit(np.zeros((2, 2, 2)), y[:2])
    model.fit(x, y)
    with pytest.raises(ModelError, match="expects 4 features"):
        model.predict(x[:, :2])
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match=r"not a NEO model folder.*retrain"):
        load_model(bad)
    with pytest.raises(ModelError, match="not fitted"):
        EstimatorModel("ridge", "regression").save(tmp_path / "unfitted")


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_lightgbm_fast_path_equals_sklearn_api(task: str) -> None:
    x, y, r = _data()
    model = EstimatorModel("lightgbm", task, {"n_estimators": 20})  # type: ignore[arg-type]
    model.fit(x, y if task == "classification" else r)
    estimator = model._estimator
    reference = (
        estimator.predict_proba(x)[:, 1] if task == "classification" else estimator.predict(x)
    )
    np.testing.assert_array_equal(model.predict(x), reference)


def test_stacking_purges_member_rows_whose_labels_reach_the_meta_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two instruments at 100 times, 6-bar labels, gap 2: the members' early fit keeps only rows
    whose label ended 2 bars before the meta-model's part (the last 30 % of the times)."""
    start = np.repeat(np.arange(100), 2)
    end = start + 6
    rng = np.random.default_rng(3)
    x = np.column_stack([np.arange(200), rng.normal(size=200)])
    y = (x[:, 1] > 0).astype(float)
    seen: list[np.ndarray] = []
    real_fit = EstimatorModel.fit

    def recording_fit(self: EstimatorModel, rows: object, target: object, **kw: object) -> object:
        seen.append(np.asarray(rows))
        return real_fit(self, rows, target)  # type: ignore[arg-type]

    monkeypatch.setattr(EstimatorModel, "fit", recording_fit)
    model = create_model("ensemble", "classification", {"members": ["logistic"], "method": "stack"})
    model.fit(x, y, spans=Spans(start, end, gap=2))
    early, meta, full = seen
    assert np.array_equal(early[:, 0], np.flatnonzero(end <= 70 - 2))  # purged by label end
    assert len(meta) == np.sum(start >= 70) and meta.shape[1] == 1  # member forecasts, 30 %
    assert len(full) == 200
    assert model.metadata()["stacked"] is True and model.metadata()["fallback"] is None


def test_stacking_too_few_rows_averages_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    x, y, _ = _data(24)
    stacked = create_model("ensemble", "classification", {"method": "stack", **_params("ensemble")})
    averaged = create_model("ensemble", "classification", _params("ensemble"))
    with caplog.at_level("WARNING", logger="neo"):
        stacked.fit(x, y)
    averaged.fit(x, y)
    meta = stacked.metadata()
    assert meta["method"] == "stack" and meta["stacked"] is False
    assert "averaged" in str(meta["fallback"]) and "fell back to averaging" in caplog.text
    assert np.array_equal(stacked.predict(x), averaged.predict(x))
    with pytest.raises(ModelError, match="spans cover"):
        stacked.fit(x, y, spans=Spans.rows(5))
