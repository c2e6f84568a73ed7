"""Configuration of strategies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrategyConfig(BaseModel):
    """Defaults for the strategy layer.

    Attributes
    ----------
    default:
        Strategy the CLI runs when ``--strategy`` is not given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: str = "sma_cross"
