"""(4) Models: the Model protocol, LightGBM / scikit-learn / ensembles, walk-forward, registry."""

from neo.models.base import (
    MODEL_NAMES,
    EnsembleModel,
    EstimatorModel,
    Model,
    Task,
    create_model,
)
from neo.models.forecast import signed_forecast
from neo.models.registry import ModelRegistry, data_hash, pipeline_of
from neo.models.storage import TRUSTED_TYPES, load_model, save_model
from neo.models.walkforward import (
    PredictionSeries,
    WalkForwardConfig,
    WalkForwardResult,
    walk_forward,
)

__all__ = [
    "MODEL_NAMES",
    "TRUSTED_TYPES",
    "EnsembleModel",
    "EstimatorModel",
    "Model",
    "ModelRegistry",
    "PredictionSeries",
    "Task",
    "WalkForwardConfig",
    "WalkForwardResult",
    "create_model",
    "data_hash",
    "load_model",
    "pipeline_of",
    "save_model",
    "signed_forecast",
    "walk_forward",
]
