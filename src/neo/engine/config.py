"""Configuration of the trading loop."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EngineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
