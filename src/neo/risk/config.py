"""Configuration of risk management: pre-trade limits and the portfolio limits behind the kill
switch. Loadable from the ``[risk]`` table of neo.toml or from its own file (``--risk risk.toml``,
top-level keys or a ``[risk]`` table)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neo.domain.errors import ConfigError


class RiskLimits(BaseModel):
    """Every limit is off when unset. Percentages are fractions (0.05 = 5 %)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position_notional: float | None = Field(None, gt=0, description="per instrument, quote")
    max_position_pct: float | None = Field(None, gt=0, description="per instrument, of equity")
    max_gross_exposure: float | None = Field(None, gt=0, description="sum |notional|, quote")
    max_leverage: float | None = Field(None, gt=0, description="gross exposure / equity")
    max_open_orders: int | None = Field(None, ge=1)
    max_orders_per_minute: int | None = Field(None, ge=1)
    price_band_pct: float | None = Field(None, gt=0, description="max distance from last price")
    max_daily_loss_pct: float | None = Field(None, gt=0, lt=1)
    max_drawdown_pct: float | None = Field(None, gt=0, lt=1)
    price_buffer_pct: float = Field(
        0.0, ge=0, lt=1, description="exposure is valued at price × (1 + buffer) for slippage"
    )


class StopsConfig(BaseModel):
    """Protective stops the stop manager keeps at the broker for every position (``[stops]``).

    ``kind``: ``fixed`` (``pct`` from the entry, never moves), ``trailing`` (``pct`` behind the
    best price since entry) or ``atr`` (``atr_mult`` × Wilder's ATR(``atr_window``), as TA-Lib
    computes it, behind the best price, re-read every bar; ``pct`` until ``atr_window`` bars
    give it a value). Stops only ever tighten. ``take_profit_pct`` adds a
    take-profit limit in one OCO group with the stop; ``time_stop_bars`` closes a position
    with a market order once it has been held that many bars. ``limit_offset_pct`` makes the
    stop a stop-limit with its limit that far beyond the trigger.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fixed", "trailing", "atr"] = "trailing"
    pct: float = Field(0.02, gt=0, lt=1)
    atr_mult: float = Field(3.0, gt=0)
    atr_window: int = Field(14, ge=1)
    take_profit_pct: float | None = Field(None, gt=0)
    time_stop_bars: int | None = Field(None, ge=1)
    limit_offset_pct: float | None = Field(None, gt=0, lt=1)


class RiskConfig(BaseModel):
    """Risk limits plus what the kill switch does when a portfolio limit is hit.

    ``on_breach``: ``flatten`` closes every position; ``reduce`` cuts each by
    ``reduce_fraction``. Either way new exposure stays halted until an explicit reset.
    ``stops`` (a ``[stops]`` table) puts a protective stop at the broker for every position.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: RiskLimits = RiskLimits()
    on_breach: Literal["flatten", "reduce"] = "flatten"
    reduce_fraction: float = Field(0.5, gt=0, le=1)
    check_precision: bool = True
    state_file: str = "risk_state.json"
    stops: StopsConfig | None = None


def load_risk_config(path: Path) -> RiskConfig:
    """Read a risk TOML file; every problem becomes a ConfigError naming the key.

    The file holds either the fields directly (``on_breach = "flatten"``, ``[limits]``) or a
    ``[risk]`` table, so the same text works standalone and inside neo.toml.
    """
    if not path.is_file():
        raise ConfigError(f"risk file {path} does not exist: give the path of a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read risk file {path}: {exc}") from exc
    if set(data) == {"risk"} and isinstance(data["risk"], dict):
        data = data["risk"]
    try:
        return RiskConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid risk file {path}: {problems}") from exc
