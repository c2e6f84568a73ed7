"""Position sizing: how many units a trade should be, before any limit is applied.

Every function returns an unsigned quantity (the caller picks the side), rounded toward zero to
the instrument's lot size when one is given, and 0.0 when the inputs cannot size a trade
(non-positive or non-finite price, volatility or ATR): no trade is the safe answer.

:class:`Sizing` is the policy a strategy runs with (``--param size=…`` or the ``[sizing]``
table), written in one small grammar (:func:`parse_sizing`)::

    equity            all available equity when the order fills (backtesting.py's buy())
    fraction:F        F (0 < F <= 1) of the available equity when the order fills
    units:N  (or N)   N units per unit of signal
    vol:T             volatility target: annualised volatility T of equity (notional <= equity)
    atr:R[:M]         lose R (0 < R <= 1) of equity if price moves M ATRs (default 2) against
    kelly:K[:C]       K × the Kelly share of the forecast (mean / variance), at most C (0.25)

``equity`` and ``fraction`` are sized by the broker at the fill price (both the event and the
fast path); ``vol``, ``atr`` and ``kelly`` are sized when the strategy decides, from data up to
that bar only, and hold the size until the side changes.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from neo.domain.errors import ConfigError
from neo.domain.instrument import Instrument

FULL_EQUITY = 1.0 - sys.float_info.epsilon
"""The fraction an all-equity order spends: backtesting.py's default ``size``."""

SIZING_GRAMMAR = "equity | fraction:F | units:N (or N) | vol:T | atr:R[:M] | kelly:K[:CAP]"
ATR_WINDOW = 14
"""Bars in the ATR of ``atr:`` sizing (Wilder's smoothing)."""


def _finish(quantity: float, price: float, instrument: Instrument | None) -> float:
    if not (math.isfinite(quantity) and quantity > 0):
        return 0.0
    if instrument is None:
        return quantity
    rounded = abs(instrument.round_quantity(quantity))
    if rounded < instrument.min_quantity or rounded * price < instrument.min_notional:
        return 0.0
    return rounded


def _valid(*values: float) -> bool:
    return all(math.isfinite(v) and v > 0 for v in values)


def fixed_fraction(
    equity: float,
    price: float,
    fraction: float,
    stop_distance: float | None = None,
    instrument: Instrument | None = None,
) -> float:
    """Risk ``fraction`` of equity on the trade.

    With ``stop_distance`` (price units to the stop) the loss at the stop is
    ``fraction × equity``; without it the position's notional is ``fraction × equity``.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"fixed_fraction: fraction must be in (0, 1], got {fraction}")
    if not _valid(equity, price):
        return 0.0
    if stop_distance is None:
        return _finish(fraction * equity / price, price, instrument)
    if not _valid(stop_distance):
        return 0.0
    return _finish(fraction * equity / stop_distance, price, instrument)


def volatility_target(
    equity: float,
    price: float,
    target_vol: float,
    realised_vol: float,
    max_leverage: float = 1.0,
    instrument: Instrument | None = None,
) -> float:
    """Units whose volatility is ``target_vol`` of equity (both in the same period units).

    The notional is ``equity × target_vol / realised_vol``, capped at ``max_leverage × equity``
    so a calm market never asks for unbounded size.
    """
    if not (target_vol > 0 and max_leverage > 0):
        raise ConfigError("volatility_target: target_vol and max_leverage must be > 0")
    if not _valid(equity, price, realised_vol):
        return 0.0
    notional = min(equity * target_vol / realised_vol, equity * max_leverage)
    return _finish(notional / price, price, instrument)


def atr_size(
    equity: float,
    price: float,
    atr: float,
    risk_fraction: float,
    atr_multiple: float = 2.0,
    instrument: Instrument | None = None,
) -> float:
    """Lose ``risk_fraction`` of equity if price moves ``atr_multiple`` ATRs against the trade."""
    if not (0 < risk_fraction <= 1 and atr_multiple > 0):
        raise ConfigError("atr_size: need 0 < risk_fraction <= 1 and atr_multiple > 0")
    if not _valid(equity, price, atr):
        return 0.0
    return _finish(risk_fraction * equity / (atr * atr_multiple), price, instrument)


def kelly_fraction(win_probability: float, win_loss_ratio: float) -> float:
    """Full Kelly fraction ``p - (1 - p) / b`` of a bet won with probability p paying b:1."""
    if not (0 <= win_probability <= 1 and win_loss_ratio > 0):
        raise ConfigError("kelly_fraction: need 0 <= p <= 1 and win_loss_ratio > 0")
    return win_probability - (1.0 - win_probability) / win_loss_ratio


def capped_kelly(
    equity: float,
    price: float,
    win_probability: float,
    win_loss_ratio: float,
    fraction: float = 0.5,
    cap: float = 0.25,
    instrument: Instrument | None = None,
) -> float:
    """Fractional Kelly notional, never more than ``cap`` of equity and never negative.

    A model's win probability is an estimate, so half Kelly (``fraction=0.5``) and a cap are
    the usual guard against over-betting on an optimistic model.
    """
    if not (0 < fraction <= 1 and 0 < cap <= 1):
        raise ConfigError("capped_kelly: need 0 < fraction <= 1 and 0 < cap <= 1")
    if not _valid(equity, price):
        return 0.0
    share = min(max(kelly_fraction(win_probability, win_loss_ratio) * fraction, 0.0), cap)
    return _finish(share * equity / price, price, instrument)


def forecast_kelly(
    equity: float,
    price: float,
    expected_return: float,
    volatility: float,
    fraction: float = 0.5,
    cap: float = 0.25,
    instrument: Instrument | None = None,
) -> float:
    """Fractional Kelly of a return forecast: ``fraction × μ / σ²`` of equity, at most ``cap``.

    ``expected_return`` (μ) is the forecast return of the side to be taken over the next bar and
    ``volatility`` (σ) the standard deviation of one bar's return: ``μ / σ²`` is the
    growth-optimal share of a bet with that mean and variance. A forecast against the side, or
    none, gives 0.
    """
    if not (0 < fraction <= 1 and 0 < cap <= 1):
        raise ConfigError("forecast_kelly: need 0 < fraction <= 1 and 0 < cap <= 1")
    if not (_valid(equity, price, volatility) and math.isfinite(expected_return)):
        return 0.0
    share = min(max(fraction * expected_return / volatility**2, 0.0), cap)
    return _finish(share * equity / price, price, instrument)


@dataclass(frozen=True, slots=True)
class Sizing:
    """How a strategy's signals become quantities (see the module docstring for the grammar).

    ``value`` is F, N, T, R or K; ``extra`` is the ATR multiple M or the Kelly cap C.
    """

    kind: str = "equity"
    value: float = 1.0
    extra: float | None = None

    def __str__(self) -> str:
        if self.kind == "equity":
            return "equity"
        text = f"{self.kind}:{self.value:g}"
        return text if self.extra is None else f"{text}:{self.extra:g}"

    @property
    def fill_fraction(self) -> float | None:
        """Fraction of available equity the broker spends at fill time (equity, fraction)."""
        if self.kind == "equity":
            return FULL_EQUITY
        return self.value if self.kind == "fraction" else None

    @property
    def at_decision(self) -> bool:
        """Sized when the strategy decides, from the account and data of that bar."""
        return self.kind in ("vol", "atr", "kelly")

    @property
    def needs_forecast(self) -> bool:
        return self.kind == "kelly"

    def units(
        self,
        *,
        equity: float,
        price: float,
        volatility: float = math.nan,
        atr: float = math.nan,
        forecast: float = math.nan,
        periods_per_year: float = math.nan,
        instrument: Instrument | None = None,
    ) -> float:
        """Unsigned units for one unit of signal, from values known when the strategy decides.

        ``volatility`` is the standard deviation of one bar's log return, ``forecast`` the
        expected return of the side taken (signed against it means no trade), and
        ``periods_per_year`` annualises volatility for ``vol:``. Fill-time kinds return the
        estimate at ``price``.
        """
        if self.kind == "units":
            return self.value
        if self.kind in ("equity", "fraction"):
            share = FULL_EQUITY if self.kind == "equity" else self.value
            return fixed_fraction(equity, price, share, instrument=instrument)
        if self.kind == "vol":
            annual = volatility * math.sqrt(periods_per_year)
            return volatility_target(equity, price, self.value, annual, 1.0, instrument)
        if self.kind == "atr":
            return atr_size(equity, price, atr, self.value, self.extra or 2.0, instrument)
        cap = 0.25 if self.extra is None else self.extra
        return forecast_kelly(equity, price, forecast, volatility, self.value, cap, instrument)


EQUITY = Sizing()

_BOUNDS: dict[str, tuple[str, float, float, str]] = {
    # kind: (what the number is, lowest (exclusive), highest (inclusive), example)
    "fraction": ("a fraction of equity", 0.0, 1.0, "fraction:0.5"),
    "units": ("a number of units", 0.0, math.inf, "units:10"),
    "vol": ("an annualised volatility", 0.0, 10.0, "vol:0.15"),
    "atr": ("a fraction of equity at risk", 0.0, 1.0, "atr:0.01"),
    "kelly": ("a fraction of Kelly", 0.0, 1.0, "kelly:0.5"),
}
_EXTRA: dict[str, tuple[str, float, float]] = {
    "atr": ("an ATR multiple", 0.0, math.inf),
    "kelly": ("a cap on the share of equity", 0.0, 1.0),
}


def parse_sizing(value: Any) -> Sizing:
    """A sizing policy from ``--param size=…`` / ``[sizing]`` text, a number (units) or None
    (all equity); a ConfigError names the grammar and an example."""
    if isinstance(value, Sizing):
        return value
    if value is None:
        return EQUITY
    if isinstance(value, bool):
        raise ConfigError(f"size={value}: write one of {SIZING_GRAMMAR}")
    if isinstance(value, int | float):
        return _checked("units", float(value), None, str(value))
    text = str(value).strip().lower()
    if text in ("", "none", "equity", "all"):
        return EQUITY
    kind, _, rest = text.partition(":")
    if kind not in _BOUNDS:
        try:
            return _checked("units", float(text), None, text)
        except ValueError:
            raise ConfigError(
                f"size={value}: unknown sizing {kind!r}; write one of {SIZING_GRAMMAR} "
                "(e.g. size=fraction:0.5)"
            ) from None
    parts = rest.split(":") if rest else []
    limit = 2 if kind in _EXTRA else 1
    if not parts or len(parts) > limit:
        example = _BOUNDS[kind][3]
        raise ConfigError(f"size={value}: write {kind} with its number, e.g. size={example}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"size={value}: {rest!r} is not a number") from None
    return _checked(kind, numbers[0], numbers[1] if len(numbers) > 1 else None, text)


def _checked(kind: str, number: float, extra: float | None, text: str) -> Sizing:
    what, low, high, example = _BOUNDS[kind]
    if not (math.isfinite(number) and low < number <= high):
        span = f"> {low:g}" if math.isinf(high) else f"in ({low:g}, {high:g}]"
        raise ConfigError(f"size={text}: {what} must be {span}, e.g. size={example}")
    if extra is not None:
        name, low, high = _EXTRA[kind]
        if not (math.isfinite(extra) and low < extra <= high):
            span = f"> {low:g}" if math.isinf(high) else f"in ({low:g}, {high:g}]"
            raise ConfigError(f"size={text}: {name} must be {span}")
    return Sizing(kind, number, extra)


class SizingConfig(BaseModel):
    """The ``[sizing]`` table of neo.toml: how strategies size when ``--param size`` is not given.

    ``size`` applies to every strategy; ``strategies`` overrides it per strategy name, e.g.
    ``strategies = { rsi_reversion = "vol:0.15" }``. Unset, each strategy's own default holds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: str | None = None
    strategies: dict[str, str] = Field(default_factory=dict)

    @field_validator("size")
    @classmethod
    def _valid_size(cls, value: str | None) -> str | None:
        if value is not None:
            _as_value_error(value)
        return value

    @field_validator("strategies")
    @classmethod
    def _valid_sizes(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _as_value_error(text)
        return value

    def for_strategy(self, name: str) -> str | None:
        """The configured sizing of strategy ``name`` (None: the strategy's own default)."""
        return self.strategies.get(name, self.size)


def _as_value_error(text: str) -> None:
    try:
        parse_sizing(text)
    except ConfigError as exc:  # pydantic reports ValueErrors with the key that was wrong
        raise ValueError(str(exc)) from None
