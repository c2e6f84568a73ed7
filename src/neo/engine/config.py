"""Configuration of the trading loop."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EngineConfig(BaseModel):
    """Settings of the trading loop shared by backtest, paper and live.

    Attributes
    ----------
    volatility_window:
        Bars in the rolling volatility (standard deviation of log returns) the loop keeps per
        instrument for strategies and sizing.
    max_strategy_failures:
        After this many strategy exceptions the loop stops itself (0 = never).
    status_every:
        Paper/live: refresh the status line every this many bars.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    volatility_window: int = Field(default=20, ge=2)
    max_strategy_failures: int = Field(default=0, ge=0)
    status_every: int = Field(default=1, ge=1)
