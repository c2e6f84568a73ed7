"""Position sizing: how many units a trade should be, before any limit is applied.

Every function returns an unsigned quantity (the caller picks the side), rounded toward zero to
the instrument's lot size when one is given, and 0.0 when the inputs cannot size a trade
(non-positive or non-finite price, volatility or ATR): no trade is the safe answer.
"""

from __future__ import annotations

import math

from neo.domain.errors import ConfigError
from neo.domain.instrument import Instrument


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
