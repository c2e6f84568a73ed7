"""Configuration of strategies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StrategyConfig(BaseModel):
    """Defaults for the strategy layer.

    Attributes
    ----------
    default:
        Strategy the CLI runs when ``--strategy`` is not given (any ``--strategy`` spec).
    load:
        The user's strategies to list in ``neo strategies list``, as
        ``path/to/file.py:ClassName`` or ``package.module:ClassName``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: str = "sma_cross"
    load: list[str] = Field(default_factory=list)
