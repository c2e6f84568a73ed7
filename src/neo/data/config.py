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
        description="Keep a jump that the next bar confirms (it agrees with the new level "
        "within the limit): a crash or a split is a real event, kept with a warning; only an "
        "isolated spike that reverts is rejected.",
    )
    split_tolerance: float = Field(
        0.02, ge=0, lt=0.5, description="A confirmed jump whose price ratio is within this "
        "relative distance of a common split ratio (2:1, 3:2, 1:10 ...) warns possible_split.",
    )  # fmt: skip
    absurd_price: float = Field(
        1e12, gt=0, description="Prices above this (or below its reciprocal) warn absurd_value."
    )
    absurd_volume: float = Field(1e18, gt=0, description="Volumes above this warn absurd_value.")
    zscore_window: int = Field(50, ge=5)
    zscore_threshold: float = Field(8.0, gt=0)

    def jump_limit(self, timeframe: str) -> float:
        """The jump limit for bars of ``timeframe`` (text such as ``"1d"``)."""
        return float(self.max_jump_by_timeframe.get(str(timeframe), self.max_jump))


class VenueConfig(BaseModel):
    """One venue's trading calendar: an ``exchange_calendars`` code (``XNAS``, ``XNYS``,
    ``XLON`` ...) for an exchange, or ``"24/7"`` for a venue that never closes (crypto)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calendar: str = Field("24/7", description="exchange_calendars code, or 24/7.")


def default_venues() -> dict[str, VenueConfig]:
    """The shipped samples' venue is NASDAQ; any venue not listed trades 24/7."""
    return {"nasdaq": VenueConfig(calendar="XNAS")}


class StoreConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_entries: int = Field(64, ge=0, description="Hot ranges kept in the in-process LRU.")


class DataConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    validation: ValidationConfig = ValidationConfig()
    store: StoreConfig = StoreConfig()
    default_venue: str = "sim"
