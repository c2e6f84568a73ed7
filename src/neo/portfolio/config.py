"""Configuration of portfolio allocation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PortfolioConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
