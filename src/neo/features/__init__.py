"""(3) Features: declared as data, computed in batch and bar by bar from one definition."""

from neo.features.labels import LabelSpec, forward_return, sign_label, triple_barrier
from neo.features.pipeline import (
    FeatureFrame,
    FeaturePipeline,
    IncrementalFeatures,
    default_pipeline,
    pipeline_from_config,
)
from neo.features.spec import KINDS, FeatureSpec

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
