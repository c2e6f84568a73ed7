"""(3) Features: declared as data, computed in batch and bar by bar from one definition.

Names load lazily: :mod:`neo.features.steps` (the indicator updates the strategies and the
stop manager share) is imported by the event path, which must not pull in numba through the
kernels behind the pipeline and the labels.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo.features.labels import LabelSpec, forward_return, sign_label, triple_barrier
    from neo.features.pipeline import (
        FeatureFrame,
        FeaturePipeline,
        IncrementalFeatures,
        default_pipeline,
        pipeline_from_config,
    )
    from neo.features.spec import KINDS, FeatureSpec

_EXPORTS: dict[str, str] = {
    "KINDS": "neo.features.spec",
    "FeatureFrame": "neo.features.pipeline",
    "FeaturePipeline": "neo.features.pipeline",
    "FeatureSpec": "neo.features.spec",
    "IncrementalFeatures": "neo.features.pipeline",
    "LabelSpec": "neo.features.labels",
    "default_pipeline": "neo.features.pipeline",
    "forward_return": "neo.features.labels",
    "pipeline_from_config": "neo.features.pipeline",
    "sign_label": "neo.features.labels",
    "triple_barrier": "neo.features.labels",
}

__all__ = [
    "KINDS",
    "FeatureFrame",
    "FeaturePipeline",
    "FeatureSpec",
    "IncrementalFeatures",
    "LabelSpec",
    "default_pipeline",
    "forward_return",
    "pipeline_from_config",
    "sign_label",
    "triple_barrier",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'neo.features' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
