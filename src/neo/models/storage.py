"""Model files that cannot run code when they are loaded.

A model is saved as a folder, never as a pickle: unpickling runs whatever the file says, and a
digest stored beside the file proves nothing, since whoever can write the one can write the
other. So:

* ``model.json`` holds what NEO itself needs: the kind (``estimator`` or ``ensemble``), name,
  task, hyper-parameters, seed, feature count, and an ensemble's method and flags;
* a LightGBM booster is ``booster.txt``, LightGBM's own text format (parsed, never executed);
* a scikit-learn estimator is ``estimator.skops``, loaded by :mod:`skops.io` only when every
  type in the file is on :data:`TRUSTED_TYPES`, NEO's explicit allowlist (skops builds the
  objects itself instead of unpickling them);
* an ensemble is a folder of member folders (``member-0``, ``member-1``…, and ``meta`` for a
  stacked meta-model) beside its ``model.json``.

Anything else (a ``model.pkl`` of an older NEO, an unknown kind, a skops file with another
type) is refused with a :class:`~neo.domain.errors.ModelError` that says to retrain.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

from neo.domain.errors import ConfigError, ModelError
from neo.models.base import MODEL_NAMES, TASKS, EnsembleModel, EstimatorModel, Model

FORMAT = 2
"""Version of the folder layout; models saved in another format are refused."""

MODEL_JSON = "model.json"
BOOSTER = "booster.txt"
ESTIMATOR = "estimator.skops"
META = "meta"

TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.str",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int64",
        "numpy.int32",
        "numpy.intp",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
    }
)
"""Every type a NEO scikit-learn model file may contain (the estimators NEO builds and their
parts); a file with any other type is refused before skops constructs anything."""

RETRAIN = "retrain it with `neo train ...`"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, never
    half of one: a temporary file beside it, fsync, rename, fsync of the folder."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False)
    write_atomically(path, text.encode("utf-8"))


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path: detects damage (a flipped bit, a
    truncated copy); it is not what makes loading safe, the formats are."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# ---------------------------------------------------------------------------------- saving
def save_model(model: Model, folder: Path) -> None:
    """Write a fitted NEO model into ``folder`` (created; it must not hold another model)."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(model, EnsembleModel):
        _save_ensemble(model, folder)
    elif isinstance(model, EstimatorModel):
        _save_estimator(model, folder)
    else:
        raise ModelError(f"cannot save {type(model).__name__}: only NEO's own models are saved")


def _save_estimator(model: EstimatorModel, folder: Path) -> None:
    if model.n_features is None:
        raise ModelError(f"model {model.name!r} is not fitted: fit it before saving")
    record = {
        "format": FORMAT,
        "kind": "estimator",
        "name": model.name,
        "task": model.task,
        "params": model.params,
        "seed": model.seed,
        "n_features": model.n_features,
        "constant": model.constant,
    }
    if model.constant is None and model.name == "lightgbm":
        text = model.booster.model_to_string(num_iteration=-1)
        write_atomically(folder / BOOSTER, text.encode("utf-8"))
    elif model.constant is None:
        import skops.io as sio

        write_atomically(folder / ESTIMATOR, sio.dumps(model.estimator))
    _write_json(folder / MODEL_JSON, record)


def _save_ensemble(model: EnsembleModel, folder: Path) -> None:
    for i, member in enumerate(model.members):
        _save_estimator(member, _mkdir(folder / f"member-{i}"))
    if model.stacked:
        _save_estimator(model.meta_model, _mkdir(folder / META))
    record = {
        "format": FORMAT,
        "kind": "ensemble",
        "task": model.task,
        "method": model.method,
        "seed": model.seed,
        "members": [m.name for m in model.members],
        "stacked": model.stacked,
        "fallback": model.fallback,
    }
    _write_json(folder / MODEL_JSON, record)


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------------------- loading
def load_model(folder: Path) -> Model:
    """Read a model written by :func:`save_model`; nothing in ``folder`` is executed.

    Raises
    ------
    ModelError
        ``folder`` is not a model folder of this format (e.g. an old pickled ``model.pkl``), a
        file is damaged, or a scikit-learn file holds a type outside :data:`TRUSTED_TYPES`.
    """
    record = _read_record(folder)
    if record.get("kind") == "ensemble":
        return _load_ensemble(folder, record)
    return _load_estimator(folder, record)


def _read_record(folder: Path) -> dict[str, Any]:
    path = folder / MODEL_JSON
    if not path.is_file():
        raise ModelError(
            f"{folder} is not a NEO model folder (no {MODEL_JSON}; pickled models of older "
            f"versions are not loaded, since unpickling can run code): {RETRAIN}"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model file {path} is unreadable ({exc}): {RETRAIN}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else None
        raise ModelError(f"{path} has model format {found!r}, this NEO reads {FORMAT}: {RETRAIN}")
    if record.get("kind") not in ("estimator", "ensemble"):
        raise ModelError(f"{path} holds an unknown model kind {record.get('kind')!r}: {RETRAIN}")
    return record


def _field(record: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = record.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ModelError(f"{path / MODEL_JSON}: bad or missing {key!r} ({value!r}): {RETRAIN}")
    return value


def _load_estimator(folder: Path, record: dict[str, Any]) -> EstimatorModel:
    name = _field(record, "name", str, folder)
    task = _field(record, "task", str, folder)
    if name not in MODEL_NAMES or name == "ensemble" or task not in TASKS:
        raise ModelError(f"{folder / MODEL_JSON}: unknown model {name!r}/{task!r}: {RETRAIN}")
    params = _field(record, "params", dict, folder)
    try:
        model = EstimatorModel(name, task, params, _field(record, "seed", int, folder))
    except ConfigError as exc:
        raise ModelError(f"{folder / MODEL_JSON}: {exc}: {RETRAIN}") from exc
    n_features = _field(record, "n_features", int, folder)
    constant = record.get("constant")
    if constant is not None:
        model.restore(n_features, constant=float(_field(record, "constant", (int, float), folder)))
    elif name == "lightgbm":
        model.restore(n_features, booster=_load_booster(folder / BOOSTER))
    else:
        fitted = load_skops(folder / ESTIMATOR)
        if type(fitted) is not type(model.estimator):
            raise ModelError(
                f"{folder / ESTIMATOR} holds a {type(fitted).__name__}, model {name!r} needs a "
                f"{type(model.estimator).__name__}: {RETRAIN}"
            )
        model.restore(n_features, estimator=fitted)
    return model


def _load_booster(path: Path) -> Any:
    import lightgbm as lgb

    if not path.is_file():
        raise ModelError(f"LightGBM model file {path} is missing: {RETRAIN}")
    try:
        return lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as exc:
        raise ModelError(f"LightGBM model file {path} is unreadable ({exc}): {RETRAIN}") from exc


def skops_types(data: bytes) -> set[str]:
    """Every ``module.Class`` named in a skops file's schema (what loading would construct)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def load_skops(path: Path) -> Any:
    """A scikit-learn object from a skops file whose every type is on :data:`TRUSTED_TYPES`.

    The allowlist is checked twice before anything is built: against the types the file's
    schema names, and against what :func:`skops.io.get_untrusted_types` reports; skops then
    loads with exactly those types trusted.
    """
    import skops.io as sio

    try:
        data = path.read_bytes()
        named = skops_types(data)
        untrusted = set(sio.get_untrusted_types(data=data))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"model file {path} is unreadable ({exc}): {RETRAIN}") from exc
    refused = sorted((named | untrusted) - TRUSTED_TYPES)
    if refused:
        raise ModelError(
            f"model file {path} holds types NEO does not trust ({', '.join(refused)}): "
            f"refusing to load it; {RETRAIN}"
        )
    try:
        return sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:  # skops raises many types on a damaged file; none may escape
        raise ModelError(f"model file {path} is unreadable ({exc}): {RETRAIN}") from exc


def _load_ensemble(folder: Path, record: dict[str, Any]) -> EnsembleModel:
    task = _field(record, "task", str, folder)
    names = _field(record, "members", list, folder)
    if task not in TASKS:
        raise ModelError(f"{folder / MODEL_JSON}: unknown task {task!r}: {RETRAIN}")
    try:
        model = EnsembleModel(
            task,
            members=[str(n) for n in names],
            method=str(record.get("method")),
            seed=_field(record, "seed", int, folder),
        )
    except ConfigError as exc:
        raise ModelError(f"{folder / MODEL_JSON}: {exc}: {RETRAIN}") from exc
    members = [_load_member(folder / f"member-{i}", task) for i in range(len(names))]
    if [m.name for m in members] != list(names):
        raise ModelError(f"{folder}: member folders do not match {names}: {RETRAIN}")
    stacked = bool(record.get("stacked"))
    meta = _load_member(folder / META, task) if stacked else None
    fallback = record.get("fallback")
    model.restore(members, meta, None if fallback is None else str(fallback))
    return model


def _load_member(folder: Path, task: str) -> EstimatorModel:
    record = _read_record(folder)
    if record.get("kind") != "estimator" or record.get("task") != task:
        raise ModelError(f"{folder / MODEL_JSON}: not a {task} member model: {RETRAIN}")
    return _load_estimator(folder, record)
