"""A session journal that also keeps the SQL state store (``neo.persistence``) up to date.

The session's file journal (:class:`~neo.engine.journal.FileJournal`) stays the source of truth
for a restart: its records are ordered with the bars, which the resume re-executes. The mirror
writes the same facts into the database that the service, the dashboard and ``neo db`` read:
the ``sessions`` row (status, checkpoint), every order under its client order id (status,
outcome, exchange id, fills so far), every fill by trade id, and the account's positions at
each checkpoint.

Writes are idempotent and re-synchronised at each start (:meth:`SqlMirror.load` replays the
file's orders and fills into the database), so a process killed between the file write and the
database write leaves nothing missing after the restart. A database failure is logged and
counted, never allowed to stop a session mid-step: the file journal already holds the record.

Off the order path: an order's records (its intent before the create request, ``sent``, the
answer) are written to the file at once, in order, as the restart needs them; their database
writes (one transaction each, a few milliseconds with SQLite's commit) are **deferred** while an
event loop runs, and flushed, in order, at the step's checkpoint (after the step's orders were
sent) or ``FLUSH_AFTER_S`` later for a record written between steps (a fill the broker learns of
on its own). The database thus lags the file by at most one step; a crash in between loses
nothing, since the next start re-synchronises it from the file. Without a running event loop
(tools, tests) every write goes through at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from neo.domain.enums import LiquiditySide, OrderStatus, OrderType, Side
from neo.domain.errors import NeoError
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.order import Order
from neo.domain.position import Position
from neo.engine.journal import (
    Checkpoint,
    FileJournal,
    FillRecord,
    JournalState,
    OrderRecord,
    SessionMeta,
)
from neo.logs import get_logger

log = get_logger("engine.mirror")
_KIND = {"paper": "paper", "live": "live"}
FLUSH_AFTER_S = 0.1
"""How long a database write deferred between steps waits at most (see the module docstring)."""


class SqlMirror:
    """A :class:`~neo.engine.journal.SessionJournal`: ``file`` plus the database ``database``
    (an open ``neo.persistence.Database``)."""

    def __init__(self, file: FileJournal, database: Any) -> None:
        self.file = file
        self.db = database
        self.session_id = ""
        self.account = "paper"
        self.failures = 0
        self.positions: Mapping[InstrumentId, Position] | None = None
        """Set by the caller to the ledger's positions (``ledger.positions()`` result source)."""
        self.ledger: Any = None
        self._known: set[str] = set()
        self._fills: set[str] = set()
        self._outcomes: dict[str, str] = {}
        """The outcome last mirrored per client id: an unchanged one is not written again (the
        database moves an order to ``final`` by itself when a fill completes it, and a later
        record repeating ``acknowledged`` must not try to move it back)."""
        self._pending: list[tuple[Callable[[Any], None], Any]] = []
        self._timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ SessionJournal
    def load(self) -> JournalState:
        state = self.file.load()
        if state.meta is not None:
            self._open(state.meta)
            # what the store has already (one query, not one per order): their first state
            # is there, and writing it again is a step back the store refuses (an error per
            # order at every resume)
            self._known.update(
                o.client_order_id for o in self.db.orders.orders(session_id=self.session_id)
            )
            for record in state.orders.values():
                if record.cid not in self._known:
                    self.record_order(state.first[record.cid], sync_only=True)
                self.record_order(record, sync_only=True)
            for fill in state.fills.values():
                self.record_fill(fill, sync_only=True)
        return state

    def start(self, meta: SessionMeta) -> None:
        self.file.start(meta)
        self._open(meta)

    def append_bar(self, k: int, bar: Any, stale: tuple[int, ...] = ()) -> None:
        self.file.append_bar(k, bar, stale)

    def record_order(self, record: OrderRecord, *, sync_only: bool = False) -> None:
        if sync_only:
            self._guard(self._order, record)
            return
        self.file.record_order(record)
        self._defer(self._order, record)

    def record_fill(self, record: FillRecord, *, sync_only: bool = False) -> bool:
        if sync_only:
            self._guard(self._fill, record)
            return True
        self.file.record_fill(record)
        self._defer(self._fill, record)
        return True

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        self.file.checkpoint(checkpoint)
        self.flush()
        self._guard(self._checkpoint, checkpoint)

    @property
    def pending(self) -> int:
        """Database writes deferred and not yet flushed."""
        return len(self._pending)

    def flush(self) -> None:
        """Write the deferred records into the database, in the order they were journaled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        for write, record in pending:
            self._guard(write, record)

    def close(self) -> None:
        self.flush()
        if self.session_id:
            self._guard(lambda _: self.db.sessions.set_status(self.session_id, "stopped"), None)
        self.file.close()
        self.db.close()

    # ------------------------------------------------------------------ database writes
    def _defer(self, write: Callable[[Any], None], record: Any) -> None:
        """Write now without an event loop; else queue it for :meth:`flush` (at the next
        checkpoint, or ``FLUSH_AFTER_S`` from now, whichever comes first)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._guard(write, record)
            return
        self._pending.append((write, record))
        if self._timer is None:
            self._timer = loop.call_later(FLUSH_AFTER_S, self.flush)

    def _guard(self, write: Any, record: Any) -> None:
        try:
            write(record)
        except (NeoError, ValueError) as exc:
            self.failures += 1
            log.error("state store not updated (the session journal has it): %s", exc)

    def _open(self, meta: SessionMeta) -> None:
        self.account = meta.account
        found, _ = self.db.sessions.get_or_create(
            meta.session, _KIND.get(meta.mode, "paper"), meta.account, meta.strategy,
            {"params": meta.params, "instruments": meta.instruments, "timeframe": meta.timeframe},
        )  # fmt: skip
        self.session_id = found.id
        self.db.sessions.set_status(self.session_id, "running")

    def _order(self, record: OrderRecord) -> None:
        journal = self.db.orders
        if record.cid not in self._known:
            if journal.get(record.cid) is None:
                journal.record_intent(
                    _order_of(record), self.session_id, client_order_id=record.cid
                )
            self._known.add(record.cid)
        if record.outcome not in ("", "intent", self._outcomes.get(record.cid)):
            journal.record_outcome(
                record.cid, record.outcome, exchange_order_id=record.exchange_id or None
            )
            self._outcomes[record.cid] = record.outcome
        journal.record_status(
            record.cid,
            OrderStatus(record.status),
            quantity=record.quantity,
            filled_quantity=record.filled_quantity,
            average_fill_price=record.average_fill_price or None,
            reason=record.reason or None,
            ts_ns=record.updated_ns or None,
        )

    def _fill(self, record: FillRecord) -> None:
        if record.trade_id in self._fills:
            return
        fill = Fill(
            order_id=OrderId(record.cid),
            trade_id=TradeId(record.trade_id),
            instrument=InstrumentId.parse(record.instrument),
            side=Side(record.side),
            quantity=record.quantity,
            price=record.price,
            fee=record.fee,
            ts=record.ts,
            liquidity=LiquiditySide.TAKER,
            fee_base=record.fee_base,
        )
        source = record.source if record.source in ("ws", "rest", "sim", "replay") else "rest"
        self.db.orders.record_fill(
            fill, client_order_id=record.cid, session_id=self.session_id, source=source,
            trade_id=record.trade_id,
        )  # fmt: skip
        self._fills.add(record.trade_id)

    def _checkpoint(self, checkpoint: Checkpoint) -> None:
        self.db.sessions.save_checkpoint(self.session_id, msgspec.to_builtins(checkpoint))
        if self.ledger is not None:
            for position in self.ledger.positions().values():
                self.db.positions.save(self.account, position, checkpoint.step_ts)


def _order_of(record: OrderRecord) -> Order:
    return Order(
        id=OrderId(record.cid),
        instrument=InstrumentId.parse(record.instrument),
        side=Side(record.side),
        quantity=record.quantity,
        type=OrderType(record.type),
        limit_price=record.limit_price,
        stop_price=record.stop_price,
        created_ns=record.created_ns,
        updated_ns=record.updated_ns,
        tag=record.tag,
    )
