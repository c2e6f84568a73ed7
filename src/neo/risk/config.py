"""Configuration of risk management."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RiskConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
