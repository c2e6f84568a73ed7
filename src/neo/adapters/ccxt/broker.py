"""``CcxtBroker``: the :class:`~neo.execution.broker.Broker` protocol over a real exchange.

The loop speaks to it exactly as to the simulated broker; what differs is behind the seam:

* Every create is journalled **before** it is sent (the journal allocates the client order id,
  unique across restarts) and its outcome **after** (:mod:`neo.adapters.ccxt.outcome`). A create
  that gets no clear answer leaves the order ``unknown``; it is resolved by its client order id
  and only re-sent, with the same id, when strikes and a targeted query agree it never arrived.
  A refused order is reported as ``OrderRejected`` and never retried.
* Amounts and prices are rounded with ccxt's own precision functions and the minimum quantity and
  notional checked before anything is sent; an ``equity_fraction`` order is sized from the
  exchange balance.
* Fills come from the create answer, :meth:`poll` (``fetch_order`` + ``fetch_my_trades``) and
  :meth:`on_trade` (``watch_my_trades``); each trade id is applied once, whatever the source, and a
  fill beyond the order's remaining quantity is refused. The broker books each fill in the
  ledger before it reports ``OrderFilled``.
* Bracket legs (orders with a ``parent_id``) wait in the broker until their entry has filled,
  then go to the exchange; legs sharing an ``oco_group`` cancel each other on a fill.

Calls are synchronous (the loop's cycle is); every request passes the exchange's one rate
limiter. ``bar_hooks()`` is ``None``: the exchange has its own market.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgspec

from neo.adapters.ccxt.errors import error_kind, retry_after_seconds, translate
from neo.adapters.ccxt.journal import Journal, MemoryJournal
from neo.adapters.ccxt.orders import (
    CCXT_STATUS,
    Request,
    rounded_request,
    trade_to_fill,
    trades_since,
)
from neo.adapters.ccxt.outcome import CreateVerdict, NotFoundVerdict, Outcome, OutcomePolicy
from neo.adapters.ccxt.ratelimit import Backoff, RetryBudget, retry_call
from neo.domain.enums import OrderStatus, Side
from neo.domain.errors import (
    ExchangeOrderNotFoundError,
    NeoError,
    OrderRefusedError,
    OverfillError,
    RetryableError,
)
from neo.domain.events import (
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.execution.broker import INSUFFICIENT_EQUITY, BarHooks, BrokerFactory, EventSink
from neo.execution.ledger import Ledger
from neo.logs import get_logger

log = get_logger("adapters.ccxt.broker")
_NO_CLIENT_ID_FETCH = frozenset({"kraken"})
"""Venues whose ccxt ``fetch_order`` cannot look an order up by client order id (ccxt sends
Kraken's numeric ``userref`` and then reads the answer by txid): searched in listings."""
_LISTINGS = (("fetch_open_orders", "fetchOpenOrders"), ("fetch_closed_orders", "fetchClosedOrders"))


FEE_PRICE_TTL_S = 60.0
"""How long a fee coin's price serves before the next fill asks the venue again."""


def _ticker_price(ticker: Any) -> float | None:
    """A ticker's last price, else the middle of its bid and ask; None when it has neither."""
    if not isinstance(ticker, dict):
        return None
    for value in (ticker.get("last"), ticker.get("close")):
        if value is not None and math.isfinite(float(value)) and float(value) > 0:
            return float(value)
    bid, ask = ticker.get("bid"), ticker.get("ask")
    if bid is not None and ask is not None and float(bid) > 0 and float(ask) > 0:
        return (float(bid) + float(ask)) / 2.0
    return None


def _says_unknown(error: NeoError) -> bool:
    """A *query* answered "not found" — or "invalid order", which is how some venues (Kraken's
    ``EOrder:Unknown order``, mapped by ccxt to InvalidOrder) say the same of an order query."""
    return isinstance(error, ExchangeOrderNotFoundError | OrderRefusedError)


@dataclass
class Tracked:
    """One order NEO placed (or is placing) at the exchange."""

    order: Order
    client_id: str
    request: Request | None = None
    exchange_id: str | None = None
    outcome: Outcome = Outcome.INTENT
    strikes: int = 0
    resends: int = 0
    trade_ids: set[str] = field(default_factory=set)
    refusal: str | None = None
    """Why the venue refused a re-send (settled as a rejection once it proves absent)."""
    fee_base: float = 0.0
    """Base units the venue kept as fees of this order's fills (:attr:`Fill.fee_base`)."""


@dataclass
class BrokerStats:
    creates: int = 0
    resends: int = 0
    unknown: int = 0
    rejected: int = 0
    lost: int = 0
    duplicate_fills: int = 0
    overfills_refused: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class CcxtBroker:
    """A broker at a real venue (or ``neo exchange-sim``) through a sync ccxt client.

    Parameters
    ----------
    exchange:
        From :func:`~neo.adapters.ccxt.client.make_exchange` (with ``credentials=True``).
    instruments:
        From :func:`~neo.adapters.ccxt.markets.load_instruments` (fees, grids, minimums).
    sink, ledger:
        The loop's event sink and ledger (a :data:`BrokerFactory` passes them).
    journal, session:
        Where intents and outcomes go (default: in memory) and the session they belong to.
    """

    def __init__(
        self,
        exchange: Any,
        instruments: Mapping[InstrumentId, Instrument],
        sink: EventSink,
        ledger: Ledger | None = None,
        *,
        journal: Journal | None = None,
        session: str = "default",
        policy: OutcomePolicy | None = None,
        backoff: Backoff | None = None,
        budget: RetryBudget | None = None,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.exchange = exchange
        self.venue: str = exchange.id
        self.instruments = dict(instruments)
        self.sink = sink
        self.ledger = ledger
        self.journal: Journal = journal if journal is not None else MemoryJournal()
        self.session = session
        self.policy = policy or OutcomePolicy()
        self.backoff = backoff or Backoff()
        self.budget = budget or getattr(exchange, "neo_budget", None) or RetryBudget()
        self.clock = clock
        self.sleep = sleep
        self.stats = BrokerStats()
        self.tracked: dict[OrderId, Tracked] = {}
        self.held: dict[OrderId, list[Order]] = {}
        self.by_exchange_id: dict[str, OrderId] = {}
        self.last_price: dict[InstrumentId, float] = {}
        self._trades_since: dict[str, int] = {}
        self._fee_prices: dict[str, tuple[float, float]] = {}  # pair: (price, monotonic s)
        self._oco_filled: set[str] = set()
        self._finished: set[OrderId] = set()  # refused or cancelled before reaching the venue

    # -- the Broker protocol --------------------------------------------------------------
    def submit(self, order: Order) -> None:
        now = self.clock()
        order = order.transition(OrderStatus.SUBMITTED, now)
        self.sink(OrderSubmitted(ts=now, order=order))
        spec = self.instruments.get(order.instrument)
        if spec is None:
            self._reject_local(
                order,
                f"{order.instrument} is not an instrument of this broker: "
                "load it with load_instruments first",
            )
            return
        if order.parent_id is not None and self._hold_leg(order):
            return
        self._place(order, spec)

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        held = self._pop_held(order_id)
        if held is not None:
            self._finish(held, OrderStatus.CANCELLED, reason or "cancelled")
            return
        tracked = self.tracked.get(order_id)
        if tracked is None or tracked.order.is_terminal or tracked.exchange_id is None:
            return
        symbol = tracked.order.instrument.symbol
        try:
            self._retry(
                lambda: self.exchange.cancel_order(tracked.exchange_id, symbol),
                f"cancel {tracked.client_id}",
            )
        except ExchangeOrderNotFoundError:
            pass  # finished meanwhile: the refresh below says how
        except NeoError as exc:
            log.warning("cancel of %s failed: %s", tracked.client_id, exc)
            self._count(exc)
            return
        self._refresh(tracked, cancel_reason=reason or "cancelled")

    def cancel_all(self, instrument: InstrumentId | None = None, reason: str = "") -> None:
        for order in list(self.open_orders(instrument)):
            self.cancel(order.id, reason)

    def open_orders(self, instrument: InstrumentId | None = None) -> Sequence[Order]:
        working = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
        out = [t.order for t in self.tracked.values() if t.order.status in working]
        out += [o for legs in self.held.values() for o in legs]
        return sorted(
            (o for o in out if instrument in (None, o.instrument)), key=lambda o: o.created_ns
        )

    def fee_rate(self, instrument: InstrumentId, *, maker: bool = False) -> float:
        spec = self.instruments.get(instrument)
        if spec is None:
            return 0.0
        return spec.maker_fee if maker else spec.taker_fee

    def bar_hooks(self) -> BarHooks | None:
        return None

    # -- beyond the protocol: the live driver calls these ------------------------------------
    def note_price(self, instrument: InstrumentId, price: float) -> None:
        """The latest price the feed saw (sizing and the notional check use it)."""
        self.last_price[instrument] = price

    def adopt(
        self,
        order: Order,
        client_order_id: str,
        *,
        exchange_order_id: str | None = None,
        outcome: Outcome = Outcome.UNKNOWN,
    ) -> Tracked:
        """Take over an order a previous run journalled (restart): with ``outcome`` unknown
        (intent, sent or unknown in the journal) the next :meth:`poll` resolves it by its
        client order id — found: tracked on; absent after the strikes and a targeted query:
        sent with that same id. Only NEO's own journalled orders are adopted, never another
        bot's. The order keeps the status the journal had."""
        spec = self.instruments[order.instrument]
        if order.status is OrderStatus.NEW:
            order = order._evolve(status=OrderStatus.SUBMITTED)
        request = rounded_request(self.exchange, order, spec, order.quantity, order.limit_price)
        tracked = Tracked(
            order=order,
            client_id=client_order_id,
            request=request if isinstance(request, Request) else None,
            exchange_id=exchange_order_id,
            outcome=outcome,
        )
        self.tracked[order.id] = tracked
        if exchange_order_id is not None:
            self.by_exchange_id[exchange_order_id] = order.id
        return tracked

    def unknown_orders(self) -> list[Tracked]:
        return [t for t in self.tracked.values() if t.outcome is Outcome.UNKNOWN]

    def poll(self) -> None:
        """Bring every order up to date: resolve unknown creates, refresh working orders
        (status, fills, not-found strikes), and pick up trades made meanwhile."""
        for tracked in list(self.tracked.values()):
            if tracked.outcome is Outcome.UNKNOWN:
                self._resolve(tracked, attempts=1)
            elif not tracked.order.is_terminal and tracked.exchange_id is not None:
                self._refresh(tracked)
        for symbol in {t.order.instrument.symbol for t in self.tracked.values()}:
            self._poll_trades(symbol)

    def on_trade(self, trade: dict[str, Any], source: str = "ws") -> bool:
        """A trade from ``watch_my_trades`` (or any source); True when it was a new fill."""
        oid = self.by_exchange_id.get(str(trade.get("order")))
        tracked = None if oid is None else self.tracked.get(oid)
        if tracked is None:
            return False  # not NEO's order (another bot's): never adopted here
        return self._apply_trade(tracked, trade, source)

    # -- placing ------------------------------------------------------------------------------
    def _place(self, order: Order, spec: Instrument) -> None:
        reference = self._reference_price(order)
        quantity = order.quantity
        if order.equity_fraction is not None:
            sized = self._equity_quantity(order, spec, reference)
            if sized is None:
                self._finish(order, OrderStatus.CANCELLED, INSUFFICIENT_EQUITY)
                return
            quantity = sized
        request = rounded_request(self.exchange, order, spec, quantity, reference)
        if isinstance(request, str):
            self._reject_local(order, request)
            return
        if request.amount != order.quantity:
            order = order._evolve(quantity=request.amount)
        client_id = self.journal.record_intent(order, self.session)
        tracked = Tracked(order=order, client_id=client_id, request=request)
        self.tracked[order.id] = tracked
        self._send(tracked)

    def _send(self, tracked: Tracked) -> None:
        request = tracked.request
        if request is None:  # an order is sent only once its request was built
            raise RuntimeError(f"order {tracked.client_id} has no request to send")
        self.journal.record_sent(tracked.client_id)
        tracked.outcome = Outcome.SENT
        self.stats.creates += 1
        params = {**request.params, "clientOrderId": tracked.client_id}
        try:
            answer = self.exchange.create_order(
                request.symbol, request.type, request.side, request.amount, request.price, params
            )
        except Exception as raw:
            error = translate(raw, self.venue)
            self._count(error)
            verdict = self.policy.after_create_error(error)
            if verdict is CreateVerdict.REJECTED and tracked.resends == 0:
                self.stats.rejected += 1
                self._finish_tracked(tracked, OrderStatus.REJECTED, str(error))
                return
            if verdict is CreateVerdict.REJECTED:
                # A refused re-send may be the venue's "duplicate order" (the first did
                # arrive): resolved by client id like any unknown; if the venue then has no
                # such order, the refusal was its answer, and the order is rejected, never
                # sent a third time.
                tracked.refusal = str(error)
            self.stats.unknown += 1
            tracked.outcome = Outcome.UNKNOWN
            self.journal.record_outcome(tracked.client_id, Outcome.UNKNOWN, reason=str(error))
            log.warning(
                "order %s: no clear answer (%s); resolving by client order id",
                tracked.client_id,
                error,
            )
            self._resolve(
                tracked,
                attempts=self.policy.resolve_attempts,
                retry_after=retry_after_seconds(self.exchange.last_response_headers),
            )
            return
        self._acknowledge(tracked, answer)

    def _acknowledge(self, tracked: Tracked, answer: dict[str, Any]) -> None:
        tracked.exchange_id = str(answer.get("id"))
        tracked.outcome = Outcome.ACKNOWLEDGED
        tracked.strikes = 0
        self.by_exchange_id[tracked.exchange_id] = tracked.order.id
        self.journal.record_outcome(
            tracked.client_id, Outcome.ACKNOWLEDGED, exchange_order_id=tracked.exchange_id
        )
        now = self.clock()
        if tracked.order.status is OrderStatus.SUBMITTED:
            tracked.order = tracked.order.transition(OrderStatus.ACCEPTED, now)
            self._journal_status(tracked)
            self.sink(OrderAccepted(ts=now, order=tracked.order))
        if answer.get("status") is None and answer.get("filled") is None:
            self._refresh(tracked)  # a bare acknowledgement (Kraken's txid): ask at once
        else:
            self._absorb(tracked, answer)

    # -- resolving unknown creates ------------------------------------------------------------
    def _resolve(self, tracked: Tracked, attempts: int, retry_after: float | None = None) -> None:
        for attempt in range(attempts):
            if attempts > 1:
                self.sleep(self.backoff.delay(attempt, retry_after))
                retry_after = None
            try:
                found = self._find(tracked, targeted=False)
            except RetryableError as exc:
                self._count(exc)
                continue
            if found is not None:
                self._acknowledge(tracked, found)
                return
            tracked.strikes = self.journal.record_not_found(tracked.client_id)
            if self._after_absent(tracked, sent=True):
                return

    def _after_absent(self, tracked: Tracked, *, sent: bool) -> bool:
        """Apply the policy to one more not-found answer; True when the order was settled
        (re-sent, or declared lost)."""
        verdict = self.policy.after_not_found(tracked.strikes, None, sent=sent)
        if verdict is NotFoundVerdict.WAIT:
            return False
        try:
            found = self._find(tracked, targeted=True)
        except RetryableError as exc:
            self._count(exc)
            return False
        if found is not None:
            self._acknowledge(tracked, found) if sent else self._absorb(tracked, found)
            return True
        if sent:
            if tracked.refusal is not None:  # absent, and its re-send was refused
                self.stats.rejected += 1
                self._finish_tracked(tracked, OrderStatus.REJECTED, tracked.refusal)
                return True
            if tracked.request is None or not self.policy.may_resend(tracked.resends):
                return False  # stays unknown: an operator (or a restart) decides
            tracked.resends += 1
            self.stats.resends += 1
            tracked.strikes = 0
            log.warning(
                "order %s never reached %s: sending it again with the same client id",
                tracked.client_id,
                self.venue,
            )
            self._send(tracked)
            return True
        self.stats.lost += 1
        tracked.outcome = Outcome.LOST
        self.journal.record_outcome(
            tracked.client_id,
            Outcome.LOST,
            exchange_order_id=tracked.exchange_id,
            reason="the exchange no longer knows this order",
        )
        self._finish_tracked(
            tracked,
            OrderStatus.CANCELLED,
            f"lost: {self.venue} did not know it after {tracked.strikes} "
            "queries and a search of open and closed orders",
        )
        return True

    def _find(self, tracked: Tracked, *, targeted: bool) -> dict[str, Any] | None:
        """The exchange's view of the order: ``fetch_order`` by its exchange id, or by its
        client id where the venue answers that; ``targeted`` (or a venue that cannot be asked
        by client id, e.g. Kraken through ccxt) searches the open and closed orders of its
        symbol for the client id."""
        by_client_id = self.venue not in _NO_CLIENT_ID_FETCH
        if tracked.exchange_id is not None or by_client_id:
            found = self._fetch_order(tracked)
            if found is not None or not targeted:
                return found
        return self._search(tracked)

    def _fetch_order(self, tracked: Tracked) -> dict[str, Any] | None:
        symbol = tracked.order.instrument.symbol
        cid = tracked.client_id
        params = {} if tracked.exchange_id is not None else {"clientOrderId": cid}
        try:
            found: dict[str, Any] = self.exchange.fetch_order(
                tracked.exchange_id or "", symbol, params
            )
        except Exception as raw:
            error = translate(raw, self.venue)
            if not _says_unknown(error):
                raise error from None
            return None
        return found if found and found.get("clientOrderId") in (None, cid) else None

    def _search(self, tracked: Tracked) -> dict[str, Any] | None:
        symbol = tracked.order.instrument.symbol
        for method, capability in _LISTINGS:
            if not self.exchange.has.get(capability):
                continue
            try:
                listing = getattr(self.exchange, method)(symbol)
            except Exception as raw:
                error = translate(raw, self.venue)
                if _says_unknown(error):
                    continue  # nothing listed
                raise error from None
            for candidate in listing:
                if candidate.get("clientOrderId") == tracked.client_id:
                    return dict(candidate)
        return None

    # -- refreshing working orders -------------------------------------------------------------
    def _refresh(self, tracked: Tracked, cancel_reason: str = "") -> None:
        try:
            found = self._find(tracked, targeted=False)
        except NeoError as exc:
            self._count(exc)
            return
        if found is None:
            tracked.strikes = self.journal.record_not_found(tracked.client_id)
            self._after_absent(tracked, sent=False)
            return
        tracked.strikes = 0
        self._absorb(tracked, found, cancel_reason)

    def _absorb(self, tracked: Tracked, answer: dict[str, Any], cancel_reason: str = "") -> None:
        """Apply the exchange's view of an order: its trades, then its final status."""
        for trade in answer.get("trades") or []:  # complete ones only; else my-trades has it
            if all(trade.get(key) is not None for key in ("id", "price", "amount", "timestamp")):
                side = trade.get("side") or tracked.order.side.value
                self._apply_trade(tracked, {**trade, "side": side}, "rest")
        filled = float(answer.get("filled") or 0.0)
        if filled > tracked.order.filled_quantity + 1e-12:
            self._poll_trades(tracked.order.instrument.symbol)
        status = CCXT_STATUS.get(str(answer.get("status")))
        if status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
            reason = cancel_reason or f"{answer.get('status')} by {self.venue}"
            self._finish_tracked(tracked, status, reason)

    def _poll_trades(self, symbol: str) -> None:
        since = trades_since(self._trades_since.get(symbol))
        try:
            trades = self._retry(
                lambda: self.exchange.fetch_my_trades(symbol, since), f"fetch_my_trades {symbol}"
            )
        except NeoError as exc:
            self._count(exc)
            return
        for trade in trades:
            self.on_trade(trade, "rest")
            stamp = trade.get("timestamp")
            if stamp is not None:
                self._trades_since[symbol] = max(self._trades_since.get(symbol, 0), int(stamp))

    def _apply_trade(self, tracked: Tracked, trade: dict[str, Any], source: str) -> bool:
        trade_id = str(trade.get("id"))
        if trade_id in tracked.trade_ids:
            return False  # already applied (REST polls overlap by design)
        spec = self.instruments[tracked.order.instrument]
        fill = trade_to_fill(trade, tracked.order.id, spec, self._fee_price)
        order = tracked.order
        if order.is_terminal or fill.quantity > order.remaining_quantity + 1e-9 * order.quantity:
            self.stats.overfills_refused += 1
            log.error(
                "refused fill %s of %s for order %s (%s): only %s remained",
                trade_id,
                fill.quantity,
                tracked.client_id,
                order.status,
                0.0 if order.is_terminal else order.remaining_quantity,
            )
            return False
        try:
            new = self.journal.record_fill(fill, client_order_id=tracked.client_id, source=source)
        except OverfillError as exc:
            self.stats.overfills_refused += 1
            log.error("refused fill %s: %s", trade_id, exc)
            return False
        if not new:
            tracked.trade_ids.add(trade_id)
            self.stats.duplicate_fills += 1
            return False
        tracked.trade_ids.add(trade_id)
        tracked.fee_base += fill.fee_base
        if order.status is OrderStatus.SUBMITTED:
            order = order.transition(OrderStatus.ACCEPTED, fill.ts or self.clock())
        tracked.order = order.with_fill(fill.quantity, fill.price, fill.ts or self.clock())
        self._journal_status(tracked)
        self.last_price[spec.id] = fill.price
        if self.ledger is not None:
            self.ledger.apply_fill(fill)
        self.sink(OrderFilled(ts=fill.ts or self.clock(), order=tracked.order, fill=fill))
        if tracked.order.status is OrderStatus.FILLED:
            self._on_filled(tracked)
        return True

    # -- bracket legs ---------------------------------------------------------------------------
    def _hold_leg(self, order: Order) -> bool:
        """Hold a bracket leg until its entry fills; True when it was held (or dropped)."""
        parent = self.tracked.get(order.parent_id) if order.parent_id else None
        if parent is not None and parent.order.status is OrderStatus.FILLED:
            return False
        now = self.clock()
        gone = order.parent_id in self._finished or (
            parent is not None and parent.order.is_terminal
        )
        if gone:  # the entry never made it (refused, cancelled): nothing to protect
            self._reject_local(order, f"entry {order.parent_id} was not filled: leg dropped")
            return True
        order = order.transition(OrderStatus.ACCEPTED, now)
        self.held.setdefault(order.parent_id or OrderId(""), []).append(order)
        self.sink(OrderAccepted(ts=now, order=order))
        return True

    def _pop_held(self, order_id: OrderId) -> Order | None:
        for parent, legs in self.held.items():
            for leg in legs:
                if leg.id == order_id:
                    legs.remove(leg)
                    if not legs:
                        del self.held[parent]
                    return leg
        return None

    def _on_filled(self, tracked: Tracked) -> None:
        order = tracked.order
        self.journal.record_outcome(
            tracked.client_id, Outcome.FINAL, exchange_order_id=tracked.exchange_id
        )
        tracked.outcome = Outcome.FINAL
        if order.oco_group:
            self._oco_filled.add(order.oco_group)
        for leg in self.held.pop(order.id, []):  # the entry filled: its legs go out now
            if leg.oco_group is not None and leg.oco_group in self._oco_filled:
                self._finish(leg, OrderStatus.CANCELLED, f"oco: group {leg.oco_group} filled")
            else:
                self._place(self._within_entry(tracked, leg), self.instruments[leg.instrument])
        if order.oco_group:
            for other in list(self.open_orders(order.instrument)):
                if other.oco_group == order.oco_group and other.id != order.id:
                    self.cancel(other.id, f"oco: {order.id} filled")

    def _within_entry(self, entry: Tracked, leg: Order) -> Order:
        """``leg`` (an exit of ``entry``) cut to what the entry left in the account, in whole
        lots: a fee taken in the coins bought is not there to sell (Binance spot)."""
        if not entry.fee_base or leg.side is entry.order.side:
            return leg
        order = entry.order
        received = abs(order.side.sign * order.filled_quantity - entry.fee_base)
        cap = self.instruments[leg.instrument].round_quantity(received)
        if cap <= 0.0 or leg.quantity <= cap:  # nothing whole to sell: the venue says so
            return leg
        return msgspec.structs.replace(leg, quantity=cap)

    # -- sizing ---------------------------------------------------------------------------------
    def _reference_price(self, order: Order) -> float | None:
        if order.limit_price is not None:
            return order.limit_price
        known = self.last_price.get(order.instrument)
        if known is not None:
            return known
        symbol = order.instrument.symbol
        for fetch in (self._ticker_price, self._candle_price):
            try:
                price = fetch(symbol)
            except Exception as raw:  # one try each: a price estimate is not worth a backoff
                self._count(translate(raw, self.venue))
                continue
            if price is not None and price > 0:
                return price
        return None

    def _ticker_price(self, symbol: str) -> float | None:
        if not self.exchange.has.get("fetchTicker"):
            return None
        ticker = self.exchange.fetch_ticker(symbol)
        price = ticker.get("last") or ticker.get("close")
        return None if price is None else float(price)

    def _candle_price(self, symbol: str) -> float | None:
        rows = self.exchange.fetch_ohlcv(symbol, "1m", None, 2)
        return float(rows[-1][4]) if rows else None

    def _equity_quantity(self, order: Order, spec: Instrument, price: float | None) -> float | None:
        """``equity_fraction`` of the account's value in this market (quote + base at
        ``price``), capped by what is free to spend (quote to buy, base to sell), fee included;
        None when it comes to less than one lot."""
        if price is None or price <= 0 or order.equity_fraction is None:
            return None
        try:
            balance = self._retry(self.exchange.fetch_balance, "fetch_balance")
        except NeoError as exc:
            self._count(exc)
            return None
        free, total = balance.get("free") or {}, balance.get("total") or {}
        quote_free = float(free.get(spec.quote) or 0.0)
        base_free = float(free.get(spec.base) or 0.0)
        equity = float(total.get(spec.quote) or 0.0) + float(total.get(spec.base) or 0.0) * price
        budget = order.equity_fraction * equity
        if order.side is Side.BUY:
            units = min(budget, quote_free) / (price * (1.0 + spec.taker_fee))
        else:
            units = min(budget / price, base_free)
        units = spec.round_quantity(units)
        return units if units >= max(spec.lot_size, spec.min_quantity) else None

    # -- finishing ------------------------------------------------------------------------------
    def _reject_local(self, order: Order, reason: str) -> None:
        """Refused before anything was sent (never journalled as sent, never retried)."""
        self.stats.rejected += 1
        self._finished.add(order.id)
        if order.status is not OrderStatus.SUBMITTED:  # a held leg was already accepted
            self._finish(order, OrderStatus.CANCELLED, reason)
            return
        now = self.clock()
        done = order.transition(OrderStatus.REJECTED, now, reason)
        self.sink(OrderRejected(ts=now, order=done, reason=reason))

    def _reject(self, tracked: Tracked, reason: str) -> None:
        now = self.clock()
        tracked.order = tracked.order.transition(OrderStatus.REJECTED, now, reason)
        self._journal_status(tracked)
        self.sink(OrderRejected(ts=now, order=tracked.order, reason=reason))

    def _finish(self, order: Order, status: OrderStatus, reason: str) -> None:
        self._finished.add(order.id)
        now = self.clock()
        done = order.transition(status, now, reason)
        if status is OrderStatus.EXPIRED:
            self.sink(OrderExpired(ts=now, order=done))
        else:
            self.sink(OrderCancelled(ts=now, order=done, reason=reason))

    def _finish_tracked(self, tracked: Tracked, status: OrderStatus, reason: str) -> None:
        order = tracked.order
        if order.is_terminal:
            return
        if status is OrderStatus.REJECTED and order.status is not OrderStatus.SUBMITTED:
            status = OrderStatus.CANCELLED
        now = self.clock()
        if status is OrderStatus.REJECTED:
            self._reject(tracked, reason)
        else:
            tracked.order = order.transition(status, now, reason)
            if tracked.outcome is not Outcome.LOST:  # a lost order keeps its last known status
                self._journal_status(tracked)
            event = (
                OrderExpired(ts=now, order=tracked.order)
                if status is OrderStatus.EXPIRED
                else OrderCancelled(ts=now, order=tracked.order, reason=reason)
            )
            self.sink(event)
        for leg in self.held.pop(order.id, []):
            self._finish(leg, OrderStatus.CANCELLED, f"entry {order.id} {status}")
        if tracked.outcome is not Outcome.LOST:
            tracked.outcome = Outcome.FINAL
            self.journal.record_outcome(
                tracked.client_id,
                Outcome.FINAL,
                exchange_order_id=tracked.exchange_id,
                reason=reason,
            )

    # -- helpers --------------------------------------------------------------------------------
    def _journal_status(self, tracked: Tracked) -> None:
        order = tracked.order
        self.journal.record_status(
            tracked.client_id,
            order.status,
            filled_quantity=order.filled_quantity,
            average_fill_price=order.average_fill_price or None,
            exchange_order_id=tracked.exchange_id,
            reason=order.reason or None,
        )

    def _fee_price(self, currency: str, quote: str) -> float | None:
        """One ``currency`` (a fee coin such as BNB) in ``quote``: the last price of its market
        with ``quote`` (or the inverse of the reverse market's), kept :data:`FEE_PRICE_TTL_S`.
        None when the venue lists neither market or the ticker cannot be had."""
        now = time.monotonic()
        pair = f"{currency}/{quote}"
        kept = self._fee_prices.get(pair)
        if kept is not None and now - kept[1] < FEE_PRICE_TTL_S:
            return kept[0]
        markets = getattr(self.exchange, "markets", None) or {}
        for symbol, inverse in ((pair, False), (f"{quote}/{currency}", True)):
            if symbol not in markets:
                continue
            try:
                ticker = self._retry(partial(self.exchange.fetch_ticker, symbol),
                                     f"fetch_ticker {symbol}")  # fmt: skip
            except NeoError as exc:
                self._count(exc)
                return None if kept is None else kept[0]
            last = _ticker_price(ticker)
            if last is None:
                continue
            price = 1.0 / last if inverse else last
            self._fee_prices[pair] = (price, now)
            return price
        return None if kept is None else kept[0]

    def _retry(self, call: Callable[[], Any], what: str) -> Any:
        return retry_call(
            call,
            what=f"{self.venue} {what}",
            translate=lambda e: translate(e, self.venue),
            backoff=self.backoff,
            budget=self.budget,
            sleep=self.sleep,
            retry_after=lambda: retry_after_seconds(self.exchange.last_response_headers),
            on_retry=lambda exc, _delay: self._count(exc),
        )

    def _count(self, error: BaseException) -> None:
        kind = error_kind(error)
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1


def ccxt_broker(exchange: Any, **options: Any) -> BrokerFactory:
    """A :data:`BrokerFactory` for the drivers (``run_paper(..., broker=ccxt_broker(ex))``)."""

    def build(
        instruments: Mapping[InstrumentId, Instrument], sink: EventSink, ledger: Ledger
    ) -> CcxtBroker:
        return CcxtBroker(exchange, instruments, sink, ledger, **options)

    return build


def fills_of(events: Sequence[Any]) -> list[Fill]:
    """The fills among broker events (tests and reports)."""
    return [e.fill for e in events if isinstance(e, OrderFilled)]
