"""Configuration of the trading loop."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument


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


class InstrumentSpec(BaseModel):
    """An instrument's exchange rules in ``neo.toml`` (``[instruments."BTC/USDT"]``, or
    ``[instruments."BTC/USDT@binance"]`` for one venue only).

    Unset fields keep the defaults of an unconfigured instrument (whole units, 1e-8 ticks, no
    fees, no minimum), so a backtest of one that is not listed trades like backtesting.py.
    Fees are fractions of notional (0.001 = 10 bps); ``--fees-bps`` overrides both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tick_size: float = Field(default=1e-8, gt=0)
    lot_size: float = Field(default=1.0, gt=0)
    min_quantity: float = Field(default=0.0, ge=0)
    min_notional: float = Field(default=0.0, ge=0)
    maker_fee: float = Field(default=0.0, ge=-0.01, le=0.1)
    taker_fee: float = Field(default=0.0, ge=0, le=0.1)
    contract_multiplier: float = Field(default=1.0, gt=0)

    def build(self, instrument: InstrumentId) -> Instrument:
        return Instrument(
            id=instrument, base=instrument.base, quote=instrument.quote, **self.model_dump()
        )
