"""Configuration of the data layer: validation limits and the historical store."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Real daily equity data has genuine double-digit moves (earnings, crashes); a 10 % limit would
# quarantine dozens of true bars per stock, so coarse timeframes get looser defaults.
DEFAULT_JUMP_OVERRIDES: dict[str, float] = {"1d": 0.25, "3d": 0.35, "1w": 0.40}


class ValidationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_jump: float = Field(0.10, gt=0, description="Reject a bar whose close moves more than "
                            "this fraction from the previous accepted close.")  # fmt: skip
    max_jump_by_timeframe: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_JUMP_OVERRIDES),
        description="Per-timeframe jump limits (e.g. {'1d': 0.25}) overriding max_jump.",
    )
    jump_confirmation: bool = Field(
        True,
        description="Accept a new price level when the bar after a rejected jump agrees with "
        "it (within the limit), so one genuine level shift does not quarantine the rest.",
    )
    zscore_window: int = Field(50, ge=5)
    zscore_threshold: float = Field(8.0, gt=0)

    def jump_limit(self, timeframe: str) -> float:
        """The jump limit for bars of ``timeframe`` (text such as ``"1d"``)."""
        return float(self.max_jump_by_timeframe.get(str(timeframe), self.max_jump))


class StoreConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_entries: int = Field(64, ge=0, description="Hot ranges kept in the in-process LRU.")


class DataConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    validation: ValidationConfig = ValidationConfig()
    store: StoreConfig = StoreConfig()
    default_venue: str = "sim"
