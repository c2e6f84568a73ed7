"""Configuration of the data layer: validation limits and the historical store."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ValidationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_jump: float = Field(0.10, gt=0, description="Reject a bar whose close moves more than "
                            "this fraction from the previous accepted close.")  # fmt: skip
    zscore_window: int = Field(50, ge=5)
    zscore_threshold: float = Field(8.0, gt=0)


class StoreConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_entries: int = Field(64, ge=0, description="Hot ranges kept in the in-process LRU.")


class DataConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    validation: ValidationConfig = ValidationConfig()
    store: StoreConfig = StoreConfig()
    default_venue: str = "sim"
