"""Model registry: each trained model beside everything needed to trust and reproduce it.

Layout: ``<root>/<model_id>/model.pkl`` and ``metadata.json`` (feature spec and its hash, the
feature-code version, label, training window, data hash over the bars and market series, fold
metrics, library versions, sha256 of the model file). Loading verifies the file's sha256 before
unpickling it. :func:`resolve_pipeline` is what ``neo predict`` and the live predictor run: the
pipeline the user's ``[features]`` configuration builds must be the model's own (else the
differing features are named), and the feature kernels must be the code it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from neo.domain.bar import BarBatch
from neo.domain.errors import FeatureSpecMismatchError, ModelError, ModelNotFoundError
from neo.domain.ids import InstrumentId
from neo.features.config import FeatureConfig
from neo.features.pipeline import FeaturePipeline, feature_code_version, pipeline_from_config
from neo.logs import get_logger
from neo.models.base import Model, load_model, save_model

log = get_logger("models.registry")

_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_LIBRARIES = ("numpy", "numba", "lightgbm", "scikit-learn", "optuna", "neo-trading")


def library_versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - every listed library is a dependency
            found[name] = "unknown"
    return found


def data_hash(batches: Iterable[BarBatch], context: Mapping[str, BarBatch] | None = None) -> str:
    """sha256 over every bar's instrument, timestamps and OHLCV, in the order given, then over
    each context (market) series by key: the cross-asset features read those bars too."""
    digest = hashlib.sha256()
    named: list[tuple[str | None, BarBatch]] = [(None, b) for b in batches]
    named += [(key, (context or {})[key]) for key in sorted(context or {})]
    for key, batch in named:
        if key is not None:
            digest.update(f"context:{key}".encode())
        digest.update(str(batch.instrument).encode())
        digest.update(str(batch.timeframe).encode())
        for column in (batch.ts, batch.open, batch.high, batch.low, batch.close, batch.volume):
            digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ModelRegistry:
    """Trained models on disk under ``root`` (by default ``settings.data_dir / "models"``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, model_id: str) -> Path:
        if not _ID.match(model_id):
            raise ModelNotFoundError(f"invalid model id {model_id!r}: see `neo models list`")
        return self.root / model_id

    def save(self, model: Model, metadata: Mapping[str, Any]) -> str:
        """Store a fitted model; returns its new id (``<name>-<UTC time>-<hash>``)."""
        stamp = datetime.now(UTC)
        digest = hashlib.sha256(
            json.dumps(metadata, sort_keys=True, default=str).encode() + os.urandom(8)
        ).hexdigest()[:8]
        model_id = f"{model.name}-{stamp:%Y%m%dT%H%M%S}-{digest}"
        folder = self._dir(model_id)
        folder.mkdir(parents=True, exist_ok=False)
        save_model(model, folder / "model.pkl")
        record = {
            **dict(metadata),
            "model_id": model_id,
            "model": model.metadata(),
            "task": model.task,
            "created_at": stamp.isoformat(),
            "libraries": library_versions(),
            "model_sha256": _sha256(folder / "model.pkl"),
        }
        text = json.dumps(record, indent=2, sort_keys=True, default=str)
        (folder / "metadata.json").write_text(text, encoding="utf-8")
        return model_id

    def metadata(self, model_id: str) -> dict[str, Any]:
        path = self._dir(model_id) / "metadata.json"
        if not path.is_file():
            raise ModelNotFoundError(f"no model {model_id!r} in {self.root}: see `neo models list`")
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"metadata of model {model_id!r} is unreadable: {exc}") from exc
        return record

    def load(self, model_id: str, pipeline: FeaturePipeline | None = None) -> Model:
        """The fitted model, ready for ``model.predict(pipeline.incremental().update(bar))``.

        Raises
        ------
        FeatureSpecMismatchError
            ``pipeline`` computes different features than the model was trained on.
        ModelNotFoundError
            No such model id.
        ModelError
            The model file changed since it was saved.
        """
        return self.load_with_metadata(model_id, pipeline)[0]

    def load_with_metadata(
        self, model_id: str, pipeline: FeaturePipeline | None = None
    ) -> tuple[Model, dict[str, Any]]:
        """:meth:`load`, plus the metadata recorded at training time."""
        record = self.metadata(model_id)
        if pipeline is not None and pipeline.spec_hash() != record.get("feature_hash"):
            raise FeatureSpecMismatchError(
                f"model {model_id!r} was trained on features {record.get('feature_hash')} but "
                f"the pipeline is {pipeline.spec_hash()}: use the model's own feature spec "
                "(registry.pipeline(model_id)) or retrain with `neo train`"
            )
        path = self._dir(model_id) / "model.pkl"
        if not path.is_file() or _sha256(path) != record.get("model_sha256"):
            raise ModelError(f"model file of {model_id!r} is missing or altered; retrain it")
        return load_model(path), record

    def pipeline(self, model_id: str) -> FeaturePipeline:
        """The feature pipeline the model was trained on (for the live loop)."""
        return pipeline_of(self.metadata(model_id))

    def list(self) -> list[dict[str, Any]]:
        """Summaries of every stored model, newest first."""
        if not self.root.is_dir():
            return []
        rows = []
        for folder in self.root.iterdir():
            if not (folder / "metadata.json").is_file():
                continue
            record = self.metadata(folder.name)
            rows.append(
                {
                    "model_id": record.get("model_id", folder.name),
                    "model": record.get("model", {}).get("name"),
                    "task": record.get("task"),
                    "label": record.get("label"),
                    "instruments": record.get("instruments"),
                    "timeframe": record.get("timeframe"),
                    "created_at": record.get("created_at"),
                    "overall": record.get("overall"),
                }
            )
        return sorted(rows, key=lambda r: str(r["created_at"]), reverse=True)


def pipeline_of(metadata: Mapping[str, Any]) -> FeaturePipeline:
    """The feature pipeline a saved model was trained on."""
    try:
        return FeaturePipeline.from_config(metadata["features"])
    except KeyError as exc:
        raise ModelError("model metadata lacks its feature spec; retrain the model") from exc


def market_instruments(metadata: Mapping[str, Any]) -> dict[str, InstrumentId]:
    """Market key of each cross-asset feature → the instrument it was trained on."""
    saved = metadata.get("context_instruments")
    if isinstance(saved, Mapping):
        return {str(k): InstrumentId.parse(str(v)) for k, v in saved.items()}
    instruments = metadata.get("instruments") or []
    venue = InstrumentId.parse(str(instruments[0])).venue if instruments else "sim"
    markets = pipeline_of(metadata).markets
    return {m: InstrumentId.parse(m, default_venue=venue) for m in markets}


def _spec_differences(saved: FeaturePipeline, current: FeaturePipeline) -> str:
    """What differs between two pipelines, by feature name, in one line."""
    mine = {s.name: s for s in saved.specs}
    theirs = {s.name: s for s in current.specs}
    parts = []
    if only := [n for n in mine if n not in theirs]:
        parts.append(f"only in the model: {', '.join(only)}")
    if extra := [n for n in theirs if n not in mine]:
        parts.append(f"only in [features]: {', '.join(extra)}")
    changed = [
        f"{n} ({mine[n].to_dict()} vs {theirs[n].to_dict()})"
        for n in mine
        if n in theirs and mine[n] != theirs[n]
    ]
    if changed:
        parts.append(f"different parameters: {'; '.join(changed)}")
    if not parts:
        parts.append(f"same features in another order: {', '.join(current.names)}")
    return "; ".join(parts)


def check_feature_code(metadata: Mapping[str, Any]) -> None:
    """The feature kernels that computed the training features are the ones running now."""
    saved = metadata.get("feature_code")
    model_id = metadata.get("model_id", "?")
    if saved is None:
        log.warning(
            "model predates the feature-code check: retrain it to be sure its features are "
            "computed by the same code",
            extra={"model": model_id},
        )
        return
    if saved != feature_code_version():
        raise FeatureSpecMismatchError(
            f"model {model_id!r} was trained with feature code {saved} but this NEO computes "
            f"features with {feature_code_version()}: retrain it with `neo train`"
        )


def resolve_pipeline(
    metadata: Mapping[str, Any], configured: FeatureConfig | None
) -> FeaturePipeline:
    """The pipeline to run a saved model with.

    ``configured`` is the ``[features]`` configuration the user gave (None when they gave
    none, or asked explicitly for the model's own spec): it must build exactly the features the
    model was trained on, else a FeatureSpecMismatchError names the differing features. The
    feature code version is checked either way.
    """
    saved = pipeline_of(metadata)
    check_feature_code(metadata)
    if configured is None:
        return saved
    current = pipeline_from_config(configured)
    if current.spec_hash() != saved.spec_hash():
        raise FeatureSpecMismatchError(
            f"model {metadata.get('model_id', '?')!r} was trained on other features than the "
            f"[features] configuration builds ({_spec_differences(saved, current)}): align the "
            "configuration, use the model's own spec (--model-features), or retrain"
        )
    return saved
