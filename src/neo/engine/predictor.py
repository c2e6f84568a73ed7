"""Forecasts for paper and live trading: the latest model on incrementally updated features.

In a backtest, predictions come as walk-forward arrays aligned to the bars; live, each completed
bar advances the model's own feature pipeline by one step (no look-back recomputation) and the
model scores that one row. Any object with ``predict(bar) -> float`` can stand in
(:class:`neo.engine.loop.Predictor`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from neo.domain.bar import Bar, FloatArray
from neo.domain.ids import InstrumentId
from neo.models.forecast import signed_forecast


class IncrementalFeatureState(Protocol):
    def update(self, bar: Bar) -> FloatArray:
        """Advance by one completed bar; the feature row (NaN during warm-up)."""
        ...


class ScoringModel(Protocol):
    def predict(self, x: Any) -> FloatArray: ...


class ModelPredictor:
    """A model plus one incremental feature state per instrument.

    Parameters
    ----------
    model:
        Anything with ``predict(row) -> array`` (a ``neo.models`` model).
    features:
        Makes a fresh incremental feature state (``FeaturePipeline.incremental``); one is made
        per instrument on its first bar.
    model_id:
        Recorded for events and status lines.
    task:
        ``classification`` (the model scores P(up), mapped to ``2p - 1``) or ``regression``
        (a forecast return): strategies always read a signed forecast.
    """

    def __init__(
        self,
        model: ScoringModel,
        features: Callable[[], IncrementalFeatureState],
        *,
        model_id: str = "",
        task: str = "regression",
    ) -> None:
        self.model = model
        self.model_id = model_id
        self.task = task
        self._features = features
        self._states: dict[InstrumentId, IncrementalFeatureState] = {}

    def predict(self, bar: Bar) -> float:
        state = self._states.get(bar.instrument)
        if state is None:
            state = self._states[bar.instrument] = self._features()
        row = np.asarray(state.update(bar), dtype=np.float64)
        if not np.isfinite(row).all():
            return math.nan  # features still warming up
        raw = np.asarray(self.model.predict(row[None, :]), dtype=np.float64).ravel()[:1]
        value = float(signed_forecast(raw, self.task)[0])
        return value if math.isfinite(value) else math.nan

    @classmethod
    def from_registry(cls, root: Path, model_id: str) -> ModelPredictor:
        """The registered model with the feature pipeline it was trained on."""
        from neo.models.registry import ModelRegistry, pipeline_of

        model, metadata = ModelRegistry(root).load_with_metadata(model_id)
        pipeline = pipeline_of(metadata)
        task = str(metadata.get("task", "regression"))
        return cls(model, pipeline.incremental, model_id=model_id, task=task)
