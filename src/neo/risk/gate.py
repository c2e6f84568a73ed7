"""PreTradeRiskGate: every order is judged before it leaves the process, and portfolio limits
engage the kill switch.

Exposure limits judge the position the order could *result in*: the current position moved by
the remaining quantity of every working order on the instrument plus this order, taking the
largest |position| any subset of them could reach in any fill order (reduce-only orders only move
toward zero), valued at the highest of the last price and the plain orders' own prices. Limits
therefore hold whatever subset of working orders fills. Orders that can only shrink a position
(``reduce_only``, an opposite order no larger than the position net of other exits, or a bracket
leg that closes its working entry) skip the exposure, open-order and rate limits, so exits are
never blocked; they still meet the precision, minimum-notional and price-band checks.

Price band (``price_band_pct`` = b around the last price L, ``[L(1-b), L(1+b)]``):

* a **limit** price on the aggressive side beyond the band (a buy above, a sell below) is
  denied for every order: it would trade at once at a price far from the market (fat finger).
  A passive limit beyond the band is denied unless the order is reduce-only (a far take-profit
  is fine, a far entry is probably a typo).
* a **stop trigger** is a condition on the market, not a price the order pays (a triggered stop
  trades at the market), so it is never "aggressive": a protective sell stop below the market
  (or buy stop above) only rests. Beyond the band it is allowed for reduce-only orders
  (protective stops and bracket legs may sit anywhere) and denied for opening orders.
* a **stop-limit**'s limit becomes live at the trigger, so it is judged like a limit against
  the trigger, or against L when the trigger is already crossed (the order is live at once).

Minimum notional: an order worth less than the instrument's ``min_notional`` (quantity × its
limit, stop or last price × multiplier) is denied, as the exchange would, except an order that
closes the *whole* position (a reduce-only order at least as large as it, or a plain opposite
order exactly its size): a position below the minimum must always be closable.

Reason codes (:data:`REASON_CODES`, stable; each denial is counted in :attr:`counters`):

``kill_switch``            new exposure while the kill switch is engaged
``stale_data``             new exposure on an instrument whose market data is stale (older
                           than two bars, see :attr:`PreTradeRiskGate.staleness`)
``reduce_only``            a reduce-only order that would not reduce the position
``quantity_precision``     quantity off the lot grid or below the instrument's minimum quantity
``price_precision``        limit or stop price off the tick grid
``min_notional``           order worth less than the instrument's minimum notional
``no_price``               no last price to judge the order by (fail closed)
``price_band``             a price too far from the last price (rules above)
``max_open_orders``        too many orders already working
``max_order_rate``         too many orders in the last minute
``max_position_notional``  the instrument's position could exceed the notional limit
``max_position_pct``       the instrument's position could exceed its share of equity
``max_gross_exposure``     gross exposure could exceed the limit
``max_leverage``           gross exposure over equity could exceed the limit
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from neo.domain.account import AccountView
from neo.domain.enums import OrderType, Side
from neo.domain.events import Event, KillSwitchEngaged, KillSwitchReset
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.logs import get_logger
from neo.risk.base import APPROVED, NO_ACTIONS, RiskActions, RiskVerdict, StalenessSource
from neo.risk.config import RiskConfig
from neo.risk.killswitch import KillSwitch
from neo.risk.stop_manager import StopManager

log = get_logger("risk")

MINUTE_NS = 60_000_000_000
DAY_NS = 86_400 * 1_000_000_000
_EPS = 1e-9

REASON_CODES = (
    "kill_switch",
    "stale_data",
    "reduce_only",
    "quantity_precision",
    "price_precision",
    "min_notional",
    "no_price",
    "price_band",
    "max_open_orders",
    "max_order_rate",
    "max_position_notional",
    "max_position_pct",
    "max_gross_exposure",
    "max_leverage",
)


class RiskEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the risk layer did or saw: a denial, a kill-switch change, a late breach."""

    ts: int
    kind: str
    code: str
    reason: str
    order_id: str = ""
    instrument: str = ""


def _deny(code: str, reason: str) -> RiskVerdict:
    return RiskVerdict(False, code, reason)


def _order_price(order: Order, last: float) -> float:
    price = last
    if order.limit_price is not None and order.limit_price > price:
        price = order.limit_price
    if order.stop_price is not None and order.stop_price > price:
        price = order.stop_price
    return price


class PreTradeRiskGate:
    """The configured RiskGate: pre-trade checks, counters, events and the kill switch.

    Parameters
    ----------
    config
        Limits and kill-switch behaviour.
    state_path
        The account's kill-switch state file, shared with every session trading the account
        (None: memory only). Ignored when ``kill_switch`` is given.
    instruments
        Tick and lot sizes for the precision checks; orders on unknown instruments skip them.
    max_events
        How many recent :class:`RiskEvent` to keep in :attr:`events`.
    kill_switch
        A ready kill switch (e.g. the account's, :func:`neo.risk.account_kill_switch`).
    staleness
        Where market data age comes from (the exchange feed); None: data is never stale.
    """

    def __init__(
        self,
        config: RiskConfig,
        state_path: Path | None = None,
        instruments: Mapping[InstrumentId, Instrument] | None = None,
        *,
        max_events: int = 100_000,
        keep_basis: bool = True,
        kill_switch: KillSwitch | None = None,
        staleness: StalenessSource | None = None,
    ) -> None:
        self.config = config
        self.limits = config.limits
        self.kill_switch = kill_switch or KillSwitch(state_path, keep_basis=keep_basis)
        self.instruments: Mapping[InstrumentId, Instrument] = instruments or {}
        self.stops = None if config.stops is None else StopManager(config.stops, self.instruments)
        """Protective stops at the broker (``[stops]``); the engine runs it after every bar."""
        self.staleness = staleness
        """Stale data stops new exposure (``stale_data``); exits and cancels still go through."""
        self.counters: Counter[str] = Counter()
        """Denials by reason code (only denials)."""
        self.events: deque[RiskEvent] = deque(maxlen=max_events)
        self._sent: deque[int] = deque()
        self._buffer = 1.0 + self.limits.price_buffer_pct
        self._track_rate = self.limits.max_orders_per_minute is not None
        self._multipliers = {
            iid: spec.contract_multiplier
            for iid, spec in self.instruments.items()
            if spec.contract_multiplier != 1.0
        }
        self.engagements = 0
        """How often this gate engaged the kill switch (not a denial: not in counters)."""
        self._has_exposure_limits = any(
            v is not None
            for v in (
                self.limits.max_position_notional,
                self.limits.max_position_pct,
                self.limits.max_gross_exposure,
                self.limits.max_leverage,
            )
        )

    # ------------------------------------------------------------------ pre-trade
    def check(self, order: Order, account: AccountView) -> RiskVerdict:
        """Approve ``order`` or deny it with a stable reason code (see REASON_CODES)."""
        verdict = self._evaluate(order, account)
        if verdict.approved:
            if self._track_rate:
                self._sent.append(account.ts)
            return verdict
        self.counters[verdict.code] += 1
        self.events.append(
            RiskEvent(
                ts=account.ts,
                kind="denied",
                code=verdict.code,
                reason=verdict.reason,
                order_id=order.id,
                instrument=str(order.instrument),
            )
        )
        log.warning(
            "order denied",
            extra={"code": verdict.code, "order": order.id, "reason": verdict.reason},
        )
        return verdict

    def _evaluate(self, order: Order, account: AccountView) -> RiskVerdict:
        equity = account.equity
        if not (math.isfinite(equity) and equity > 0):
            self._engage(f"equity cannot be computed ({equity}): failing closed", account.ts)
        position = account.position(order.instrument)
        working = account.open_orders()
        reduces = order.side.sign * position < 0 and (
            order.quantity + _same_side(working, order) <= abs(position) + _EPS
        )
        if not reduces and order.parent_id is not None:
            reduces = _closes_parent(working, order)
        if order.reduce_only and not reduces:
            return _deny(
                "reduce_only",
                f"reduce-only {order.side} {order.quantity} would not reduce position {position}",
            )
        if self.kill_switch.engaged and not reduces:
            return _deny(
                "kill_switch", f"kill switch engaged ({self.kill_switch.reason}); reset to trade"
            )
        if (
            not reduces
            and self.staleness is not None
            and self.staleness.is_stale(order.instrument, account.ts)
        ):
            return _deny(
                "stale_data",
                f"market data of {order.instrument} is older than two bars: no new exposure "
                "until it is fresh again",
            )
        last = account.price(order.instrument)
        verdict = self._check_precision(order, last, position)
        if verdict is not APPROVED:
            return verdict
        verdict = self._check_price_band(order, last, reduces)
        if verdict is not APPROVED or reduces:
            return verdict
        verdict = self._check_flow(account.ts, working)
        if verdict is not APPROVED or not self._has_exposure_limits:
            return verdict
        return self._check_exposure(order, account, working, position, last, equity)

    def _check_precision(self, order: Order, last: float, position: float) -> RiskVerdict:
        instrument = self.instruments.get(order.instrument)
        if instrument is None or not self.config.check_precision:
            return APPROVED
        if not instrument.is_valid_quantity(order.quantity):
            return _deny(
                "quantity_precision",
                f"quantity {order.quantity} is not a multiple of lot size {instrument.lot_size} "
                f"(or below the minimum {instrument.min_quantity}); round it with "
                "Instrument.round_quantity",
            )
        for price in (order.limit_price, order.stop_price):
            if price is not None and not instrument.is_valid_price(price):
                return _deny(
                    "price_precision",
                    f"price {price} is not a multiple of tick size {instrument.tick_size}; "
                    "round it with Instrument.round_price",
                )
        minimum = instrument.min_notional
        if minimum > 0.0:
            price = order.limit_price or order.stop_price or last
            notional = order.quantity * price * instrument.contract_multiplier
            if notional < minimum and not _closes_whole(order, position):
                return _deny(
                    "min_notional",
                    f"order worth {notional:.6g} is below the minimum notional {minimum:g} of "
                    f"{order.instrument}; trade at least {minimum / price:.6g} units",
                )
        return APPROVED

    def _check_price_band(self, order: Order, last: float, reduces: bool) -> RiskVerdict:
        """The band rules of the module docstring: limits by side, stop triggers on their own."""
        if not (math.isfinite(last) and last > 0):
            if reduces and order.type is OrderType.MARKET:
                return APPROVED
            return _deny("no_price", f"no last price for {order.instrument}: failing closed")
        band = self.limits.price_band_pct
        if band is None:
            return APPROVED
        exit_only = order.reduce_only
        stop, limit = order.stop_price, order.limit_price
        if stop is not None and not exit_only and abs(stop - last) > band * last:
            return _deny(
                "price_band",
                f"stop trigger {stop} is more than {band:.2%} from the last price {last}",
            )
        if limit is None:
            return APPROVED
        buy = order.side is Side.BUY
        reference = last
        if stop is not None and not (stop <= last if buy else stop >= last):
            reference = stop  # the limit goes live only once the market reaches the trigger
        low, high = reference * (1.0 - band), reference * (1.0 + band)
        aggressive = limit > high if buy else limit < low
        if aggressive or (not exit_only and not low <= limit <= high):
            return _deny(
                "price_band",
                f"limit {limit} is more than {band:.2%} from {reference} "
                f"({'the last price' if reference == last else 'its trigger'})",
            )
        return APPROVED

    def _check_flow(self, ts: int, working: Sequence[Order]) -> RiskVerdict:
        limit = self.limits.max_open_orders
        if limit is not None and len(working) + 1 > limit:
            return _deny("max_open_orders", f"{limit} orders are already working")
        rate = self.limits.max_orders_per_minute
        if rate is not None:
            sent = self._sent
            cutoff = ts - MINUTE_NS
            while sent and sent[0] <= cutoff:
                sent.popleft()
            if len(sent) + 1 > rate:
                return _deny("max_order_rate", f"more than {rate} orders in the last minute")
        return APPROVED

    def _check_exposure(
        self,
        order: Order,
        account: AccountView,
        working: Sequence[Order],
        position: float,
        last: float,
        equity: float,
    ) -> RiskVerdict:
        pending = _pending(working)
        book = pending.pop(order.instrument, None) or [0.0, 0.0, 0.0, 0.0, last]
        book[0 if order.side is Side.BUY else 1] += order.quantity
        price = max(book[4], _order_price(order, last))
        price *= self._buffer * self._multiplier(order.instrument)
        worst = _worst_quantity(position, book) * price
        limits = self.limits
        if limits.max_position_notional is not None and worst > limits.max_position_notional:
            return _deny(
                "max_position_notional",
                f"{order.instrument} could reach {worst:.2f} > {limits.max_position_notional}",
            )
        if limits.max_position_pct is not None and worst > limits.max_position_pct * equity:
            return _deny(
                "max_position_pct",
                f"{order.instrument} could reach {worst / equity:.2%} of equity "
                f"> {limits.max_position_pct:.2%}",
            )
        if limits.max_gross_exposure is None and limits.max_leverage is None:
            return APPROVED
        held_now = abs(position) * last * self._buffer * self._multiplier(order.instrument)
        gross = account.gross_exposure * self._buffer - held_now + worst
        gross += self._pending_increase(pending, account)
        if limits.max_gross_exposure is not None and gross > limits.max_gross_exposure:
            return _deny(
                "max_gross_exposure",
                f"gross exposure could reach {gross:.2f} > {limits.max_gross_exposure}",
            )
        if limits.max_leverage is not None and gross > limits.max_leverage * equity:
            return _deny(
                "max_leverage",
                f"leverage could reach {gross / equity:.2f} > {limits.max_leverage}",
            )
        return APPROVED

    def _multiplier(self, iid: InstrumentId) -> float:
        return self._multipliers.get(iid, 1.0)

    def _pending_increase(
        self, pending: dict[InstrumentId, list[float]], account: AccountView
    ) -> float:
        """Extra gross exposure the working orders on other instruments could add."""
        extra = 0.0
        multipliers = self._multipliers
        for iid, (buys, sells, reduce_buys, reduce_sells, top) in pending.items():
            held = account.position(iid)
            last = account.price(iid)
            last = last if last == last else 0.0  # NaN: no price, value at the orders' prices
            upper = held + buys + min(reduce_buys, -held if held < 0.0 else 0.0)
            lower = held - sells - min(reduce_sells, held if held > 0.0 else 0.0)
            worst = max(abs(upper), abs(lower))
            scale = self._buffer * multipliers.get(iid, 1.0)
            extra += (worst * (top if top > last else last) - abs(held) * last) * scale
        return extra

    # ------------------------------------------------------------------ after trading
    def on_fill(self, fill: Fill, account: AccountView) -> None:
        """Record every exposure limit a position ended beyond anyway (a gap through a price,
        a fill larger than the checks could foresee): one ``limit_exceeded_after_fill`` event
        per limit, with the limit's reason code."""
        for code, reason in self._exceeded_after(fill, account):
            self.events.append(
                RiskEvent(
                    ts=fill.ts,
                    kind="limit_exceeded_after_fill",
                    code=code,
                    reason=f"{reason} after a fill",
                    order_id=fill.order_id,
                    instrument=str(fill.instrument),
                )
            )

    def _exceeded_after(self, fill: Fill, account: AccountView) -> list[tuple[str, str]]:
        held = account.position(fill.instrument)
        if abs(held) < abs(held - fill.side.sign * fill.quantity):
            return []  # a reducing fill only ever brings exposure back toward the limits
        limits, slack = self.limits, 1.0 + 1e-9
        notional = abs(held) * fill.price
        notional *= self._multiplier(fill.instrument)
        equity, gross = account.equity, account.gross_exposure
        found = []
        cap = limits.max_position_notional
        if cap is not None and notional > cap * slack:
            found.append(
                ("max_position_notional", f"{fill.instrument} notional {notional:.2f} > {cap}")
            )
        share = limits.max_position_pct
        if share is not None and equity > 0 and notional > share * equity * slack:
            found.append(
                (
                    "max_position_pct",
                    f"{fill.instrument} at {notional / equity:.2%} of equity > {share:.2%}",
                )
            )
        cap = limits.max_gross_exposure
        if cap is not None and gross > cap * slack:
            found.append(("max_gross_exposure", f"gross exposure {gross:.2f} > {cap}"))
        cap = limits.max_leverage
        if cap is not None and equity > 0 and gross > cap * equity * slack:
            found.append(("max_leverage", f"leverage {gross / equity:.2f} > {cap}"))
        return found

    def on_bar(self, account: AccountView) -> RiskActions:
        """Check daily loss and drawdown; when the switch is engaged, ask for cancels and exits.

        The breach actions run once per engagement: ``flatten`` cancels everything and closes
        every position, later bars only re-ask for exits of positions no exit covers;
        ``reduce`` cuts each position once. Whether they ran is persisted with the halt, so a
        restart while engaged re-runs a flatten (idempotent: nothing to close twice) but never
        reduces again; either way it records a ``kill_switch_restored`` event.

        First it re-reads the account's kill-switch state when another process changed it, so
        a halt set elsewhere takes effect at this step and a reset elsewhere is honoured.
        """
        self.kill_switch.refresh()
        self._note_external_change(account.ts)
        reason = self._portfolio_breach(account)
        if reason:
            self._engage(reason, account.ts)
        switch = self.kill_switch
        if not switch.engaged:
            return NO_ACTIONS
        if switch.restored:
            self._record_restore(account.ts)
        first = not switch.actions_done
        if first:
            switch.mark_actions_done()
        elif self.config.on_breach == "reduce":
            return NO_ACTIONS
        orders = self._exit_orders(account, only_uncovered=not first)
        if not first and not orders:
            return NO_ACTIONS
        return RiskActions(cancel_all=first, orders=orders, reason=switch.reason)

    def _record_restore(self, ts: int) -> None:
        switch = self.kill_switch
        switch.restored = False
        redo = self.config.on_breach == "flatten" or not switch.actions_done
        if redo:  # a flatten is idempotent; actions that never ran must run now
            switch.actions_done = False
        detail = "breach actions run again" if redo else "reduction already done, not repeated"
        self.events.append(
            RiskEvent(
                ts=ts,
                kind="kill_switch_restored",
                code="kill_switch",
                reason=f"halt restored after a restart ({switch.reason}); {detail}",
            )
        )
        log.warning("kill switch still engaged after restart", extra={"reason": switch.reason})

    def _portfolio_breach(self, account: AccountView) -> str:
        equity, peak, start = account.equity, account.peak_equity, account.day_start_equity
        if not all(math.isfinite(v) for v in (equity, peak, start)) or equity <= 0:
            return f"equity cannot be computed (equity={equity}, peak={peak}): failing closed"
        switch = self.kill_switch
        switch.update_basis(equity, peak, account.ts // DAY_NS, start)
        peak, start = switch.peak_equity, switch.day_start_equity
        limits = self.limits
        if limits.max_daily_loss_pct is not None and start > 0:
            loss = (start - equity) / start
            if loss >= limits.max_daily_loss_pct:
                return f"daily loss {loss:.2%} reached the limit {limits.max_daily_loss_pct:.2%}"
        if limits.max_drawdown_pct is not None and peak > 0:
            drawdown = (peak - equity) / peak
            if drawdown >= limits.max_drawdown_pct:
                return f"drawdown {drawdown:.2%} reached the limit {limits.max_drawdown_pct:.2%}"
        return ""

    def _exit_orders(self, account: AccountView, *, only_uncovered: bool) -> tuple[Order, ...]:
        covered = (  # by a working market exit; a protective stop or take-profit is no exit
            {
                o.instrument
                for o in account.open_orders()
                if o.reduce_only and o.type is OrderType.MARKET
            }
            if only_uncovered
            else set()
        )
        fraction = 1.0 if self.config.on_breach == "flatten" else self.config.reduce_fraction
        orders: list[Order] = []
        for iid in account.instruments():
            held = account.position(iid)
            if held == 0.0 or iid in covered:
                continue
            quantity = abs(held) * fraction
            instrument = self.instruments.get(iid)
            if instrument is not None and fraction < 1.0:
                quantity = instrument.round_quantity(quantity)
            if quantity <= 0:
                continue
            orders.append(
                Order(
                    id=next_order_id("RISK"),
                    instrument=iid,
                    side=Side.SELL if held > 0 else Side.BUY,
                    quantity=quantity,
                    reduce_only=True,
                    created_ns=account.ts,
                    tag="kill_switch",
                    reason=self.kill_switch.reason,
                )
            )
        return tuple(orders)

    # ------------------------------------------------------------------ kill switch
    def kill_switch_events(self) -> list[Event]:
        """Engagements and resets as domain events, for reports beside the engine's denials."""
        out: list[Event] = []
        for event in self.events:
            if event.kind == "kill_switch_engaged":
                out.append(KillSwitchEngaged(ts=event.ts, reason=event.reason))
            elif event.kind == "kill_switch_reset":
                out.append(KillSwitchReset(ts=event.ts, by=event.reason))
        return out

    def _engage(self, reason: str, ts: int) -> None:
        if self.kill_switch.engage(reason, ts):
            self.engagements += 1
            self.events.append(
                RiskEvent(ts=ts, kind="kill_switch_engaged", code="kill_switch", reason=reason)
            )
        else:
            self._note_external_change(ts)

    def _note_external_change(self, ts: int) -> None:
        """Record a halt or reset another process made to the account (seen on disk)."""
        switch = self.kill_switch
        change = switch.take_change()
        if not change:
            return
        if change == "engaged":
            switch.restored = False  # a live halt, not a restart: its actions run below
            by = f" by {switch.engaged_by}" if switch.engaged_by else ""
            reason = f"{switch.reason} (engaged elsewhere{by})"
        else:
            last = switch.history[-1] if switch.history else {}
            reason = f"reset elsewhere by {last.get('by', '?')}: {last.get('reason', '')}"
        self.events.append(
            RiskEvent(ts=ts, kind=f"kill_switch_{change}", code="kill_switch", reason=reason)
        )
        log.warning(
            f"kill switch {change} by another process", extra={"reason": reason, "bar_ts": ts}
        )

    def reset(self, by: str = "", ts: int = 0) -> None:
        """Explicitly release the kill switch (persisted, recorded with ``by`` as the reason)."""
        self.kill_switch.reset(by)
        self.events.append(
            RiskEvent(ts=ts, kind="kill_switch_reset", code="kill_switch", reason=by)
        )


def _pending(orders: Sequence[Order]) -> dict[InstrumentId, list[float]]:
    """Per instrument: remaining working [buys, sells, reduce-only buys, reduce-only sells,
    highest price of a plain order]."""
    pending: dict[InstrumentId, list[float]] = {}
    for order in orders:
        book = pending.get(order.instrument)
        if book is None:
            book = pending[order.instrument] = [0.0, 0.0, 0.0, 0.0, 0.0]
        slot = (0 if order.side is Side.BUY else 1) + (2 if order.reduce_only else 0)
        book[slot] += order.quantity - order.filled_quantity
        if not order.reduce_only:  # exits never raise |position|, so their price is moot
            book[4] = max(book[4], _order_price(order, 0.0))
    return pending


def _worst_quantity(position: float, book: list[float]) -> float:
    """Largest |position| any subset of the working orders can lead to, in any fill order.

    Plain orders move the position freely. A reduce-only order only fills toward zero, so its
    effect is bounded by the room on its side of zero: at most ``|position|`` when the position
    starts on that side, since filling the opposite plain orders first only lowers the extreme.
    It still counts, because a reduce-only buy that fills before a plain buy lifts the start.
    """
    buys, sells, reduce_buys, reduce_sells = book[0], book[1], book[2], book[3]
    upper = position + buys + min(reduce_buys, max(0.0, -position))
    lower = position - sells - min(reduce_sells, max(0.0, position))
    return max(abs(upper), abs(lower))


def _closes_whole(order: Order, position: float) -> bool:
    """The order closes the whole position (reduce-only: the broker clips it to the position)."""
    if order.side.sign * position >= 0.0:
        return False
    held = abs(position)
    if order.reduce_only:
        return order.quantity >= held - _EPS * max(1.0, held)
    return abs(order.quantity - held) <= _EPS * max(1.0, held)


def _same_side(orders: Sequence[Order], order: Order) -> float:
    """Remaining quantity already working on ``order``'s instrument and side.

    For a reduce-only order other reduce-only orders are left out: the broker caps them at the
    position and bracket legs share an OCO group, so they cannot add up past zero.
    """
    total = 0.0
    for other in orders:
        if other.instrument != order.instrument or other.side is not order.side:
            continue
        if order.reduce_only and other.reduce_only:
            continue
        total += other.quantity - other.filled_quantity
    return total


def _closes_parent(orders: Sequence[Order], order: Order) -> bool:
    """A bracket leg that closes its still-working entry (it activates when the entry fills)."""
    for other in orders:
        if other.id == order.parent_id:
            return (
                other.instrument == order.instrument
                and other.side is not order.side
                and order.quantity <= other.quantity + _EPS
            )
    return False
