"""Configuration of portfolio allocation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from neo.portfolio.constraints import Constraints


class PortfolioConfig(BaseModel):
    """How forecasts become target positions (``[portfolio]`` in neo.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allocator: str = "equal_weight"
    allocator_params: dict[str, float | str] = Field(default_factory=dict)
    covariance: Literal["sample", "ewma", "ledoit_wolf"] = "sample"
    half_life: float = Field(40.0, gt=0)
    lookback: int = Field(120, ge=2, description="bars of returns the allocator sees")
    min_history: int = Field(30, ge=2, description="bars needed before the first allocation")
    rebalance: Literal["every_k", "on_signal_change", "drift_band"] = "every_k"
    rebalance_every: int = Field(20, ge=1)
    signal_threshold: float = Field(0.0, ge=0)
    drift_band: float = Field(0.05, gt=0)
    long_only: bool = True
    min_weight: float = 0.0
    max_weight: float = 1.0
    budget: float = 0.95
    max_gross_leverage: float = Field(1.0, gt=0)
    max_net_leverage: float = Field(1.0, ge=0)
    max_turnover: float | None = Field(None, gt=0)

    def constraints(self) -> Constraints:
        return Constraints(
            long_only=self.long_only,
            min_weight=self.min_weight,
            max_weight=self.max_weight,
            budget=self.budget,
            max_gross_leverage=self.max_gross_leverage,
            max_net_leverage=self.max_net_leverage,
            max_turnover=self.max_turnover,
        )
