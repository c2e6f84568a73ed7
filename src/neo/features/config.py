"""Configuration of feature pipeline."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FeatureConfig(BaseModel):
    """Features as data. An empty ``specs`` list means :func:`neo.features.default_pipeline`.

    TOML example::

        [features]
        market = "BTC/USDT"
        specs = [{name = "rsi_14", kind = "rsi", window = 14},
                 {name = "ret_5", kind = "return", k = 5}]
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specs: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Feature specs ({name, kind, params…}); empty uses the default pipeline.",
    )
    market: str | None = Field(
        None,
        description="Symbol used as the market for cross-asset features; when set, the default "
        "pipeline adds the market's return and the correlation to it.",
    )
