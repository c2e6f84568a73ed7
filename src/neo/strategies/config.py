"""Configuration of strategies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrategyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
