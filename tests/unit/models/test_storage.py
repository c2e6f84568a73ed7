"""Model files cannot run code: every kind round-trips exactly, and crafted files are refused
before anything in them is built."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio

from neo.domain import ModelError
from neo.features import default_pipeline
from neo.models import TRUSTED_TYPES, ModelRegistry, create_model, load_model, save_model
from neo.models.base import EnsembleModel, EstimatorModel, Model
from neo.models.storage import skops_types

SMALL_GBM = {"n_estimators": 15, "num_leaves": 7, "min_child_samples": 5}
MEMBERS = {"lightgbm": {"n_estimators": 8}, "random_forest": {"n_estimators": 4}}
STACK = {"member_params": MEMBERS}
SKLEARN = [
    ("logistic", "classification"),
    ("ridge", "regression"),
    ("random_forest", "classification"),
    ("random_forest", "regression"),
]


def _data(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    noisy = x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.5, n)
    return x, (noisy > 0).astype(float), 0.01 * noisy


KINDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "lightgbm-classifier": ("lightgbm", "classification", SMALL_GBM),
    "lightgbm-regressor": ("lightgbm", "regression", SMALL_GBM),
    "logistic": ("logistic", "classification", {}),
    "ridge": ("ridge", "regression", {}),
    "random_forest-classifier": ("random_forest", "classification", {"n_estimators": 6}),
    "random_forest-regressor": ("random_forest", "regression", {"n_estimators": 6}),
    "ensemble-average": ("ensemble", "classification", {"member_params": MEMBERS}),
    "ensemble-average-regressor": ("ensemble", "regression", {"member_params": MEMBERS}),
    "ensemble-stack": ("ensemble", "classification", {"method": "stack", **STACK}),
    "ensemble-stack-regressor": (
        "ensemble",
        "regression",
        {"method": "stack", "member_params": MEMBERS},
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_predicts_identically_after_save_and_load(kind: str, tmp_path: Path) -> None:
    name, task, params = KINDS[kind]
    x, y, r = _data()
    model = create_model(name, task, params).fit(x, y if task == "classification" else r)  # type: ignore[arg-type]
    save_model(model, tmp_path / "m")
    assert not list((tmp_path / "m").rglob("*.pkl"))
    loaded = load_model(tmp_path / "m")
    fresh = _data(50, seed=9)[0]
    assert type(loaded) is type(model) and loaded.metadata() == model.metadata()
    np.testing.assert_array_equal(loaded.predict(fresh), model.predict(fresh))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    if task == "classification":
        np.testing.assert_array_equal(loaded.predict_proba(fresh), model.predict_proba(fresh))
    if "stack" in kind:
        assert isinstance(loaded, EnsembleModel) and loaded.stacked


def test_constant_classifier_and_stack_fallback_round_trip(tmp_path: Path) -> None:
    x, _, _ = _data(30)
    one_class = EstimatorModel("lightgbm", "classification").fit(x, np.ones(30))
    save_model(one_class, tmp_path / "c")
    assert load_model(tmp_path / "c").predict(x[:3]).tolist() == [1.0, 1.0, 1.0]
    fallback = create_model("ensemble", "classification", {"method": "stack"})
    fallback.fit(x[:12], (x[:12, 0] > 0).astype(float))
    assert isinstance(fallback, EnsembleModel) and fallback.fallback
    save_model(fallback, tmp_path / "f")
    loaded = load_model(tmp_path / "f")
    assert isinstance(loaded, EnsembleModel) and loaded.fallback == fallback.fallback
    np.testing.assert_array_equal(loaded.predict(x), fallback.predict(x))


def test_every_type_neo_writes_is_on_the_allowlist(tmp_path: Path) -> None:
    x, y, r = _data()
    for name, task in SKLEARN:
        model = create_model(name, task, {"n_estimators": 3} if name == "random_forest" else {})  # type: ignore[arg-type]
        model.fit(x, y if task == "classification" else r)
        assert isinstance(model, EstimatorModel)
        assert skops_types(sio.dumps(model.estimator)) <= TRUSTED_TYPES


class Payload:
    """A type outside the allowlist whose construction would leave a trace on disk."""

    marker: Path = Path("unset")

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).write_text("ran")
        self.__dict__.update(state)


def test_a_skops_file_with_an_untrusted_type_is_refused_without_running(tmp_path: Path) -> None:
    x, y, _ = _data()
    model = create_model("logistic", "classification").fit(x, y)
    save_model(model, tmp_path / "m")
    marker = tmp_path / "marker"
    assert isinstance(model, EstimatorModel)
    crafted = model.estimator
    crafted.payload = Payload(marker)  # hidden in an otherwise genuine estimator
    (tmp_path / "m" / "estimator.skops").write_bytes(sio.dumps(crafted))
    with pytest.raises(ModelError, match=r"does not trust \(.*Payload.*retrain"):
        load_model(tmp_path / "m")
    assert not marker.exists()
    (tmp_path / "m" / "estimator.skops").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(tmp_path / "m")


def test_damaged_or_foreign_model_folders_are_refused(tmp_path: Path) -> None:
    x, y, _ = _data()
    model = create_model("lightgbm", "classification", SMALL_GBM).fit(x, y)
    save_model(model, tmp_path / "m")
    (tmp_path / "m" / "booster.txt").write_text("tree\nversion=v4\nnot a model")
    with pytest.raises(ModelError, match=r"LightGBM model file .* unreadable"):
        load_model(tmp_path / "m")
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    for change, message in [
        ({"format": 1}, "format 1"),
        ({"kind": "pickle"}, "unknown model kind"),
        ({"name": "xgboost"}, "unknown model"),
        ({"n_features": "5"}, "n_features"),
        ({"name": "ridge"}, "use 'logistic'"),
    ]:
        (tmp_path / "m" / "model.json").write_text(json.dumps({**record, **change}))
        with pytest.raises(ModelError, match=message):
            load_model(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{trunc")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(tmp_path / "m")


class Exploit:
    """Unpickling this writes a file: what a crafted ``model.pkl`` would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "ran"))


def plant_pickle(registry_root: Path, model_id: str, marker: Path, forge: bool) -> None:
    """Replace a saved model by a crafted pickle with its sha256 in metadata.json, as the old
    registry checked it (``forge`` also claims the new format)."""
    import hashlib

    folder = registry_root / model_id
    payload = pickle.dumps(Exploit(marker))
    (folder / "model.pkl").write_bytes(payload)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["model_sha256"] = hashlib.sha256(payload).hexdigest()
    if forge:
        meta["files"] = {"model.pkl": meta["model_sha256"]}
    else:
        meta.pop("model_format")
    (folder / "metadata.json").write_text(json.dumps(meta))
    import shutil

    shutil.rmtree(folder / "model")


def test_the_pickle_attack_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Exploit(marker)))
    assert marker.exists(), "the payload must work, or this test proves nothing"
    marker.unlink()
    registry = ModelRegistry(tmp_path / "models")
    pipeline = default_pipeline()
    x, y, _ = _data(60, 1)
    for forge in (False, True):
        model: Model = create_model("logistic", "classification").fit(x, y)
        model_id = registry.save(model, {"feature_hash": pipeline.spec_hash()})
        plant_pickle(tmp_path / "models", model_id, marker, forge)
        message = "no saved .model.: retrain" if forge else "older format.*retrain"
        with pytest.raises(ModelError, match=message):
            registry.load(model_id, pipeline)
        assert not marker.exists()


def test_a_skops_zip_names_its_types() -> None:
    data = sio.dumps({"a": np.arange(3)})
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as archive:
        assert "schema.json" in archive.namelist()
    assert {"builtins.dict", "numpy.ndarray"} <= skops_types(data)
