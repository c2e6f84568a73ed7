"""Configuration of risk management: pre-trade limits and the portfolio limits behind the kill
switch. Loadable from the ``[risk]`` table of neo.toml or from its own file (``--risk risk.toml``,
top-level keys or a ``[risk]`` table)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from neo.domain.errors import ConfigError


class RiskLimits(BaseModel):
    """Every limit is off when unset. Units:

    ================================  ==================================================
    ``max_position_notional``         quote currency (e.g. USDT), per instrument
    ``max_gross_exposure``            quote currency, sum of |position| × price
    ``max_position_pct``              fraction of equity (0.25 = 25 %), per instrument
    ``max_leverage``                  ratio: gross exposure / equity (1.0 = unlevered)
    ``price_band_pct``                fraction of the last price (0.05 = 5 %)
    ``max_daily_loss_pct``            fraction of the day's starting equity
    ``max_drawdown_pct``              fraction of the peak equity
    ``price_buffer_pct``              fraction added to prices when valuing exposure
    ``max_open_orders``               count of working orders
    ``max_orders_per_minute``         count of orders sent in the last 60 s
    ================================  ==================================================

    Every ``*_pct`` is a fraction, not a percentage: 0.05 means 5 %.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position_notional: float | None = Field(
        None, gt=0, description="per instrument, in quote currency"
    )
    max_position_pct: float | None = Field(
        None, gt=0, description="per instrument, fraction of equity (0.25 = 25 %)"
    )
    max_gross_exposure: float | None = Field(
        None, gt=0, description="sum of |notional|, in quote currency"
    )
    max_leverage: float | None = Field(None, gt=0, description="gross exposure / equity")
    max_open_orders: int | None = Field(None, ge=1, description="working orders")
    max_orders_per_minute: int | None = Field(None, ge=1, description="orders in 60 s")
    price_band_pct: float | None = Field(
        None, gt=0, description="max distance from the last price, fraction (0.05 = 5 %)"
    )
    max_daily_loss_pct: float | None = Field(
        None, gt=0, lt=1, description="fraction of the day's starting equity"
    )
    max_drawdown_pct: float | None = Field(
        None, gt=0, lt=1, description="fraction of the peak equity"
    )
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

    The kill switch is the account's, not this configuration's: its state lives in the data
    directory (``<data_dir>/accounts/<account>/killswitch.json``) and every session trading
    the account honours it. The former ``state_file`` key, which let a configuration pick
    (and so escape) a halt, is refused with an error saying so.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: RiskLimits = RiskLimits()
    on_breach: Literal["flatten", "reduce"] = "flatten"
    reduce_fraction: float = Field(0.5, gt=0, le=1, description="fraction of each position")
    check_precision: bool = True
    stops: StopsConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_state_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "state_file" in data:
            raise ValueError(
                "state_file is no longer a setting: the kill switch belongs to the account and "
                "lives in <data_dir>/accounts/<account>/killswitch.json; remove the key"
            )
        return data


HALT_ONLY = RiskConfig(check_precision=False)
"""No limits and no checks: what a session without a risk configuration runs, so it still
honours its account's kill switch."""


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
