"""Configuration of feature pipeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FeatureConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
