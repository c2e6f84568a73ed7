"""The sim's matching engine: balances, orders, fills and the record of what it received.

Dialect-neutral: the Binance and Kraken front ends translate their wire formats into calls here
and this module's errors into each exchange's own error shape. All state changes happen on the
server's event loop (one thread), so no lock is needed; tests reach it through ``SimHandle``.

Semantics (documented in docs/exchange-sim.md):
- a market order fills at once, whole, at the last close (taker fee);
- a limit order that is marketable when placed fills at the last close (taker), else it rests
  and fills at its limit price (maker) on each bar whose range crosses it, at most
  ``max_fill_per_bar`` base units per bar (None: all of it), so partial fills happen;
- funds are locked when an order rests, released on cancel; the fee is charged in the received
  asset (Binance) or in the quote asset (Kraken);
- trade ids and order ids are unique and increasing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from neo.exchange_sim.market import (
    DEFAULT_START_MS,
    DEFAULT_SYMBOLS,
    PricePath,
    SimBar,
    SymbolSpec,
)

Side = Literal["buy", "sell"]
OrderKind = Literal["market", "limit"]
FeeAsset = str
"""``received`` (a buy's fee out of the coins bought), ``quote``, or a fee coin (``BNB``: the
fee priced at its market and taken from its balance while that covers it, else as ``received``)."""
AMOUNT_UNIT = Decimal("0.00000001")


class SimOrderError(Exception):
    """A request the exchange refuses; ``kind`` picks the dialect's error shape."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = (
            kind  # insufficient_balance | order_not_found | duplicate | bad_symbol | invalid
        )


@dataclass(slots=True)
class SimOrder:
    """One order the sim accepted (mutable: its fill state changes as bars pass)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    kind: OrderKind
    quantity: Decimal
    price: Decimal | None
    created_ms: int
    status: str = "open"  # open | closed | canceled
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    updated_ms: int = 0
    locked: Decimal = Decimal(0)  # funds still locked for the unfilled part
    trade_ids: list[int] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def average(self) -> Decimal | None:
        return (self.cost / self.filled).quantize(AMOUNT_UNIT) if self.filled else None

    def to_record(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.kind,
            "quantity": str(self.quantity),
            "price": None if self.price is None else str(self.price),
            "status": self.status,
            "filled": str(self.filled),
            "cost": str(self.cost),
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
        }


@dataclass(frozen=True, slots=True)
class SimFill:
    """One execution: the sim's trade record."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    time_ms: int

    def to_record(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "fee": str(self.fee),
            "fee_asset": self.fee_asset,
            "maker": self.maker,
            "time_ms": self.time_ms,
        }


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What a sim run starts from; every field has a default that runs with no setup."""

    seed: int = 7
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS
    history_bars: int = 1000
    bar_ms: int = 60_000
    start_ms: int = DEFAULT_START_MS
    balances: tuple[tuple[str, str], ...] = (("USDT", "100000"), ("BTC", "1"), ("ETH", "10"))
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    fee_asset: FeeAsset = "received"
    max_fill_per_bar: Decimal | None = None


@dataclass(slots=True)
class Balance:
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


BarListener = Callable[[str, SimBar], None]
FillListener = Callable[[SimFill], None]


class SimEngine:
    """Balances, orders and fills over the seeded paths of every symbol."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.specs = {spec.symbol: spec for spec in config.symbols}
        self.paths = {
            spec.symbol: PricePath(spec, config.seed, i, config.start_ms, config.bar_ms)
            for i, spec in enumerate(config.symbols)
        }
        for path in self.paths.values():
            for _ in range(config.history_bars):
                path.grow()
        self.balances: dict[str, Balance] = {}
        self.set_balances(dict(config.balances))
        self.orders: list[SimOrder] = []
        self.by_client_id: dict[str, SimOrder] = {}
        self.fills: list[SimFill] = []
        self.requests: list[dict[str, Any]] = []
        self.bar_listeners: list[BarListener] = []
        self.fill_listeners: list[FillListener] = []
        self.max_fill_per_bar = config.max_fill_per_bar
        self._next_order_id = 1
        self._next_trade_id = 1

    # --- time and prices -------------------------------------------------------------------
    @property
    def closed_bars(self) -> int:
        """Bars closed so far (the forming bar is number ``closed_bars``)."""
        return len(next(iter(self.paths.values())).bars)

    def now_ms(self) -> int:
        """The sim's clock: the open time of the forming bar."""
        return self.config.start_ms + self.closed_bars * self.config.bar_ms

    def last_price(self, symbol: str) -> Decimal:
        return self.paths[symbol].bars[-1].close

    def spec(self, symbol: str) -> SymbolSpec:
        if symbol not in self.specs:
            raise SimOrderError("bad_symbol", f"unknown symbol {symbol}")
        return self.specs[symbol]

    def advance(self, bars: int = 1) -> None:
        """Close ``bars`` bars: grow every path, fill resting orders, tell the listeners."""
        for _ in range(bars):
            for symbol, path in self.paths.items():
                bar = path.grow()
                self._match_resting(symbol, bar)
                for listener in list(self.bar_listeners):
                    listener(symbol, bar)

    # --- balances --------------------------------------------------------------------------
    def set_balances(self, balances: dict[str, str]) -> None:
        """Set the free balance of each asset named (locked funds stay as they are)."""
        for asset, amount in balances.items():
            self.balances.setdefault(asset.upper(), Balance()).free = Decimal(str(amount))

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    # --- orders ----------------------------------------------------------------------------
    def record_request(self, action: str, path: str, client_order_id: str | None,
                       params: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        """Remember an order request as received (before any fault or check applies).

        ``time_ms`` is the sim's clock, ``received_ms`` the wall clock; ``fault`` the injected
        fault it met (None: none), ``status`` the HTTP status answered (None: still stalled).
        """
        entry: dict[str, Any] = {
            "seq": len(self.requests) + 1,
            "time_ms": self.now_ms(),
            "action": action,
            "path": path,
            "client_order_id": client_order_id,
            "params": {k: v for k, v in params.items() if k != "signature"},
            "received_ms": int(time.time() * 1000),
            "fault": None,
            "status": None,
        }
        self.requests.append(entry)
        return entry

    def create_order(self, *, symbol: str, side: Side, kind: OrderKind, quantity: Decimal,
                     price: Decimal | None, client_order_id: str) -> SimOrder:  # fmt: skip
        """Accept (and, if it can, fill) an order, or raise SimOrderError."""
        spec = self.spec(symbol)
        if client_order_id in self.by_client_id:
            raise SimOrderError("duplicate", f"duplicate client order id {client_order_id}")
        if not quantity.is_finite() or (price is not None and not price.is_finite()):
            raise SimOrderError("invalid", "quantity and price must be finite numbers")
        if quantity <= 0 or quantity < spec.min_qty:
            raise SimOrderError("invalid", f"quantity {quantity} below the minimum {spec.min_qty}")
        if kind == "limit" and (price is None or price <= 0):
            raise SimOrderError("invalid", "a limit order needs a positive price")
        last = self.last_price(symbol)
        marketable = kind == "market" or (
            price is not None and (price >= last if side == "buy" else price <= last)
        )
        reserve_price = last if kind == "market" or price is None else price
        self._check_funds(spec, side, quantity, reserve_price)
        order = SimOrder(
            order_id=self._next_order_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            kind=kind,
            quantity=quantity,
            price=price,
            created_ms=self.now_ms(),
            updated_ms=self.now_ms(),
        )
        self._next_order_id += 1
        self.orders.append(order)
        self.by_client_id[client_order_id] = order
        self._lock(order, spec, reserve_price)
        if kind == "market":
            self._fill(order, spec, order.quantity, last, maker=False)
        elif marketable:
            self._fill(order, spec, self._cap(order.remaining), last, maker=False)
        return order

    def find_order(self, *, order_id: int | None = None,
                   client_order_id: str | None = None) -> SimOrder:  # fmt: skip
        order: SimOrder | None = None
        if client_order_id is not None:
            order = self.by_client_id.get(client_order_id)
        elif order_id is not None and 0 < order_id <= len(self.orders):
            order = self.orders[order_id - 1]
        if order is None:
            raise SimOrderError("order_not_found", "order does not exist")
        return order

    def cancel_order(self, order: SimOrder) -> SimOrder:
        if order.status != "open":
            raise SimOrderError("order_not_found", f"order {order.order_id} is {order.status}")
        spec = self.specs[order.symbol]
        self._release(order, spec)
        order.status = "canceled"
        order.updated_ms = self.now_ms()
        return order

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        return [
            o for o in self.orders if o.status == "open" and (symbol is None or o.symbol == symbol)
        ]

    def fills_of(self, symbol: str | None = None) -> list[SimFill]:
        return [f for f in self.fills if symbol is None or f.symbol == symbol]

    # --- internals -------------------------------------------------------------------------
    def _cap(self, remaining: Decimal) -> Decimal:
        cap = self.max_fill_per_bar
        return remaining if cap is None else min(remaining, cap)

    def _check_funds(self, spec: SymbolSpec, side: Side, quantity: Decimal,
                     price: Decimal) -> None:  # fmt: skip
        if side == "buy":
            need = quantity * price
            if self.config.fee_asset == "quote":  # the fee is paid in quote too (as locked)
                need += need * max(self.config.maker_fee, self.config.taker_fee)
            have, asset = self.balance(spec.quote).free, spec.quote
        else:
            need, have, asset = quantity, self.balance(spec.base).free, spec.base
        if need > have:
            raise SimOrderError(
                "insufficient_balance", f"insufficient {asset}: need {need}, have {have}"
            )

    def _lock(self, order: SimOrder, spec: SymbolSpec, price: Decimal) -> None:
        asset = spec.quote if order.side == "buy" else spec.base
        amount = order.quantity * price if order.side == "buy" else order.quantity
        if order.side == "buy" and self.config.fee_asset == "quote":
            amount += amount * max(self.config.maker_fee, self.config.taker_fee)
        amount = min(amount, self.balance(asset).free)
        self.balance(asset).free -= amount
        self.balance(asset).locked += amount
        order.locked = amount

    def _release(self, order: SimOrder, spec: SymbolSpec) -> None:
        asset = spec.quote if order.side == "buy" else spec.base
        self.balance(asset).locked -= order.locked
        self.balance(asset).free += order.locked
        order.locked = Decimal(0)

    def _fee_in_coin(self, spec: SymbolSpec, fee_quote: Decimal) -> tuple[Decimal, str] | None:
        """The fee in the configured fee coin at its last price, when the account holds
        enough of it (as Binance's BNB discount: otherwise the usual asset pays)."""
        coin = self.config.fee_asset
        if coin in ("received", "quote") or coin in (spec.base, spec.quote):
            return None
        pair = f"{coin}/{spec.quote}"
        if pair not in self.paths:
            return None
        fee = (fee_quote / self.last_price(pair)).quantize(AMOUNT_UNIT)
        if self.balance(coin).free < fee:
            return None
        return fee, coin

    def _fill(self, order: SimOrder, spec: SymbolSpec, quantity: Decimal, price: Decimal,
              *, maker: bool) -> None:  # fmt: skip
        if quantity <= 0:
            return
        rate = self.config.maker_fee if maker else self.config.taker_fee
        notional = quantity * price
        base, quote = self.balance(spec.base), self.balance(spec.quote)
        coin = self._fee_in_coin(spec, notional * rate)
        if coin is not None:
            fee, fee_asset = coin
            self.balance(fee_asset).free -= fee
        elif self.config.fee_asset == "quote":
            fee, fee_asset = (notional * rate).quantize(AMOUNT_UNIT), spec.quote
        elif order.side == "buy":
            fee, fee_asset = (quantity * rate).quantize(AMOUNT_UNIT), spec.base
        else:
            fee, fee_asset = (notional * rate).quantize(AMOUNT_UNIT), spec.quote
        spend = notional if order.side == "buy" else quantity
        if fee_asset == spec.quote and order.side == "buy":
            spend += fee
        used = min(spend, order.locked)
        order.locked -= used
        paying = quote if order.side == "buy" else base
        paying.locked -= used
        paying.free -= spend - used  # a market buy at a moved price may need a little more
        if order.side == "buy":
            base.free += quantity - (fee if fee_asset == spec.base else 0)
        else:
            quote.free += notional - (fee if fee_asset == spec.quote else 0)
        order.filled += quantity
        order.cost += notional
        order.updated_ms = self.now_ms()
        fill = SimFill(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=fee,
            fee_asset=fee_asset,
            maker=maker,
            time_ms=self.now_ms(),
        )
        self._next_trade_id += 1
        order.trade_ids.append(fill.trade_id)
        self.fills.append(fill)
        if order.remaining <= 0:
            order.status = "closed"
            self._release(order, spec)  # whatever is left of the reservation
        for listener in list(self.fill_listeners):
            listener(fill)

    def _match_resting(self, symbol: str, bar: SimBar) -> None:
        spec = self.specs[symbol]
        for order in self.open_orders(symbol):
            if order.price is None:  # only limit orders rest
                continue
            crossed = bar.low <= order.price if order.side == "buy" else bar.high >= order.price
            if crossed:
                self._fill(order, spec, self._cap(order.remaining), order.price, maker=True)
