"""The registry stores models with their provenance and refuses mismatched features."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neo.domain import FeatureSpecMismatchError, InstrumentId, ModelError, ModelNotFoundError
from neo.features import FeaturePipeline, FeatureSpec, default_pipeline, pipeline_from_config
from neo.features.config import FeatureConfig
from neo.features.pipeline import feature_code_version
from neo.models import ModelRegistry, create_model, data_hash, pipeline_of
from neo.models.registry import market_instruments, resolve_pipeline
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
    assert record["libraries"]["skops"] and record["files"]["model/model.json"]
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
    (tmp_path / model_id / "model" / "estimator.skops").write_bytes(b"tampered")
    with pytest.raises(ModelError, match=r"altered \(model/estimator\.skops\)"):
        registry.load(model_id)
    with pytest.raises(ModelNotFoundError, match="neo models list"):
        registry.load("nope")
    with pytest.raises(ModelNotFoundError, match="invalid model id"):
        registry.load("../etc")
    with pytest.raises(ModelNotFoundError, match="invalid model id"):
        registry.load(".staging-1")
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


def test_data_hash_covers_the_market_series() -> None:
    asset = random_walk(50, 1, "AAA/USDT")
    market = random_walk(50, 2, "MMM/USDT")
    other = random_walk(50, 3, "MMM/USDT")
    plain = data_hash([asset])
    with_market = data_hash([asset], {"MMM/USDT": market})
    assert plain != with_market != data_hash([asset], {"MMM/USDT": other})
    assert with_market == data_hash([asset], {"MMM/USDT": market})
    assert data_hash([asset], {}) == plain


def _record(**extra: object) -> dict[str, object]:
    pipeline = default_pipeline()
    return {"model_id": "m-1", "features": pipeline.to_config(), **extra}


def test_resolve_pipeline_checks_the_configured_features_and_the_feature_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = feature_code_version()
    record = _record(feature_code=code)
    assert resolve_pipeline(record, None).spec_hash() == default_pipeline().spec_hash()
    assert resolve_pipeline(record, FeatureConfig()).spec_hash() == default_pipeline().spec_hash()
    with pytest.raises(FeatureSpecMismatchError, match="only in \\[features\\]: market_ret_1"):
        resolve_pipeline(record, FeatureConfig(market="BTC/USDT"))
    fewer = FeatureConfig(specs=[{"name": "ret_1", "kind": "return", "k": 1}])
    with pytest.raises(FeatureSpecMismatchError, match="only in the model: ret_5, ret_20"):
        resolve_pipeline(record, fewer)
    changed = FeatureConfig(specs=[{**s, "window": 9} if s["name"] == "rsi_7" else s
                                   for s in default_pipeline().to_config()])  # fmt: skip
    with pytest.raises(FeatureSpecMismatchError, match="different parameters: rsi_7"):
        resolve_pipeline(record, changed)
    reordered = FeatureConfig(specs=default_pipeline().to_config()[::-1])
    with pytest.raises(FeatureSpecMismatchError, match="another order"):
        resolve_pipeline(record, reordered)
    with pytest.raises(FeatureSpecMismatchError, match="feature code"):
        resolve_pipeline(_record(feature_code="0.0.1+0123456789ab"), None)
    with caplog.at_level("WARNING", logger="neo"):
        resolve_pipeline(_record(), None)  # trained before the check existed: warn, go on
    assert "predates the feature-code check" in caplog.text
    assert code.startswith("0.") and code == feature_code_version()


def test_market_instruments_from_metadata() -> None:
    saved = _record(context_instruments={"BTC/USDT": "BTC/USDT@binance"})
    assert market_instruments(saved) == {"BTC/USDT": InstrumentId("binance", "BTC/USDT")}
    pipeline = pipeline_from_config(FeatureConfig(market="BTC/USDT"))
    older = {"features": pipeline.to_config(), "instruments": ["ETH/USDT@kraken"]}
    assert market_instruments(older) == {"BTC/USDT": InstrumentId("kraken", "BTC/USDT")}


def _saved(registry: ModelRegistry, n: int = 1) -> list[str]:
    meta = {"feature_hash": "x", "timeframe": "1h", "instruments": ["AAA/USDT@sim"]}
    return [registry.save(_model(), meta) for _ in range(n)]  # type: ignore[arg-type]


def test_one_truncated_metadata_does_not_hide_the_healthy_models(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    healthy, damaged = _saved(registry, 2)
    path = tmp_path / damaged / "metadata.json"
    path.write_bytes(path.read_bytes()[:40])  # a write cut short by a crash, as before the fix
    assert [r["model_id"] for r in registry.list()] == [healthy]
    rows, bad = registry.scan()
    assert [r["model_id"] for r in rows] == [healthy]
    assert [b["model_id"] for b in bad] == [damaged] and "unreadable" in bad[0]["error"]
    assert registry.load(healthy) is not None


def test_model_folders_without_metadata_are_removed_at_open_and_write(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    (kept,) = _saved(registry)
    killed = tmp_path / "lightgbm-20260101T000000-0123abcd"  # a write killed before metadata
    killed.mkdir()
    (killed / "model.pkl").write_bytes(b"half")
    other = tmp_path / "notes"  # not a folder NEO made: left alone
    other.mkdir()
    ModelRegistry(tmp_path)
    assert not killed.exists() and other.exists() and (tmp_path / kept).exists()
    killed.mkdir()
    dead = tmp_path / ".staging-999999999-abc"  # a staging folder of a process that is gone
    dead.mkdir()
    alive = tmp_path / f".staging-{os.getpid()}-abc"  # one being written right now
    alive.mkdir()
    _saved(registry)
    assert not killed.exists() and not dead.exists() and alive.exists()
    assert len(registry.list()) == 2


def test_an_interrupted_save_leaves_no_half_written_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up in the middle of writing metadata.json: before the fix a truncated
    metadata.json stayed behind and `models list` failed; now nothing of the model remains."""
    registry = ModelRegistry(tmp_path)
    (before,) = _saved(registry)
    real_open = io.open

    class Full(io.BufferedWriter):
        def write(self, data: Any) -> int:
            super().write(bytes(data)[: len(data) // 2])
            self.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "metadata.json" in str(file) and "w" in mode:
            return (
                io.TextIOWrapper(Full(real_open(file, "wb")))
                if "b" not in mode
                else Full(real_open(file, "wb"))
            )
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)
    with pytest.raises((ModelError, OSError)):
        _saved(registry)
    monkeypatch.undo()
    assert [r["model_id"] for r in ModelRegistry(tmp_path).list()] == [before]
    assert sorted(p.name for p in tmp_path.iterdir()) == [before]
