"""A trading session that survives crashes: the one loop, a feed, a broker and a journal.

Paper and live sessions run the same :class:`~neo.engine.loop.AutonomousTradingLoop` as
backtests; what this module adds is durability. Every bar processed, every order (under NEO's
client order id) and every fill is written to a :class:`~neo.engine.journal.SessionJournal`,
with a checkpoint after each completed time step (the loop's portfolio and risk step: one bar
per instrument).

Resuming after a crash (``SIGKILL`` included)
---------------------------------------------
On start the journal is read. A new session records what it was started with; a known one must
be started with the same strategy, parameters, instruments and timeframe (else it refuses and
says to use a new ``--session``). Then the session **re-executes the bars it had completed**,
in the same order and with the same step boundaries, through a fresh loop:

* with the simulated broker (paper), the broker is deterministic: re-execution rebuilds exactly
  the ledger (cash, positions, trade list), the broker's working orders (with their internal
  state: which bars they have met, equity-fraction sizing), the strategy's and the predictor's
  state (indicators, anything ``on_fill`` kept) and the risk layer's basis. Every order and
  fill it produces is **checked against the journal**: the n-th order must get the same client
  id, instrument, side, type and prices, a fill the same trade id, quantity and price. A
  difference (the strategy's code or data changed) refuses the restart instead of trading on a
  state the journal does not show. Nothing is written again, nothing leaves the process.
* at the end the ledger must equal the last checkpoint's cash and positions, or it refuses.

Then the feed resumes: bars up to the checkpoint's step are skipped (a replayed or simulated
feed delivers them again; an exchange feed back-fills from there), and the step that was cut
short by the crash is run again from its first bar. Its order and fill records, if some were
written before the crash, are met again under the same client ids and trade ids and are not
written twice (client ids are deterministic: the n-th order of the session is ``<prefix>-n``).

Garbage collection: while a session trades, CPython's collector runs between steps, after the
step's orders are sent, not at whatever allocation of a bar's cycle crosses its threshold; the
heap alive when trading starts is frozen (:class:`~neo.engine.collector.StepCollector`;
``quiet_gc=False`` leaves the interpreter's settings alone).

Why re-execution rather than restoring a snapshot: a snapshot of strategy objects would need
every strategy (user code included) to be serialisable, and would not restore the simulated
broker's internal order state; re-execution needs only determinism, which the backtest/paper
parity already guarantees, and the journal check proves it at every restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from neo.domain.bar import Bar
from neo.domain.errors import ReconcileError, SessionError
from neo.domain.events import (
    ORDER_STATUS_EVENTS,
    Event,
    OrderFilled,
    OrderSubmitted,
)
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.engine.bus import MessageBus
from neo.engine.collector import StepCollector
from neo.engine.config import EngineConfig
from neo.engine.journal import (
    BarRecord,
    Checkpoint,
    FillRecord,
    JournalState,
    OrderRecord,
    SessionJournal,
    SessionMeta,
)
from neo.engine.loop import AutonomousTradingLoop, Predictor
from neo.engine.paper import Feed, TimeSteps, build_paper_loop
from neo.engine.venue import VenueBroker, venue_broker
from neo.execution.broker import BrokerFactory
from neo.execution.config import ExecutionConfig
from neo.logs import get_logger
from neo.portfolio.base import PortfolioConstructor
from neo.risk.base import RiskGate
from neo.risk.killswitch import KillSwitch
from neo.strategies.base import Strategy

log = get_logger("engine.live")

CASH_TOLERANCE = 1e-6
"""Relative difference allowed between replayed and checkpointed cash (float sums)."""


def client_prefix(session: str) -> str:
    """``neo`` and 8 hex digits of the session name: NEO's client order ids of this session
    (``<prefix>-<n>``, at most 22 characters of ``[a-z0-9-]``, Binance's rule) and the mark by
    which reconciliation tells NEO's orders from another bot's."""
    return "neo" + hashlib.blake2s(session.encode(), digest_size=4).hexdigest()


class Recorder:
    """Writes every order change and fill the loop's bus carries into the journal, once.

    Loop order ids (process-local) are mapped to client ids in the order orders first appear,
    so a re-execution gives each order the client id it had. A record the journal already
    holds (same client id and state, same trade id) is verified, not written again.
    """

    def __init__(
        self, journal: SessionJournal, state: JournalState, prefix: str, fill_scope: str
    ) -> None:
        self.journal = journal
        self.state = state
        self.prefix = prefix
        self.fill_scope = fill_scope
        self.cids: dict[OrderId, str] = {}
        self.seq = 0
        self.written_orders = 0
        self.written_fills = 0
        self.writing = True
        """False while a venue session replays (its journal has every record already)."""
        self.fills_from_events = True
        """False at a venue: the exchange broker journals its fills itself."""
        self.bar = 0

    def attach(self, bus: MessageBus) -> None:
        for kind in ORDER_STATUS_EVENTS:
            bus.subscribe(kind, self.on_event)

    def cid_of(self, order_id: OrderId) -> str | None:
        return self.cids.get(order_id)

    def next_cid(self) -> str:
        """The client id the next new order will get."""
        return f"{self.prefix}-{self.seq + 1}"

    def on_event(self, event: Event) -> None:
        order: Order = event.order  # type: ignore[attr-defined]
        cid = self.cids.get(order.id)
        if cid is None:
            self.seq += 1
            cid = self.cids[order.id] = f"{self.prefix}-{self.seq}"
            record = order_record(cid, order)
            known = self.state.first.get(cid)
            if known is not None and known.identity() != record.identity():
                raise ReconcileError(
                    f"order {cid} was {_describe(known)} in the journal but the restart "
                    f"decides {_describe(record)}: the strategy, its parameters or the bars "
                    "changed since the session started; start a new --session"
                )
        else:
            record = order_record(cid, order)
        if not self.writing:
            return
        latest = self.state.orders.get(cid)
        if latest is not None and isinstance(event, OrderSubmitted):
            # decided again by the re-run of a step a crash cut short: its submission is the
            # journal's first record of it, and what followed (up to filled and final) is
            # there too; written again it would be the order's last word, "nothing filled"
            return
        if latest is not None and (latest.outcome or latest.exchange_id):
            record = msgspec.structs.replace(
                record, outcome=latest.outcome, exchange_id=latest.exchange_id
            )
        self.write_order(msgspec.structs.replace(record, bar=self.bar))
        if isinstance(event, OrderFilled) and self.fills_from_events:
            self._fill(cid, event)

    def write_order(self, record: OrderRecord) -> None:
        """Write an order change once (a change the journal holds is not written again)."""
        key = (record.cid, *record.state())
        if key in self.state.states:
            return
        self.journal.record_order(record)
        self.state.add(record)
        self.written_orders += 1

    def write_fill(self, record: FillRecord) -> None:
        if record.trade_id not in self.state.fills:
            self.journal.record_fill(record)
            self.state.add(record)
        self.written_fills += 1

    def _fill(self, cid: str, event: OrderFilled) -> None:
        fill = event.fill
        trade_id = f"{self.fill_scope}{fill.trade_id}"
        known = self.state.fills.get(trade_id)
        if known is not None:
            if (
                known.cid != cid
                or not _close(known.quantity, fill.quantity, 1e-12)
                or not _close(known.price, fill.price, 1e-12)
            ):
                raise ReconcileError(
                    f"fill {trade_id} was {known.quantity:g} @ {known.price:g} of {known.cid} "
                    f"in the journal but the restart fills {fill.quantity:g} @ {fill.price:g} "
                    f"of {cid}; start a new --session"
                )
            return
        record = FillRecord.of(fill, trade_id=trade_id, cid=cid, source="sim", bar=self.bar)
        if self.journal.record_fill(record):
            self.written_fills += 1
        self.state.add(record)


class RecordedStaleness:
    """The staleness the risk gate reads in a durable session: a snapshot taken when each bar is
    journaled (and stored with it), not the feed's wall-clock judgement at order time.

    A replay after a crash must decide every entry as the run did; the feed's staleness
    depends on when bars were received, which a replay cannot see again, so the run records
    it and the replay reads it back (:attr:`BarRecord.stale`)."""

    def __init__(self, ids: Sequence[InstrumentId], source: Any) -> None:
        self.ids = list(ids)
        self.source = source
        """The feed (``is_stale(instrument, engine_ts)``), or None: nothing is ever stale."""
        self.current: frozenset[int] = frozenset()

    def judge(self, ids: Sequence[InstrumentId], ts: int) -> tuple[int, ...]:
        """Ask the feed which instruments are stale now (engine time ``ts``), keep and return
        that snapshot for the journal."""
        if self.source is None:
            return ()
        stale = tuple(k for k, iid in enumerate(ids) if self.source.is_stale(iid, ts))
        self.current = frozenset(stale)
        return stale

    def is_stale(self, instrument: InstrumentId, engine_ts: int | None = None) -> bool:
        try:
            return self.ids.index(instrument) in self.current
        except ValueError:
            return False


def order_record(cid: str, order: Order) -> OrderRecord:
    return OrderRecord(
        cid=cid,
        instrument=str(order.instrument),
        side=order.side.value,
        type=order.type.value,
        quantity=order.quantity,
        status=order.status.value,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        filled_quantity=order.filled_quantity,
        average_fill_price=order.average_fill_price,
        reason=order.reason,
        tag=order.tag,
        equity_fraction=order.equity_fraction,
        created_ns=order.created_ns,
        updated_ns=order.updated_ns,
    )


def _describe(record: OrderRecord) -> str:
    price = "" if record.limit_price is None else f" @ {record.limit_price:g}"
    stop = "" if record.stop_price is None else f" stop {record.stop_price:g}"
    return f"{record.side} {record.type} {record.instrument}{price}{stop}"


def _close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


class CheckpointSteps(TimeSteps):
    """The paper driver's step boundaries, with a journal checkpoint after each step."""

    def __init__(self, loop: AutonomousTradingLoop, session: TradingSession) -> None:
        super().__init__(loop)
        self.session = session

    def close(self) -> None:
        ts = self.ts
        super().close()
        if ts is not None:
            self.session.step_done(ts)


@dataclass(slots=True)
class SessionResult:
    """What a session run did (this process) and where the account stands."""

    session: str
    mode: str
    resumed: bool
    replayed_bars: int
    bars: int
    new_bars: int
    orders: int
    fills: int
    cash: float
    equity: float
    positions: dict[str, float]
    stopped_by: str
    reconciled: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "mode": self.mode,
            "resumed": self.resumed,
            "replayed_bars": self.replayed_bars,
            "bars": self.bars,
            "new_bars": self.new_bars,
            "orders": self.orders,
            "fills": self.fills,
            "cash": self.cash,
            "equity": self.equity,
            "positions": self.positions,
            "reconciled": self.reconciled,
            "stopped_by": self.stopped_by,
        }


Reconcile = Callable[["TradingSession"], Awaitable[dict[str, Any]]]
"""Runs after the replay, before the first new bar: compares the restored state with the
broker's (a live venue: open orders, fills made while down, balances) and raises
:class:`~neo.domain.errors.ReconcileError` when they cannot be made to agree."""


class TradingSession:
    """One durable paper or live session (see the module docstring).

    Parameters
    ----------
    name, mode, account:
        The session's name (its journal), ``paper`` or ``live``, and the account it trades
        (``paper`` or ``exchange:<venue>:<label>``).
    strategy, feed, instruments:
        What runs on which bars; ``instruments`` gives the specs of the feed's instruments.
    journal:
        Where its state is kept.
    broker:
        Builds the broker (the simulated one with ``execution`` when omitted).
    fill_scope:
        Prefix of trade ids in the journal: a simulated broker numbers its fills per process,
        so its trade ids are scoped to the session; a venue's are unique already (``""``).
    reconcile:
        Checks against the venue after the replay (:data:`Reconcile`).
    cycles:
        Stop once the session has processed this many bars in all (restarts included).
    quiet_gc:
        Collect garbage between steps, with the start-up heap frozen (module docstring).
    """

    def __init__(
        self,
        *,
        name: str,
        strategy: Strategy,
        feed: Feed,
        journal: SessionJournal,
        instruments: Mapping[InstrumentId, Instrument],
        mode: str = "paper",
        account: str = "paper",
        execution: ExecutionConfig | None = None,
        engine: EngineConfig | None = None,
        risk: RiskGate | None = None,
        portfolio: PortfolioConstructor | None = None,
        predictor: Predictor | None = None,
        broker: BrokerFactory | None = None,
        exchange_broker: BrokerFactory | None = None,
        fill_scope: str | None = None,
        reconcile: Reconcile | None = None,
        cycles: int | None = None,
        on_step: Callable[[TradingSession], None] | None = None,
        live_from_ns: int = 0,
        quiet_gc: bool = True,
    ) -> None:
        self.name = name
        self.mode = mode
        self.account = account
        self.strategy = strategy
        self.feed = feed
        self.journal = journal
        self.ids = list(feed.instruments)
        self.index = {iid: k for k, iid in enumerate(self.ids)}
        self.instruments = {iid: instruments[iid] for iid in self.ids}
        self.execution = execution or ExecutionConfig()
        self.cycles = cycles
        self.on_step = on_step
        self.live_from = live_from_ns
        self._tf_ns = feed.timeframe.nanos
        self.prefix = client_prefix(name)
        self._reconcile = reconcile
        self.risk = risk
        self._stale = RecordedStaleness(self.ids, getattr(risk, "staleness", None))
        if self._stale.source is not None:
            risk.staleness = self._stale  # type: ignore[union-attr]
        self.venue: VenueBroker | None = None
        if exchange_broker is not None:
            broker = venue_broker(self, exchange_broker)
        self.state = JournalState()
        self.committed_bars = 0
        self.recorder = Recorder(journal, self.state, self.prefix, f"{name}:")
        self.bus = MessageBus()
        self.recorder.attach(self.bus)
        self.loop = build_paper_loop(
            strategy,
            self.instruments,
            feed.timeframe,
            execution=self.execution,
            engine=engine,
            risk=risk,
            portfolio=portfolio,
            predictor=predictor,
            bus=self.bus,
            broker=broker,
        )
        self.loop.mode = mode
        scope = f"{name}:" if fill_scope is None else fill_scope
        self.recorder.fill_scope = scope
        self.recorder.fills_from_events = self.venue is None
        self.replaying = False
        self.last_step = -1
        self.collector = StepCollector() if quiet_gc else None
        self.held = False
        self.holding = False
        self._go: asyncio.Event | None = None

    # ------------------------------------------------------------------ control
    def hold(self) -> None:
        """Take no further step until :meth:`release` (a user's pause). The bars wait in the
        feed and nothing is decided or sent meanwhile; the journal holds only the steps that
        ran, so a restart replays exactly those. (Pausing the loop instead would let bars
        through undecided, which a replay could not tell from decided ones.) Call it on the
        session's event loop."""
        self.held = True
        if self._go is not None:
            self._go.clear()

    def release(self) -> None:
        """Step again; the bars that waited come through, judged stale if they are."""
        self.held = False
        if self._go is not None:
            self._go.set()

    # ------------------------------------------------------------------ metadata
    def meta(self) -> SessionMeta:
        return SessionMeta(
            session=self.name,
            mode=self.mode,
            account=self.account,
            strategy=self.strategy.name,
            params={k: _plain(v) for k, v in self.strategy.param_values().items()},
            instruments=[str(iid) for iid in self.ids],
            timeframe=str(self.feed.timeframe),
            cash=self.execution.cash,
            tag=self.prefix,
            live_from=self.live_from,
        )

    def _check_meta(self, known: SessionMeta) -> None:
        mine = self.meta()
        for name in ("mode", "account", "strategy", "params", "instruments", "timeframe", "cash"):
            was, now = getattr(known, name), getattr(mine, name)
            if was != now:
                raise SessionError(
                    f"session {self.name!r} was started with {name} {was!r}, not {now!r}: "
                    "resume it with the same settings, or start a new --session"
                )

    # ------------------------------------------------------------------ running
    async def run(self) -> SessionResult:
        """Resume (or start), reconcile, then trade the feed until it ends or ``cycles``."""
        loaded = self.journal.load()
        self.state.meta = loaded.meta
        self.state.first = loaded.first
        self.state.orders = loaded.orders
        self.state.states = loaded.states
        self.state.fills = loaded.fills
        self.state.checkpoint = loaded.checkpoint
        if loaded.meta is None:
            self.journal.start(self.meta())
        else:
            self._check_meta(loaded.meta)
            self.live_from = loaded.meta.live_from
        self.loop.start()
        steps = CheckpointSteps(self.loop, self)
        replayed = self._replay(loaded, steps)
        reconciled: dict[str, Any] = {}
        if self.venue is not None:
            self.venue.go_live()
            reconciled = self.venue.reconcile()
        if self._reconcile is not None:
            reconciled.update(await self._reconcile(self))
        reason = "feed ended"
        new_bars = 0
        self._go = asyncio.Event()
        if not self.held:
            self._go.set()
        if self.collector is not None:
            self.collector.start()
        try:
            reason, new_bars = await self._trade(steps)
        finally:
            if self.collector is not None:
                self.collector.stop()
            self.loop.stop(reason)
        ledger = self.loop.ledger
        return SessionResult(
            session=self.name,
            mode=self.mode,
            resumed=loaded.meta is not None,
            replayed_bars=replayed,
            bars=self.committed_bars,
            new_bars=new_bars,
            orders=self.recorder.seq,
            fills=ledger.fill_count,
            cash=ledger.cash,
            equity=ledger.equity,
            positions={str(i): ledger.position(i) for i in self.ids},
            stopped_by=reason,
            reconciled=reconciled,
        )

    def _replay(self, loaded: JournalState, steps: CheckpointSteps) -> int:
        """Re-execute the completed steps (module docstring); nothing is written or sent."""
        checkpoint = loaded.checkpoint
        if checkpoint is None or not loaded.bars:
            return 0
        self.replaying = True
        # The account's kill switch is honoured from now on; the past is replayed as it ran
        # (its own limits, in memory), so a halt set while the session was down does not make
        # the replay decide differently from the journal.
        switch = getattr(self.risk, "kill_switch", None)
        if switch is not None:
            self.risk.kill_switch = KillSwitch(None, keep_basis=False)  # type: ignore[union-attr]
        venue = self.venue
        if venue is not None:
            venue.start_replay(loaded)
            self.recorder.writing = False
        try:
            for record in loaded.bars:
                bar = self._bar_of(record)
                self._stale.current = frozenset(record.stale)  # as the run judged it
                steps.before(bar)
                if venue is not None:
                    venue.before_bar(self.committed_bars)
                self._push(bar)
                self._count_bar()
                steps.after(bar)
            if steps.ts is not None and steps.ts <= checkpoint.step_ts:
                steps.close()  # the checkpoint was written after this step closed
            if venue is not None:
                venue.before_bar(self.committed_bars)  # what the last step's end recorded
        finally:
            self.replaying = False
            self.recorder.writing = True
            if switch is not None:
                self.risk.kill_switch = switch  # type: ignore[union-attr]
        self.last_step = checkpoint.step_ts
        self._verify(checkpoint)
        self.recorder.seq = max(self.recorder.seq, checkpoint.orders)
        log.info(
            "session resumed",
            extra={"session": self.name, "bars": len(loaded.bars), "step_ts": checkpoint.step_ts},
        )
        return len(loaded.bars)

    def _verify(self, checkpoint: Checkpoint) -> None:
        ledger = self.loop.ledger
        if self.committed_bars != checkpoint.bars:
            raise ReconcileError(
                f"session {self.name!r}: the journal holds {self.committed_bars} bars before "
                f"its checkpoint, which counts {checkpoint.bars}; the journal is damaged"
            )
        scale = max(1.0, abs(checkpoint.cash))
        if abs(ledger.cash - checkpoint.cash) > CASH_TOLERANCE * scale:
            raise ReconcileError(
                f"session {self.name!r}: replaying its bars gives cash {ledger.cash:.8f}, the "
                f"checkpoint says {checkpoint.cash:.8f}; start a new --session"
            )
        for iid in self.ids:
            held = ledger.position(iid)
            saved = checkpoint.positions.get(str(iid), 0.0)
            if not _close(held, saved, 1e-9):
                raise ReconcileError(
                    f"session {self.name!r}: replaying its bars gives a position of {held:g} "
                    f"{iid}, the checkpoint says {saved:g}; start a new --session"
                )

    async def _trade(self, steps: CheckpointSteps) -> tuple[str, int]:
        new = 0
        loop = self.loop
        go = self._go
        async for bar in self.feed.stream():
            if go is not None and not go.is_set():
                self.holding = True  # a bar is waiting: the hold is in effect
                try:
                    await go.wait()
                finally:
                    self.holding = False
            if loop.state.value == "stopped":
                return "loop stopped", new
            if bar.ts <= self.last_step:
                continue  # done before the restart
            k = self.index.get(bar.instrument)
            if k is None:
                continue
            steps.before(bar)
            if self.cycles is not None and self.committed_bars >= self.cycles:
                steps.close()
                return f"{self.cycles} cycles", new
            self.journal.append_bar(k, bar, self._stale.judge(self.ids, bar.ts))
            if self.venue is not None:
                self.venue.note_price(bar.instrument, bar.close)
                self.venue.before_bar(self.committed_bars)
            self._push(bar)
            self._count_bar()
            new += 1
            steps.after(bar)
            if new % 512 == 0:
                await asyncio.sleep(0)
        steps.close()
        return "feed ended", new

    def _push(self, bar: Bar) -> None:
        """Push ``bar``; a bar of the warm-up (closed by ``live_from``) extends indicators and
        marks the ledger but calls no strategy, so it decides nothing."""
        loop = self.loop
        if bar.ts + self._tf_ns <= self.live_from:
            loop.pause()
        elif loop.state.value == "paused":
            loop.resume()
        loop.push_bar(bar)

    def _count_bar(self) -> None:
        self.committed_bars += 1
        self.recorder.bar = self.committed_bars

    def step_done(self, ts: int) -> None:
        """A step closed: write the checkpoint (not while replaying what one already covers)."""
        if self.replaying:
            return
        self.last_step = ts
        ledger = self.loop.ledger
        self.journal.checkpoint(
            Checkpoint(
                bars=self.committed_bars,
                step_ts=ts,
                orders=self.recorder.seq,
                fills=ledger.fill_count,
                cash=ledger.cash,
                equity=ledger.equity,
                positions={str(i): ledger.position(i) for i in self.ids},
                next_seq=self.recorder.seq + 1,
            )
        )
        if self.on_step is not None:
            self.on_step(self)
        if self.collector is not None:
            self.collector.after_step()  # the step's orders are sent: collect now

    def _bar_of(self, record: BarRecord) -> Bar:
        return Bar(
            instrument=self.ids[record.k],
            timeframe=self.feed.timeframe,
            ts=record.ts,
            open=record.open,
            high=record.high,
            low=record.low,
            close=record.close,
            volume=record.volume,
        )


def _plain(value: Any) -> Any:
    """A parameter value as JSON keeps it (so a restart compares like with like)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
