"""NEO orders ↔ ccxt requests and answers: rounding, minimums, status and trade mapping."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ccxt

from neo.domain.enums import LiquiditySide, OrderStatus, OrderType, Side
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.logs import get_logger

_MS = 1_000_000
log = get_logger("adapters.ccxt.orders")

FeePrice = Callable[[str, str], float | None]
"""The price of one unit of a currency (the first) in another (the second); None if unknown."""

CCXT_STATUS: dict[str, OrderStatus] = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


TRADES_OVERLAP_MS = 1_000
"""How far before the newest trade seen each my-trades poll reaches back."""


def trades_since(newest_ms: int | None) -> int | None:
    """The ``since`` of the next my-trades poll after trades up to ``newest_ms``.

    Reaching :data:`TRADES_OVERLAP_MS` back takes in a trade the exchange lists a moment after
    a newer one, and gets past Kraken's exclusive ``start``: polling from the newest stamp
    itself never saw a second fill made in that same millisecond. What the overlap fetches
    again, the callers drop by trade id."""
    return None if newest_ms is None else newest_ms - TRADES_OVERLAP_MS


@dataclass(frozen=True, slots=True)
class Request:
    """One create_order call, exactly as sent (amount and price already on the grid)."""

    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    params: dict[str, Any]


def rounded_request(
    exchange: Any, order: Order, spec: Instrument, quantity: float, reference_price: float | None
) -> Request | str:
    """The request for ``order`` of ``quantity``, rounded with ccxt's own
    ``amount_to_precision`` (truncating) and ``price_to_precision``; or why it cannot be sent
    (below the minimum quantity or notional), as a reason that says how to fix it."""
    symbol = order.instrument.symbol
    amount = _on_grid(exchange.amount_to_precision, symbol, quantity) if quantity > 0 else 0.0
    if amount <= 0 or amount < spec.min_quantity:
        return (
            f"quantity {quantity:g} rounds to {amount:g}, below the minimum "
            f"{max(spec.min_quantity, spec.lot_size):g} of {symbol}: trade a larger size"
        )
    price = (
        None
        if order.limit_price is None
        else _on_grid(exchange.price_to_precision, symbol, order.limit_price)
    )
    params: dict[str, Any] = {}
    if order.stop_price is not None:
        params["triggerPrice"] = _on_grid(exchange.price_to_precision, symbol, order.stop_price)
    for name, given in (("limit", order.limit_price), ("stop", order.stop_price)):
        placed = price if name == "limit" else params.get("triggerPrice")
        if given is not None and not (placed and placed > 0):
            return f"{name} price {given:g} of {symbol} rounds to nothing on its tick: fix it"
    if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        params["timeInForce"] = order.time_in_force.value.upper()
    if order.reduce_only:
        params["reduceOnly"] = True
    check = price or (params.get("triggerPrice") or reference_price)
    if spec.min_notional and check and amount * check < spec.min_notional * (1 - 1e-12):
        return (
            f"notional {amount * check:.8g} of {amount:g} {symbol} at {check:g} is below the "
            f"exchange minimum {spec.min_notional:g}: trade a larger size"
        )
    ccxt_type = "limit" if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else "market"
    return Request(symbol, ccxt_type, order.side.value, amount, price, params)


def _on_grid(to_precision: Callable[[str, float], Any], symbol: str, value: float) -> float:
    """ccxt's ``amount_to_precision``/``price_to_precision``, or 0 where ccxt raises because
    the value rounds to nothing (fee dust a kill switch's reduce order asked to sell raised
    through the session and ended it); the caller refuses the order with its reason."""
    try:
        return float(to_precision(symbol, value))
    except ccxt.InvalidOrder:
        return 0.0


def fee_in_base(trade: dict[str, Any], spec: Instrument) -> float:
    """The part of the trade's fee the venue took in the base asset, in base units (Binance
    spot takes a buy's fee out of the coins bought); 0 when it was paid in anything else."""
    fee = trade.get("fee") or {}
    cost = fee.get("cost")
    if cost is None or not (fee.get("currency") and spec.base and fee["currency"] == spec.base):
        return 0.0
    value = abs(float(cost))
    return value if math.isfinite(value) else 0.0


def fee_in_quote(
    trade: dict[str, Any], spec: Instrument, price: float, fee_price: FeePrice | None = None
) -> float:
    """The trade's fee in the quote currency: a fee in the base is converted at the trade's
    price, one in a third coin (Binance's BNB) at ``fee_price``'s. Booking the BNB amount as
    if it were quote understated such a fee some 600 times. With no price for the coin the
    amount is booked as it is, and an error says so."""
    fee = trade.get("fee") or {}
    cost = fee.get("cost")
    if cost is None:
        return 0.0
    value = abs(float(cost))
    currency = str(fee.get("currency") or "")
    if currency and spec.base and currency == spec.base:
        value *= price * spec.contract_multiplier
    elif value and currency and spec.quote and currency != spec.quote:
        rate = None if fee_price is None else fee_price(currency, spec.quote)
        if rate is None or not math.isfinite(rate) or rate <= 0:
            log.error(
                "fee of trade %s is %s %s and no %s/%s price is known: booked as %s %s",
                trade.get("id"), value, currency, currency, spec.quote, value, spec.quote,
            )  # fmt: skip
        else:
            value *= rate
    return value if math.isfinite(value) else 0.0


def trade_to_fill(
    trade: dict[str, Any], order_id: OrderId, spec: Instrument, fee_price: FeePrice | None = None
) -> Fill:
    """A ccxt trade (``fetch_my_trades``/``watch_my_trades``/an order's ``trades``) as a Fill;
    a fee in the base asset is kept in ``fee_base`` too, so the ledger books what was received;
    one in a third coin is priced in quote with ``fee_price`` (see :func:`fee_in_quote`)."""
    price = float(trade["price"])
    liquidity = (
        LiquiditySide.MAKER if trade.get("takerOrMaker") == "maker" else (LiquiditySide.TAKER)
    )
    return Fill(
        order_id=order_id,
        trade_id=TradeId(str(trade["id"])),
        instrument=spec.id,
        side=Side(str(trade["side"])),
        quantity=float(trade["amount"]),
        price=price,
        fee=fee_in_quote(trade, spec, price, fee_price),
        ts=int(trade.get("timestamp") or 0) * _MS,
        liquidity=liquidity,
        fee_base=fee_in_base(trade, spec),
    )


def instrument_of(venue: str, symbol: str) -> InstrumentId:
    return InstrumentId(venue, symbol)
