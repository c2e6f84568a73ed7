"""ccxt markets as NEO :class:`Instrument` s: precision → tick and lot, limits → minimums, fees.

ccxt reports precision in one of three modes (``exchange.precisionMode``): ``TICK_SIZE`` (the
step itself, e.g. 0.01: Binance, Kraken in ccxt 4), ``DECIMAL_PLACES`` (digits after the point,
e.g. 2 → 0.01) or ``SIGNIFICANT_DIGITS`` (no fixed step: NEO then keeps the finest step the
digits allow at the market's minimum size and says so in the log). A lot never goes below the
minimum amount's own grid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.logs import get_logger

log = get_logger("adapters.ccxt.markets")

_DEFAULT_TICK = 0.01
_DEFAULT_LOT = 1e-8


def _step(value: Any, mode: int, default: float) -> float:
    if value is None:
        return default
    number = float(value)
    if not math.isfinite(number) or (number <= 0 and mode == TICK_SIZE):
        return default
    if mode == TICK_SIZE:
        return number
    if mode in (DECIMAL_PLACES, SIGNIFICANT_DIGITS):
        return float(f"1e-{int(number)}") if number >= 1 else 1.0
    return default  # pragma: no cover - ccxt has only these three modes


def _number(value: Any) -> float:
    try:
        number = float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _fee(value: Any) -> float:
    """A fee fraction NEO's Instrument accepts (maker rebates down to -1 %)."""
    try:
        fee = float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
    return fee if math.isfinite(fee) and -0.01 < fee < 0.1 else 0.0


def market_to_instrument(venue: str, market: Mapping[str, Any], precision_mode: int) -> Instrument:
    """One ccxt market dict (``exchange.markets[symbol]``) as an :class:`Instrument`."""
    symbol = market.get("symbol")
    if not symbol:
        raise ConfigError(f"{venue}: a market without a symbol: {dict(market)!r}"[:200])
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    if precision_mode == SIGNIFICANT_DIGITS:
        log.info("%s %s: precision in significant digits; using decimal steps", venue, symbol)
    tick = _step(precision.get("price"), precision_mode, _DEFAULT_TICK)
    lot = _step(precision.get("amount"), precision_mode, _DEFAULT_LOT)
    contract = _number(market.get("contractSize")) or 1.0
    return Instrument(
        id=InstrumentId(venue, str(symbol)),
        base=str(market.get("base") or ""),
        quote=str(market.get("quote") or ""),
        tick_size=tick,
        lot_size=lot,
        min_quantity=_number((limits.get("amount") or {}).get("min")),
        min_notional=_number((limits.get("cost") or {}).get("min")),
        maker_fee=_fee(market.get("maker")),
        taker_fee=_fee(market.get("taker")),
        contract_multiplier=contract,
    )


def instruments_of(
    venue: str,
    markets: Mapping[str, Mapping[str, Any]],
    precision_mode: int,
    symbols: Iterable[str] | None = None,
) -> dict[InstrumentId, Instrument]:
    """The instruments of ``symbols`` (every active market when None). An unknown symbol is a
    ConfigError naming a few that exist."""
    wanted = list(symbols) if symbols is not None else None
    if wanted is not None:
        unknown = [s for s in wanted if s not in markets]
        if unknown:
            near = ", ".join(sorted(markets)[:8])
            raise ConfigError(
                f"{venue} has no market {', '.join(unknown)}: use a ccxt unified symbol such "
                f"as {near or 'BTC/USDT'}"
            )
    chosen = (
        wanted
        if wanted is not None
        else [s for s, m in markets.items() if m.get("active", True) is not False]
    )
    out: dict[InstrumentId, Instrument] = {}
    for symbol in chosen:
        instrument = market_to_instrument(venue, markets[symbol], precision_mode)
        out[instrument.id] = instrument
    return out


def load_instruments(
    exchange: Any, symbols: Iterable[str] | None = None, *, reload: bool = False
) -> dict[InstrumentId, Instrument]:
    """Load the exchange's markets (through its rate limiter) as instruments keyed by id."""
    from neo.adapters.ccxt.errors import translate

    try:
        markets = exchange.load_markets(reload)
    except Exception as exc:
        raise translate(exc, exchange.id) from None
    return instruments_of(exchange.id, markets, int(exchange.precisionMode), symbols)


__all__ = ["TICK_SIZE", "instruments_of", "load_instruments", "market_to_instrument"]
