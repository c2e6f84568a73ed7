"""Sessions at a real venue (``neo live``): replay from the journal, adopt, reconcile.

With the simulated broker a restart simply re-executes its bars (:mod:`neo.engine.live`). At
an exchange nothing may be sent again, so :class:`VenueBroker` stands between the loop and the
exchange broker (:class:`~neo.adapters.ccxt.broker.CcxtBroker`) and has three modes:

* **replay** (the completed steps at a restart): the loop re-executes its bars and decides its
  orders again; each one gets its client id back (the n-th order of the session, checked
  against the journal) and is answered **from the journal**, never sent: the acceptance,
  fills and cancellations recorded for it are played back at the bar they were recorded at.
  The ledger, the strategy, the loop's working orders all end as they were at the checkpoint.
* **adoption** (going live): every order the journal leaves working is handed to the exchange
  broker under its client id and exchange id, with the trade ids already booked, and one
  ``poll`` brings each up to date: fills made while NEO was down are booked (once, by trade
  id), orders cancelled meanwhile are closed, an order whose create had no answer is resolved
  by its client id. An order of the step the crash cut short (journalled, perhaps sent, not
  checkpointed) is **not** sent again when the loop decides it anew: it is adopted under its
  client id and resolved at the exchange (sent again with the same id only if the exchange
  says it never arrived, by the outcome policy).
* **live**: orders go to the exchange broker, which journals the intent before each create
  call and the outcome after it (:class:`VenueJournal`). Fills a websocket stream heard
  (:attr:`VenueBroker.fill_inbox`) are booked before each bar, ahead of the broker's REST poll,
  so they land at the same point of the loop as REST fills (a replay plays them back there).

Reconciliation then compares with the exchange: its open orders (those carrying this session's
client-id prefix must all be known: adopted; any other is another bot's and is left alone),
and its balances (a position the ledger holds must be held at the exchange). A report that
cannot be fetched, or that disagrees, refuses the start with the reason (never assume flat).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec

from neo.domain.enums import LiquiditySide, OrderStatus, Side
from neo.domain.errors import NeoError, ReconcileError
from neo.domain.events import (
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.engine.journal import FillRecord, JournalState, OrderRecord
from neo.execution.broker import BarHooks, BrokerFactory, EventSink
from neo.execution.ledger import Ledger
from neo.logs import get_logger

if TYPE_CHECKING:
    from neo.adapters.ccxt.journal import Journal
    from neo.engine.live import TradingSession

log = get_logger("engine.venue")
_WORKING = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED)


class VenueJournal:
    """The exchange broker's order journal (``neo.adapters.ccxt.journal.Journal``), written
    into the session's journal: intents under the session's deterministic client ids."""

    def __init__(self, session: TradingSession, venue: str) -> None:
        self.session = session
        self.venue = venue
        self.applied: set[str] = set()
        """Journal trade ids booked in this process's ledger (replayed or new)."""
        self.strikes: dict[str, int] = {}

    def _write(self, cid: str, order: Order | None = None, **changes: Any) -> None:
        state = self.session.state
        known = state.orders.get(cid)
        if order is not None:
            from neo.engine.live import order_record

            base = order_record(cid, order)
            if known is not None:
                base = msgspec.structs.replace(
                    base, outcome=known.outcome, exchange_id=known.exchange_id
                )
        elif known is not None:
            base = known
        else:
            return
        record = msgspec.structs.replace(base, bar=self.session.committed_bars, **changes)
        self.session.recorder.write_order(record)

    def record_intent(self, order: Order, session: str | None) -> str:
        cid = self.session.recorder.cid_of(order.id)
        if cid is None:  # the broker always reports OrderSubmitted first
            raise ReconcileError(f"order {order.id} reached the exchange broker unannounced")
        self._write(cid, order, outcome="intent")
        return cid

    def record_sent(self, client_order_id: str) -> None:
        self._write(client_order_id, outcome="sent")

    def record_outcome(
        self,
        client_order_id: str,
        outcome: str,
        *,
        exchange_order_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {"outcome": str(outcome)}
        if exchange_order_id:
            changes["exchange_id"] = exchange_order_id
        if reason:
            changes["reason"] = reason
        self._write(client_order_id, **changes)

    def record_status(
        self,
        client_order_id: str,
        status: OrderStatus,
        *,
        quantity: float | None = None,
        filled_quantity: float | None = None,
        average_fill_price: float | None = None,
        exchange_order_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {"status": str(status)}
        for name, value in (("quantity", quantity), ("filled_quantity", filled_quantity),
                            ("average_fill_price", average_fill_price),
                            ("exchange_id", exchange_order_id), ("reason", reason)):  # fmt: skip
            if value is not None:
                changes[name] = value
        self._write(client_order_id, **changes)

    def record_not_found(self, client_order_id: str) -> int:
        """One more strike for an order the venue does not know (kept for this process: a
        restart resolves every open order by client id before trading anyway)."""
        self.strikes[client_order_id] = self.strikes.get(client_order_id, 0) + 1
        return self.strikes[client_order_id]

    def record_fill(
        self, fill: Fill, *, client_order_id: str | None = None, source: str = "sim"
    ) -> bool:
        if client_order_id is None:
            raise ReconcileError(f"fill {fill.trade_id} reached the journal without its order")
        trade_id = f"{self.venue}:{fill.trade_id}"
        if trade_id in self.applied:
            return False
        self.applied.add(trade_id)
        record = FillRecord.of(
            fill, trade_id=trade_id, cid=client_order_id, source=source,
            bar=self.session.committed_bars,
        )  # fmt: skip
        self.session.recorder.write_fill(record)
        return True


class _Replayed:
    """An order the replay answered from the journal."""

    __slots__ = ("cid", "exchange_id", "order", "outcome", "trade_ids")

    def __init__(self, order: Order, cid: str) -> None:
        self.order = order
        self.cid = cid
        self.exchange_id = ""
        self.outcome = "intent"
        self.trade_ids: set[str] = set()


class VenueBroker:
    """The session's broker at a venue: replay, adoption, then the exchange broker (see the
    module docstring). Implements :class:`~neo.execution.broker.Broker`."""

    def __init__(
        self,
        session: TradingSession,
        make_inner: BrokerFactory,
        instruments: Mapping[InstrumentId, Instrument],
        sink: EventSink,
        ledger: Ledger,
    ) -> None:
        self.session = session
        self.sink = sink
        self.ledger = ledger
        self.instruments = dict(instruments)
        inner: Any = make_inner(instruments, sink, ledger)
        self.inner = inner
        self.venue: str = getattr(inner, "venue", "")
        self.journal = VenueJournal(session, self.venue)
        checked: Journal = self.journal  # the exchange broker's protocol, checked by mypy
        inner.journal = checked  # the exchange broker journals into the session's journal
        inner.session = session.name
        self.replaying = False
        self._replayed: dict[OrderId, _Replayed] = {}
        self._records: dict[str, deque[OrderRecord | FillRecord]] = defaultdict(deque)
        self._tail: dict[str, OrderRecord] = {}
        self.adopted: list[str] = []
        self._unsettled: set[OrderId] = set()
        """Exchange orders not final when :meth:`inner_has_work` last looked."""
        self._scanned = 0
        """How many of the exchange broker's orders it has seen (new ones come last)."""
        self.fill_inbox: Any = None
        """Trades a websocket fills stream heard (``neo.adapters.ccxt.fills_stream.FillInbox``):
        drained into the exchange broker where REST fills are applied (:meth:`before_bar`)."""

    # ------------------------------------------------------------------ the Broker protocol
    def submit(self, order: Order) -> None:
        if self.replaying:
            self._replay_submit(order)
            return
        cid = self.session.recorder.next_cid()
        tail = self._tail.pop(cid, None)
        if tail is not None:
            self._adopt_tail(order, cid, tail)
            return
        self.inner.submit(order)

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        if not self.replaying:
            self.inner.cancel(order_id, reason)

    def cancel_all(self, instrument: InstrumentId | None = None, reason: str = "") -> None:
        if not self.replaying:
            self.inner.cancel_all(instrument, reason)

    def open_orders(self, instrument: InstrumentId | None = None) -> Sequence[Order]:
        if not self.replaying:
            found: Sequence[Order] = self.inner.open_orders(instrument)
            return found
        return [
            r.order
            for r in self._replayed.values()
            if r.order.status in _WORKING and instrument in (None, r.order.instrument)
        ]

    def fee_rate(self, instrument: InstrumentId, *, maker: bool = False) -> float:
        rate: float = self.inner.fee_rate(instrument, maker=maker)
        return rate

    def bar_hooks(self) -> BarHooks | None:
        return None

    # ------------------------------------------------------------------ replay
    def start_replay(self, state: JournalState) -> None:
        """Index the journal's settled records by client id, for :meth:`before_bar`."""
        self.replaying = True
        for record in state.history:
            self._records[record.cid].append(record)
        settled = 0 if state.checkpoint is None else state.checkpoint.orders
        for record in state.tail:
            if isinstance(record, OrderRecord) and _seq(record.cid) > settled:
                self._tail[record.cid] = record  # the latest word on it
        self.journal.applied = {r.trade_id for r in state.history if isinstance(r, FillRecord)}

    def before_bar(self, bar_index: int) -> None:
        """Replay: play back what the journal recorded at this bar for orders already known.
        Live: bring working orders up to date (fills, cancels) before the bar's cycle."""
        if self.replaying:
            for replayed in list(self._replayed.values()):
                self._play(replayed, bar_index)
        else:
            if self.fill_inbox is not None:  # websocket fills first: the poll then skips them
                self.fill_inbox.drain(self.inner.on_trade)
            if self.inner_has_work():
                self.inner.poll()

    def inner_has_work(self) -> bool:
        """Whether an order at the exchange may still change (then it is polled before the
        bar's cycle). Only orders new since the last look, or not final then, are looked at
        again: the exchange broker keeps every order of the session, and a scan of them all
        on every bar grew the bar-to-order latency with the session's history."""
        tracked: dict[OrderId, Any] = getattr(self.inner, "tracked", {})
        new = len(tracked) - self._scanned
        if new < 0:  # pragma: no cover - the exchange broker never forgets an order
            self._unsettled, new = set(), len(tracked)
        if new:
            self._unsettled.update(islice(reversed(tracked.keys()), new))
            self._scanned = len(tracked)
        if self._unsettled:
            self._unsettled = {oid for oid in self._unsettled if not tracked[oid].order.is_terminal}
        return bool(self._unsettled)

    def note_price(self, instrument: InstrumentId, price: float) -> None:
        note = getattr(self.inner, "note_price", None)
        if note is not None:
            note(instrument, price)

    def _replay_submit(self, order: Order) -> None:
        now = order.created_ns
        order = order.transition(OrderStatus.SUBMITTED, now)
        self.sink(OrderSubmitted(ts=now, order=order))
        cid = self.session.recorder.cid_of(order.id)
        if cid is None:  # pragma: no cover - the recorder maps every submitted order
            return
        replayed = _Replayed(order, cid)
        self._replayed[order.id] = replayed
        self._play(replayed, self.session.committed_bars)

    def _play(self, replayed: _Replayed, bar_index: int) -> None:
        queue = self._records.get(replayed.cid)
        while queue and queue[0].bar <= bar_index:
            record = queue.popleft()
            if isinstance(record, FillRecord):
                self._play_fill(replayed, record)
            else:
                self._play_order(replayed, record)

    def _play_order(self, replayed: _Replayed, record: OrderRecord) -> None:
        replayed.outcome = record.outcome or replayed.outcome
        replayed.exchange_id = record.exchange_id or replayed.exchange_id
        order = replayed.order
        if record.quantity != order.quantity and not order.is_terminal:
            # the exchange broker sized or rounded it (equity fraction, lot grid) before sending
            order = replayed.order = msgspec.structs.replace(order, quantity=record.quantity)
        status = OrderStatus(record.status)
        now = record.updated_ns or order.updated_ns
        if status is order.status or order.is_terminal:
            return
        if status is OrderStatus.ACCEPTED and order.status is OrderStatus.SUBMITTED:
            replayed.order = order.transition(status, now)
            self.sink(OrderAccepted(ts=now, order=replayed.order))
        elif status is OrderStatus.REJECTED:
            replayed.order = order.transition(status, now, record.reason)
            self.sink(OrderRejected(ts=now, order=replayed.order, reason=record.reason))
        elif status is OrderStatus.CANCELLED:
            replayed.order = self._accepted(order, now).transition(status, now, record.reason)
            self.sink(OrderCancelled(ts=now, order=replayed.order, reason=record.reason))
        elif status is OrderStatus.EXPIRED:
            replayed.order = self._accepted(order, now).transition(status, now, record.reason)
            self.sink(OrderExpired(ts=now, order=replayed.order))

    def _accepted(self, order: Order, now: int) -> Order:
        if order.status is OrderStatus.SUBMITTED:
            order = order.transition(OrderStatus.ACCEPTED, now)
            self.sink(OrderAccepted(ts=now, order=order))
        return order

    def _play_fill(self, replayed: _Replayed, record: FillRecord) -> None:
        order = self._accepted(replayed.order, record.ts)
        if record.quantity > order.quantity - order.filled_quantity + 1e-9 * order.quantity:
            order = msgspec.structs.replace(order, quantity=order.filled_quantity + record.quantity)
        fill = Fill(
            order_id=order.id,
            trade_id=TradeId(record.trade_id.partition(":")[2] or record.trade_id),
            instrument=order.instrument,
            side=Side(record.side),
            quantity=record.quantity,
            price=record.price,
            fee=record.fee,
            ts=record.ts,
            liquidity=LiquiditySide.TAKER,
            fee_base=record.fee_base,
        )
        replayed.trade_ids.add(str(fill.trade_id))
        self.ledger.apply_fill(fill)
        replayed.order = order.with_fill(fill.quantity, fill.price, fill.ts)
        self.sink(OrderFilled(ts=fill.ts, order=replayed.order, fill=fill))

    # ------------------------------------------------------------------ going live
    def go_live(self) -> None:
        """Hand every order the replay left working to the exchange broker, under its ids."""
        self.replaying = False
        for replayed in self._replayed.values():
            if replayed.order.status in _WORKING:
                self._adopt(replayed.order, replayed.cid, replayed.exchange_id, replayed.outcome,
                            replayed.trade_ids)  # fmt: skip
        self._replayed.clear()
        self._records.clear()

    def _adopt(
        self, order: Order, cid: str, exchange_id: str, outcome: str, trade_ids: set[str]
    ) -> None:
        from neo.adapters.ccxt.broker import Tracked
        from neo.adapters.ccxt.outcome import Outcome

        known = outcome in ("acknowledged",) and bool(exchange_id)
        tracked = Tracked(
            order=order,
            client_id=cid,
            exchange_id=exchange_id or None,
            outcome=Outcome.ACKNOWLEDGED if known else Outcome.UNKNOWN,
            trade_ids=set(trade_ids),
        )
        self.inner.tracked[order.id] = tracked
        if exchange_id:
            self.inner.by_exchange_id[exchange_id] = order.id
        self.adopted.append(cid)
        log.info("adopted order %s (%s) from the journal", cid, tracked.outcome)

    def _adopt_tail(self, order: Order, cid: str, record: OrderRecord) -> None:
        """The loop decided again an order the crash cut short: adopt it, never send twice.

        Journalled no further than its intent, the create was never called (the broker writes
        ``sent`` before calling): it is placed as any new order. Sent or beyond, it may be at
        the exchange: adopted with the quantity it was sent with and resolved by client id.
        """
        if record.outcome in ("", "intent"):
            self.inner.submit(order)
            return
        now = order.created_ns
        order = order.transition(OrderStatus.SUBMITTED, now)
        self.sink(OrderSubmitted(ts=now, order=order))
        if record.identity() != self.session.recorder.state.first[cid].identity():
            raise ReconcileError(f"order {cid} was decided differently after the restart")
        order = msgspec.structs.replace(order, quantity=record.quantity, equity_fraction=None)
        self._adopt(order, cid, record.exchange_id, record.outcome, set())
        tracked = self.inner.tracked[order.id]
        if tracked.exchange_id is not None:
            self.inner._refresh(tracked)
            if tracked.order.status is OrderStatus.SUBMITTED:
                tracked.order = tracked.order.transition(OrderStatus.ACCEPTED, now)
                self.sink(OrderAccepted(ts=now, order=tracked.order))
        else:
            tracked.request = self._request(order)
            self.inner._resolve(tracked, attempts=self.inner.policy.resolve_attempts)

    def _request(self, order: Order) -> Any:
        from neo.adapters.ccxt.orders import rounded_request

        spec = self.instruments[order.instrument]
        request = rounded_request(
            self.inner.exchange, order, spec, order.quantity, order.limit_price
        )
        return None if isinstance(request, str) else request

    # ------------------------------------------------------------------ reconciliation
    def reconcile(self) -> dict[str, Any]:
        """Poll adopted orders, then compare open orders and balances with the exchange."""
        exchange = self.inner.exchange
        try:
            self.inner.poll()
            opened = self._open_orders(exchange)
            balance = exchange.fetch_balance()
        except NeoError as exc:
            raise ReconcileError(
                f"cannot reconcile with {self.venue}: {exc}; refusing to trade on a state "
                "the exchange did not confirm (start again once it answers)"
            ) from None
        except Exception as raw:  # a ccxt error the adapter did not translate
            raise ReconcileError(
                f"cannot reconcile with {self.venue}: {type(raw).__name__}: {raw}; refusing "
                "to trade on a state the exchange did not confirm"
            ) from None
        prefix = self.session.prefix + "-"
        known = {t.client_id for t in self.inner.tracked.values()}
        mine = [o for o in opened if str(o.get("clientOrderId") or "").startswith(prefix)]
        strangers = [o for o in mine if o.get("clientOrderId") not in known]
        if strangers:
            ids = ", ".join(str(o.get("clientOrderId")) for o in strangers[:5])
            raise ReconcileError(
                f"{self.venue} has open orders of this session that its journal does not know "
                f"({ids}); the journal is not this account's: refusing to start"
            )
        self._check_balances(balance)
        return {
            "adopted": list(self.adopted),
            "open_orders_of_session": len(mine),
            "other_open_orders_ignored": len(opened) - len(mine),
            "fills_booked": self.journal_new_fills(),
        }

    def journal_new_fills(self) -> int:
        return self.session.recorder.written_fills

    def _open_orders(self, exchange: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for iid in self.instruments:
            found.extend(exchange.fetch_open_orders(iid.symbol))
        return found

    def _check_balances(self, balance: Mapping[str, Any]) -> None:
        """A position the ledger holds must be at the exchange. The ledger books a fee taken
        in the bought asset as not held (:attr:`~neo.domain.fill.Fill.fee_base`); the bound
        still allows for such fees, for journals written before fills recorded them (their
        replay books the whole quantity), and for the whole of each sell of the step a
        crash cut short that may have reached the exchange (sent or beyond): the replay stops
        at the checkpoint, so none of that step's fills is in the ledger yet, even those its
        journal records show (the re-run of the step adopts the order and books them then).
        Counting only the part the records left unfilled refused a restart after a sell that
        had filled and been journalled just before the kill, though nothing was missing."""
        totals = balance.get("total") or {}
        unresolved: dict[str, float] = defaultdict(float)
        for record in self._tail.values():
            if record.outcome not in ("", "intent") and record.side == "sell":
                unresolved[record.instrument] += record.quantity
        for iid, spec in self.instruments.items():
            held = self.ledger.position(iid)  # below 0: it sold coins the account held before
            if spec.base not in totals:
                if held > 0:
                    raise ReconcileError(
                        f"{self.venue} reported no {spec.base} balance while the session holds "
                        f"{held:g}; refusing to assume it is flat"
                    )
                continue
            there = float(totals.get(spec.base) or 0.0)
            slack = 2 * spec.taker_fee * held + spec.lot_size + unresolved[str(iid)]
            if there + slack < held:
                raise ReconcileError(
                    f"{self.venue} holds {there:g} {spec.base} but the session's ledger holds "
                    f"{held:g}: fills are missing from the journal; refusing to start"
                )


def _seq(cid: str) -> int:
    tail = cid.rpartition("-")[2]
    return int(tail) if tail.isdigit() else -1


def venue_broker(session: TradingSession, make_inner: BrokerFactory) -> BrokerFactory:
    """A BrokerFactory wrapping ``make_inner`` (the exchange broker) in a :class:`VenueBroker`."""

    def build(
        instruments: Mapping[InstrumentId, Instrument], sink: EventSink, ledger: Ledger
    ) -> VenueBroker:
        broker = VenueBroker(session, make_inner, instruments, sink, ledger)
        session.venue = broker
        return broker

    return build
