"""Configuration of simulated execution (fill model, fees, slippage)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ExecutionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
