"""The Model contract and its implementations: LightGBM, scikit-learn baselines, ensembles.

Every model answers in one convention: for classification ``predict`` is the probability that
the forward return is positive (0..1); for regression it is the forecast forward return. All
models are seeded and single-threaded, so refitting on the same data gives the same bits.

Models are saved as folders in formats that cannot run code when loaded (LightGBM's text
format, scikit-learn through skops with an allowlist, ensembles as folders of members): see
:mod:`neo.models.storage`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError, ModelError
from neo.logs import get_logger
from neo.models.purge import Spans

log = get_logger("models")
STACK_SPLIT = 0.7
"""Fraction of the training times the stacked members learn on before the meta-model's part."""
MIN_META_ROWS = 10

Task = Literal["classification", "regression"]
MODEL_NAMES: tuple[str, ...] = ("lightgbm", "logistic", "ridge", "random_forest", "ensemble")
TASKS: tuple[str, ...] = ("classification", "regression")


@runtime_checkable
class Model(Protocol):
    """What the walk-forward trainer, the registry and the live loop need from a model."""

    name: str
    task: Task

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike, *, spans: Spans | None = None) -> Model:
        """Learn from rows ``x`` and labels ``y``; ``spans`` says when each row's features and
        label were known (models that split their training rows in time purge with it)."""
        ...

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        """P(up) for classification, the forecast return for regression; 1-D x is one row."""
        ...

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        """Columns [P(down), P(up)]; classification only."""
        ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> Model:
        """Read a model written by :meth:`save`."""
        ...

    def metadata(self) -> dict[str, Any]:
        """Name, task and hyper-parameters (JSON-ready)."""
        ...


def _rows(x: npt.ArrayLike) -> FloatArray:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        raise ModelError(f"features must be a 2-D array (rows x features), got shape {array.shape}")
    return array


def _estimator(name: str, task: Task, params: Mapping[str, Any], seed: int) -> Any:
    """A fresh scikit-learn-API estimator; unknown parameters become a ConfigError."""
    classify = task == "classification"
    kwargs = dict(params)
    try:
        if name == "lightgbm":
            import lightgbm as lgb

            base = {
                "n_estimators": 100, "learning_rate": 0.05, "num_leaves": 15,
                "min_child_samples": 20, "subsample": 1.0, "colsample_bytree": 1.0,
                "random_state": seed, "deterministic": True, "force_col_wise": True,
                "n_jobs": 1, "verbose": -1,
            }  # fmt: skip
            cls = lgb.LGBMClassifier if classify else lgb.LGBMRegressor
            return cls(**{**base, **kwargs})
        if name == "random_forest":
            from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

            base = {"n_estimators": 100, "max_depth": 6, "min_samples_leaf": 20}
            forest = RandomForestClassifier if classify else RandomForestRegressor
            return forest(**{**base, **kwargs, "random_state": seed, "n_jobs": 1})
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if name == "logistic":
            linear: Any = LogisticRegression(**{"C": 1.0, "max_iter": 1000, **kwargs})
        else:
            linear = Ridge(**{"alpha": 1.0, **kwargs})
        return make_pipeline(StandardScaler(), linear)
    except TypeError as exc:
        raise ConfigError(f"bad parameters {kwargs} for model {name!r}: {exc}") from exc


class EstimatorModel:
    """One scikit-learn-API estimator (LightGBM, logistic, ridge, random forest) as a Model."""

    def __init__(
        self, name: str, task: Task, params: Mapping[str, Any] | None = None, seed: int = 42
    ) -> None:
        if name == "logistic" and task == "regression":
            raise ConfigError("'logistic' is a classifier: use 'ridge' for a regression label")
        if name == "ridge" and task == "classification":
            raise ConfigError("'ridge' is a regressor: use 'logistic' for a classification label")
        self.name = name
        self.task: Task = task
        self.params = dict(params or {})
        self.seed = seed
        self._estimator = _estimator(name, task, self.params, seed)
        self._booster: Any = None
        self._constant: float | None = None
        self.n_features: int | None = None

    @property
    def estimator(self) -> Any:
        """The scikit-learn-API estimator: fitted after :meth:`fit`; after a load, fitted for
        scikit-learn models, while a LightGBM model scores with :attr:`booster` alone."""
        return self._estimator

    @property
    def booster(self) -> Any:
        """LightGBM only: the fitted booster that scores rows (None before fitting)."""
        return self._booster

    @property
    def constant(self) -> float | None:
        """The forecast of a classifier that saw one class only (else None)."""
        return self._constant

    def restore(
        self,
        n_features: int,
        *,
        constant: float | None = None,
        booster: Any = None,
        estimator: Any = None,
    ) -> None:
        """Put back the fitted state read from a model file (:mod:`neo.models.storage`)."""
        self.n_features = n_features
        self._constant = constant
        self._booster = booster
        if estimator is not None:
            self._estimator = estimator

    def fit(
        self, x: npt.ArrayLike, y: npt.ArrayLike, *, spans: Spans | None = None
    ) -> EstimatorModel:
        rows = _rows(x)
        target = np.asarray(y, dtype=np.float64)
        if len(rows) != len(target) or len(rows) == 0:
            raise ModelError(f"cannot fit on {len(rows)} rows and {len(target)} labels")
        if not (np.isfinite(rows).all() and np.isfinite(target).all()):
            raise ModelError("training data contains NaN/inf: drop warm-up rows and unknown labels")
        self.n_features = rows.shape[1]
        self._constant = None
        self._booster = None
        if self.task == "classification":
            classes = np.unique(target)
            if len(classes) < 2:  # one class in the window: its frequency is the best forecast
                self._constant = float(classes[0])
                return self
            self._estimator.fit(rows, target.astype(np.int64))
        else:
            self._estimator.fit(rows, target)
        if self.name == "lightgbm":
            self._booster = self._estimator.booster_
        return self

    def _check(self, rows: FloatArray) -> None:
        if self.n_features is None:
            raise ModelError(f"model {self.name!r} is not fitted: call fit() first")
        if rows.shape[1] != self.n_features:
            raise ModelError(
                f"model {self.name!r} expects {self.n_features} features, got {rows.shape[1]}"
            )

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        if self.task != "classification":
            raise ModelError(f"{self.name!r} is a regression model: use predict()")
        rows = _rows(x)
        self._check(rows)
        if self._constant is not None:
            up = np.full(len(rows), self._constant)
        elif self.name == "lightgbm":  # the booster directly: same numbers, no sklearn checks
            up = np.asarray(self._booster.predict(rows, num_threads=1), dtype=np.float64)
        else:
            up = np.asarray(self._estimator.predict_proba(rows), dtype=np.float64)[:, 1]
        return np.column_stack([1.0 - up, up])

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        if self.task == "classification":
            up: FloatArray = self.predict_proba(x)[:, 1]
            return up
        rows = _rows(x)
        self._check(rows)
        if self.name == "lightgbm":
            return np.asarray(self._booster.predict(rows, num_threads=1), dtype=np.float64)
        return np.asarray(self._estimator.predict(rows), dtype=np.float64)

    def save(self, path: Path) -> None:
        from neo.models.storage import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: Path) -> Model:
        from neo.models.storage import load_model

        return load_model(path)

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "params": self.params, "seed": self.seed}


class EnsembleModel:
    """Averages its members' predictions, or stacks them under a linear meta-model.

    Stacking splits the training rows in time (:meth:`Spans.split`): the members learn on the
    first 70 % of the sample times, keeping only rows whose label ended ``gap`` bars before the
    rest begins (purged, so with an h-bar label no member label overlaps the meta-model's
    rows); the meta-model learns on the members' predictions for the last 30 %; then the
    members are refit on everything. So the meta-model never learns from in-sample member
    predictions. When either part would have fewer than 10 rows the ensemble averages instead,
    says so in a warning and records it in :meth:`metadata` (``stacked``, ``fallback``).
    """

    def __init__(
        self,
        task: Task,
        members: Sequence[str] | None = None,
        method: str = "average",
        member_params: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 42,
    ) -> None:
        if method not in ("average", "stack"):
            raise ConfigError(f"ensemble method must be 'average' or 'stack', got {method!r}")
        linear = "logistic" if task == "classification" else "ridge"
        names = list(members or ["lightgbm", linear, "random_forest"])
        bad = [m for m in names if m not in MODEL_NAMES or m == "ensemble"]
        if bad or not names:
            raise ConfigError(f"ensemble members {bad or names} invalid: use {MODEL_NAMES[:4]}")
        self.name = "ensemble"
        self.task: Task = task
        self.method = method
        self.seed = seed
        params = member_params or {}
        self.members = [EstimatorModel(m, task, params.get(m, {}), seed) for m in names]
        self._meta = EstimatorModel(linear, task, {}, seed)
        self._stacked = False
        self.fallback: str | None = None

    @property
    def stacked(self) -> bool:
        """True when the meta-model combines the members (else they are averaged)."""
        return self._stacked

    @property
    def meta_model(self) -> EstimatorModel:
        return self._meta

    def restore(
        self, members: Sequence[EstimatorModel], meta: EstimatorModel | None, fallback: str | None
    ) -> None:
        """Put back fitted members (and the stacked meta-model) read from a model folder."""
        self.members = list(members)
        self._stacked = meta is not None
        if meta is not None:
            self._meta = meta
        self.fallback = fallback

    def fit(
        self, x: npt.ArrayLike, y: npt.ArrayLike, *, spans: Spans | None = None
    ) -> EnsembleModel:
        rows = _rows(x)
        target = np.asarray(y, dtype=np.float64)
        self._stacked = False
        self.fallback = None
        if self.method == "stack":
            self._stack(rows, target, spans or Spans.rows(len(rows)))
        for member in self.members:
            member.fit(rows, target)
        return self

    def _stack(self, rows: FloatArray, target: FloatArray, spans: Spans) -> None:
        if len(spans) != len(rows):
            raise ModelError(f"spans cover {len(spans)} rows, the data has {len(rows)}")
        early, late, _ = spans.split(STACK_SPLIT)
        if early.sum() < MIN_META_ROWS or late.sum() < MIN_META_ROWS:
            self.fallback = (
                f"averaged: the stacking split left {int(early.sum())} member rows and "
                f"{int(late.sum())} meta-model rows (each needs >= {MIN_META_ROWS})"
            )
            log.warning("stacked ensemble fell back to averaging", extra={"why": self.fallback})
            return
        fitted = [copy.deepcopy(m).fit(rows[early], target[early]) for m in self.members]
        meta_x = np.column_stack([m.predict(rows[late]) for m in fitted])
        self._meta.fit(meta_x, target[late])
        self._stacked = True

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        outputs = np.column_stack([m.predict(x) for m in self.members])
        if self._stacked:
            return self._meta.predict(outputs)
        mean: FloatArray = outputs.mean(axis=1)
        return mean

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        if self.task != "classification":
            raise ModelError("this ensemble is a regression model: use predict()")
        up = self.predict(x)
        return np.column_stack([1.0 - up, up])

    def save(self, path: Path) -> None:
        from neo.models.storage import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: Path) -> Model:
        from neo.models.storage import load_model

        return load_model(path)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "method": self.method,
            "members": [m.metadata() for m in self.members],
            "seed": self.seed,
            "stacked": self._stacked,
            "fallback": self.fallback,
        }


def create_model(name: str, task: Task, params: Mapping[str, Any] | None = None) -> Model:
    """Build an unfitted model by name.

    Parameters
    ----------
    name
        ``lightgbm`` (default choice), ``logistic``, ``ridge``, ``random_forest`` or ``ensemble``.
    task
        ``classification`` (predicts P(up)) or ``regression`` (predicts the forward return).
    params
        Estimator hyper-parameters; ``seed`` is taken out and used as the random state. For an
        ensemble: ``members`` (list of names), ``method`` (average/stack), ``member_params``.
    """
    if name not in MODEL_NAMES:
        raise ConfigError(f"unknown model {name!r}: use one of {', '.join(MODEL_NAMES)}")
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}: use classification or regression")
    options = dict(params or {})
    seed = int(options.pop("seed", 42))
    if name == "ensemble":
        unknown = set(options) - {"members", "method", "member_params"}
        if unknown:
            raise ConfigError(f"ensemble has no parameter(s) {sorted(unknown)}")
        return EnsembleModel(
            task,
            members=options.get("members"),
            method=str(options.get("method", "average")),
            member_params=options.get("member_params"),
            seed=seed,
        )
    return EstimatorModel(name, task, options, seed)
