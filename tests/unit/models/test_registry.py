"""The registry stores models with their provenance and refuses mismatched features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neo.domain import FeatureSpecMismatchError, ModelError, ModelNotFoundError
from neo.features import FeaturePipeline, FeatureSpec, default_pipeline
from neo.models import ModelRegistry, create_model, data_hash, pipeline_of
from tests.unit.features.synthetic import random_walk


def _model() -> object:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 20))
    return create_model("logistic", "classification").fit(x, (x[:, 0] > 0).astype(float))


def test_save_load_list(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.list() == []
    pipeline = default_pipeline()
    model = _model()
    meta = {
        "features": pipeline.to_config(),
        "feature_hash": pipeline.spec_hash(),
        "instruments": ["AAA/USDT@sim"],
        "timeframe": "1h",
        "label": {"kind": "sign"},
        "overall": {"accuracy": 0.6},
    }
    model_id = registry.save(model, meta)  # type: ignore[arg-type]
    other_id = registry.save(model, meta)  # type: ignore[arg-type]
    assert model_id != other_id and model_id.startswith("logistic-")
    loaded, record = registry.load_with_metadata(model_id, pipeline)
    assert registry.pipeline(model_id).spec_hash() == pipeline.spec_hash()
    assert isinstance(registry.load(model_id), type(model))
    x = np.random.default_rng(1).normal(size=(5, 20))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))  # type: ignore[attr-defined]
    assert record["libraries"]["lightgbm"] and record["model_sha256"]
    assert pipeline_of(record).spec_hash() == pipeline.spec_hash()
    listed = registry.list()
    assert {r["model_id"] for r in listed} == {model_id, other_id}
    assert listed[0]["task"] == "classification" and listed[0]["timeframe"] == "1h"


def test_mismatched_features_and_tampering(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    pipeline = default_pipeline()
    meta = {"features": pipeline.to_config(), "feature_hash": pipeline.spec_hash()}
    model_id = registry.save(_model(), meta)  # type: ignore[arg-type]
    other = FeaturePipeline([FeatureSpec.of("rsi", "rsi")])
    with pytest.raises(FeatureSpecMismatchError, match="retrain"):
        registry.load(model_id, other)
    (tmp_path / model_id / "model.pkl").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="altered"):
        registry.load(model_id)
    with pytest.raises(ModelNotFoundError, match="neo models list"):
        registry.load("nope")
    with pytest.raises(ModelNotFoundError, match="invalid model id"):
        registry.load("../etc")
    (tmp_path / model_id / "metadata.json").write_text("{broken")
    with pytest.raises(ModelError, match="unreadable"):
        registry.metadata(model_id)
    with pytest.raises(ModelError, match="feature spec"):
        pipeline_of({})


def test_data_hash_changes_with_any_bar() -> None:
    a = random_walk(50, 1)
    b = random_walk(50, 1)
    assert data_hash([a]) == data_hash([b])
    assert data_hash([a]) != data_hash([random_walk(50, 2)])
    assert data_hash([a]) != data_hash([a.slice(0, 49)])


def test_metadata_is_json(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    model_id = registry.save(_model(), {"feature_hash": "x"})  # type: ignore[arg-type]
    record = json.loads((tmp_path / model_id / "metadata.json").read_text())
    assert record["model_id"] == model_id and record["model"]["name"] == "logistic"
