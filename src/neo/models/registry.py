"""Model registry: each trained model beside everything needed to trust and reproduce it.

Layout of ``<root>/<model_id>/``: ``metadata.json`` (feature spec and its hash, the
feature-code version, label, training window, data hash over the bars and market series, fold
metrics, library versions, sha256 of every model file), ``model/`` (the live model, fitted on
every label known at the end of the data) and ``folds/<k>/`` (the model of walk-forward fold
``k``, so a forecast as of a past time uses the model walk-forward used then). Model folders are
in the formats of :mod:`neo.models.storage`, which never execute code when loaded; the digests
only detect damage.

A model is written in a hidden staging folder and renamed into place once complete, its
metadata written atomically; staging folders of dead writers and model folders without
metadata (a write killed by an older NEO) are removed when a registry is opened or written.
One unreadable ``metadata.json`` does not hide the healthy models: :meth:`ModelRegistry.scan`
lists them and names the damaged one.

:func:`resolve_pipeline` is what ``neo predict`` and the live predictor run: the pipeline the
user's ``[features]`` configuration builds must be the model's own (else the differing features
are named), and the feature kernels must be the code it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from neo.domain.bar import BarBatch
from neo.domain.errors import FeatureSpecMismatchError, ModelError, ModelNotFoundError
from neo.domain.ids import InstrumentId
from neo.domain.timestamps import iso_ns
from neo.features.config import FeatureConfig
from neo.features.pipeline import FeaturePipeline, feature_code_version, pipeline_from_config
from neo.logs import get_logger
from neo.models.base import MODEL_NAMES, Model
from neo.models.storage import FORMAT, file_digests, load_model, save_model, write_atomically

log = get_logger("models.registry")

_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_NEO_ID = re.compile(rf"^({'|'.join(MODEL_NAMES)})-\d{{8}}T\d{{6}}-[0-9a-f]{{8}}$")
"""The ids :meth:`ModelRegistry.save` makes: only such folders are ever removed."""
_STAGING = ".staging-"
_LIBRARIES = ("numpy", "numba", "lightgbm", "scikit-learn", "skops", "optuna", "neo-trading")
LIVE = "model"
"""Folder of the live model inside a model's folder."""


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # pragma: no cover - exists, owned by another user
        return True
    return True


def model_for_bar(record: Mapping[str, Any], bar_ts: int) -> tuple[str, dict[str, Any]]:
    """The saved model walk-forward training used to forecast the bar at ``bar_ts``.

    A bar inside the walk-forward span gets the last fold whose test window starts at or
    before it, which is the model that made that bar's out-of-sample prediction; its training
    labels all ended ``purge + embargo`` bars before the test window began. A bar after the
    last bar of the training data gets the live model. Returns the model's folder (relative to
    the model id's folder) and what was chosen.

    Raises
    ------
    ModelError
        The bar is before the first fold's test window (no model existed then), or the model
        was saved without its fold models and the bar is inside its training data.
    """
    window = record.get("training_window") or {}
    last_bar = _ns_of(window, "last_bar") if "last_bar" in window else _ns_of(window, "end")
    model_id = record.get("model_id", "?")
    if isinstance(last_bar, int) and bar_ts > last_bar:
        return LIVE, {"model": "live", "train_end": _ns_of(window, "end")}
    folds = list(record.get("folds") or [])[: int(record.get("fold_models") or 0)]
    if not folds:
        raise ModelError(
            f"model {model_id!r} was trained on data up to {iso_ns(int(last_bar or 0))} and "
            f"keeps no fold models: it cannot forecast the bar at {iso_ns(bar_ts)} without "
            "having seen what came after; use a later --end or retrain with `neo train`"
        )
    used = [f for f in folds if _ns_of(f, "test_start") <= bar_ts]
    if not used:
        raise ModelError(
            f"no walk-forward model of {model_id!r} existed for the bar at {iso_ns(bar_ts)}: "
            f"the first fold's test window starts at {iso_ns(_ns_of(folds[0], 'test_start'))}; "
            "use a later --end, or train on data that starts earlier"
        )
    fold = used[-1]
    return f"folds/{int(fold['fold'])}", {
        "model": f"fold {int(fold['fold'])}",
        "train_end": _ns_of(fold, "train_end"),
        "test_start": _ns_of(fold, "test_start"),
    }


def _ns_of(record: Mapping[str, Any], key: str) -> Any:
    """A time of a saved record in integer ns: its ``<key>_ns`` twin when the record keeps
    times as ISO text beside the exact integer, else the value itself (older metadata)."""
    value = record.get(f"{key}_ns", record.get(key))
    return value if value is None else int(value)


class ModelRegistry:
    """Trained models on disk under ``root`` (by default ``settings.data_dir / "models"``).

    Opening a registry removes what killed writes left behind (see the module docs).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sweep()

    def _dir(self, model_id: str) -> Path:
        if not _ID.match(model_id) or model_id.startswith("."):
            raise ModelNotFoundError(f"invalid model id {model_id!r}: see `neo models list`")
        return self.root / model_id

    def sweep(self) -> list[str]:
        """Remove staging folders of writers that died and NEO model folders without
        ``metadata.json``; returns the names removed."""
        if not self.root.is_dir():
            return []
        removed = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or not self._leftover(folder):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
            log.warning("removed an incomplete model folder", extra={"folder": str(folder)})
        return removed

    @staticmethod
    def _leftover(folder: Path) -> bool:
        if folder.name.startswith(_STAGING):
            pid = folder.name[len(_STAGING) :].split("-", 1)[0]
            return not (pid.isdigit() and _pid_alive(int(pid)))
        return bool(_NEO_ID.match(folder.name)) and not (folder / "metadata.json").exists()

    def save(self, model: Model, metadata: Mapping[str, Any], folds: Sequence[Model] = ()) -> str:
        """Store a fitted model (and its walk-forward fold models, in ``metadata["folds"]``
        order); returns its new id (``<name>-<UTC time>-<hash>``).

        Everything is written in a staging folder, metadata last and atomically, and the folder
        is renamed into place: a crash leaves no half-written model behind.
        """
        self.sweep()
        stamp = datetime.now(UTC)
        digest = hashlib.sha256(
            json.dumps(metadata, sort_keys=True, default=str).encode() + os.urandom(8)
        ).hexdigest()[:8]
        model_id = f"{model.name}-{stamp:%Y%m%dT%H%M%S}-{digest}"
        target = self._dir(model_id)
        staging = self.root / f"{_STAGING}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            staging.mkdir(parents=True)
            save_model(model, staging / LIVE)
            for k, fold_model in enumerate(folds):
                save_model(fold_model, staging / "folds" / str(k))
            record = {
                **dict(metadata),
                "model_id": model_id,
                "model": model.metadata(),
                "task": model.task,
                "created_at": stamp.isoformat(),
                "libraries": library_versions(),
                "model_format": FORMAT,
                "fold_models": len(folds),
                "files": file_digests(staging),
            }
            text = json.dumps(record, indent=2, sort_keys=True, default=str)
            write_atomically(staging / "metadata.json", text.encode("utf-8"))
            staging.replace(target)
        except OSError as exc:
            raise ModelError(
                f"cannot save model {model_id} under {self.root}: {exc}; check the data "
                "directory and free disk space"
            ) from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return model_id

    def metadata(self, model_id: str) -> dict[str, Any]:
        path = self._dir(model_id) / "metadata.json"
        if not path.is_file():
            raise ModelNotFoundError(f"no model {model_id!r} in {self.root}: see `neo models list`")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"metadata of model {model_id!r} is unreadable ({exc}): delete the folder "
                f"{path.parent} and retrain it with `neo train`"
            ) from exc
        if not isinstance(record, dict):
            raise ModelError(f"metadata of model {model_id!r} is unreadable: not a JSON object")
        return record

    def load(self, model_id: str, pipeline: FeaturePipeline | None = None) -> Model:
        """The fitted live model, ready for ``model.predict(pipeline.incremental().update(bar))``.

        Raises
        ------
        FeatureSpecMismatchError
            ``pipeline`` computes different features than the model was trained on.
        ModelNotFoundError
            No such model id.
        ModelError
            The model was saved in an older format (retrain it) or a file is damaged.
        """
        return self.load_with_metadata(model_id, pipeline)[0]

    def load_with_metadata(
        self, model_id: str, pipeline: FeaturePipeline | None = None, *, part: str = LIVE
    ) -> tuple[Model, dict[str, Any]]:
        """:meth:`load`, plus the metadata recorded at training time; ``part`` picks a fold
        model (``folds/<k>``, see :func:`model_for_bar`) instead of the live one."""
        record = self.metadata(model_id)
        if pipeline is not None and pipeline.spec_hash() != record.get("feature_hash"):
            raise FeatureSpecMismatchError(
                f"model {model_id!r} was trained on features {record.get('feature_hash')} but "
                f"the pipeline is {pipeline.spec_hash()}: use the model's own feature spec "
                "(registry.pipeline(model_id)) or retrain with `neo train`"
            )
        if record.get("model_format") != FORMAT:
            raise ModelError(
                f"model {model_id!r} was saved in an older format that NEO no longer loads "
                "(pickled models can run code when loaded): retrain it with `neo train ...`"
            )
        folder = self._dir(model_id)
        self._check_files(model_id, folder, part, record.get("files"))
        return load_model(folder / part), record

    @staticmethod
    def _check_files(model_id: str, folder: Path, part: str, files: Any) -> None:
        """The files of ``part`` are the ones saved (damage shows up here, with its name)."""
        saved = {k: v for k, v in (files or {}).items() if k.startswith(f"{part}/")}
        if not saved:
            raise ModelError(f"model {model_id!r} has no saved {part!r}: retrain it")
        here = folder / part
        found = {f"{part}/{k}": v for k, v in file_digests(here).items()} if here.is_dir() else {}
        if found != saved:
            bad = sorted(k for k in saved.keys() | found.keys() if saved.get(k) != found.get(k))
            raise ModelError(
                f"model files of {model_id!r} are missing or altered ({', '.join(bad)}); "
                "retrain it with `neo train`"
            )

    def pipeline(self, model_id: str) -> FeaturePipeline:
        """The feature pipeline the model was trained on (for the live loop)."""
        return pipeline_of(self.metadata(model_id))

    def scan(self) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Summaries of the healthy models, newest first, and the damaged ones (model id and
        what is wrong): one unreadable metadata file does not hide the others."""
        if not self.root.is_dir():
            return [], []
        rows, damaged = [], []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not (folder / "metadata.json").is_file():
                continue
            try:
                record = self.metadata(folder.name)
            except ModelError as exc:
                damaged.append({"model_id": folder.name, "error": str(exc)})
                continue
            rows.append(_summary(folder.name, record))
        return sorted(rows, key=lambda r: str(r["created_at"]), reverse=True), damaged

    def list(self) -> list[dict[str, Any]]:
        """Summaries of every healthy stored model, newest first (see :meth:`scan`)."""
        return self.scan()[0]


def _summary(name: str, record: Mapping[str, Any]) -> dict[str, Any]:
    model = record.get("model")
    return {
        "model_id": record.get("model_id", name),
        "model": model.get("name") if isinstance(model, Mapping) else None,
        "task": record.get("task"),
        "label": record.get("label"),
        "instruments": record.get("instruments"),
        "timeframe": record.get("timeframe"),
        "created_at": record.get("created_at"),
        "overall": record.get("overall"),
        "loadable": record.get("model_format") == FORMAT,
    }


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
