"""Configuration of simulated execution: fill model, fees, slippage, impact and starting cash.

The same settings drive the event-driven :class:`~neo.execution.simulated.SimulatedBroker` and the
compiled fast path (:func:`~neo.execution.fastpath.run_fast_path`), so both give the same fills.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExecutionConfig(BaseModel):
    """How simulated orders fill.

    Attributes
    ----------
    fill:
        ``"next_open"`` (default): a market order submitted while bar *i* is handled fills at the
        open of bar *i + 1*, the first price nobody could have known earlier. ``"close"``: it fills
        at bar *i*'s close (optimistic; matches ``trade_on_close`` in backtesting.py).
    slippage_bps:
        Price moved against the taker, in basis points of the reference price.
    impact:
        ``"volume"`` adds ``impact_coefficient * quantity / bar_volume`` (a fraction of price)
        against the taker on top of ``slippage_bps``; ``"none"`` adds nothing.
    impact_coefficient:
        Scale of the volume impact (0.1 with 10 % of the bar's volume traded moves price 1 %).
    participation_cap:
        Most of a bar's volume one order may take (0.1 = 10 %); the rest stays working and fills on
        later bars (partial fills). ``None`` means no cap.
    fees_bps:
        When set, one fee rate in bps of notional for every fill, overriding the instrument's
        maker/taker fees.
    cash:
        Starting cash in the quote currency.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    fill: Literal["next_open", "close"] = "next_open"
    slippage_bps: float = Field(default=0.0, ge=0.0, le=10_000.0)
    impact: Literal["none", "volume"] = "none"
    impact_coefficient: float = Field(default=0.1, ge=0.0)
    participation_cap: float | None = Field(default=None, gt=0.0, le=1.0)
    fees_bps: float | None = Field(default=None, ge=0.0, le=1_000.0)
    cash: float = Field(default=100_000.0, gt=0.0)
