"""The durable record of one trading session: bars seen, orders, fills and checkpoints.

A session that survives crashes needs, at restart, exactly what it had done: which bars it
processed, every order it decided (under NEO's client order id) and every fill it booked, and
where it last stood (a checkpoint after each completed time step). :class:`SessionJournal` is
that boundary; the runner (:mod:`neo.engine.live`) speaks it alone.

:class:`FileJournal`, the fake beside the real one, is an append-only JSON-lines file per
session (``<data_dir>/sessions/<name>/journal.jsonl``). Every record is one ``write`` on an
``O_APPEND`` descriptor: once it returns, the record is in the kernel's page cache and survives
the process being killed (``SIGKILL`` included); with ``sync=True`` each checkpoint is also
``fsync``-ed, so a power loss cannot lose a step the session reported done. A torn last line
(a write cut short) is cut off at the restart; a bad line in the middle is a corrupt journal
and refuses to load. A lock file keeps a second process from running the same session at once.

Records are written in this order within a step: the bar, then the order and fill records its
cycle produced, then the checkpoint. Bars after the last checkpoint belong to a step that did
not finish: a restart writes :class:`Resumed`, which abandons them (the feed delivers them
again), and the runner runs that step again (see :mod:`neo.engine.live`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
from filelock import FileLock, Timeout

from neo.domain.bar import Bar
from neo.domain.errors import SessionBusyError, SessionError
from neo.domain.fill import Fill

JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "session.lock"


class SessionMeta(msgspec.Struct, frozen=True, kw_only=True, tag="meta", tag_field="kind"):
    """What the session was started with; a restart must match it (else a new session)."""

    session: str
    mode: str
    account: str
    strategy: str
    params: dict[str, Any]
    instruments: list[str]
    timeframe: str
    cash: float
    tag: str
    live_from: int = 0
    """Bars closing at or before this time (ns) only warm the strategy up: no orders."""


class BarRecord(msgspec.Struct, frozen=True, tag="bar", tag_field="kind"):
    """One bar the session processed: instrument index (into ``SessionMeta.instruments``),
    open time, OHLCV."""

    k: int
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    stale: tuple[int, ...] = ()
    """Instruments (indexes) whose data was stale when this bar was journaled: the risk gate's
    ``stale_data`` rule reads this snapshot, live and in a replay alike, so a restart decides
    every entry exactly as the run did (staleness is wall-clock, a replay cannot re-judge it)."""


class OrderRecord(msgspec.Struct, frozen=True, kw_only=True, tag="order", tag_field="kind"):
    """An order's state after one change, under NEO's client order id ``cid``."""

    cid: str
    instrument: str
    side: str
    type: str
    quantity: float
    status: str
    limit_price: float | None = None
    stop_price: float | None = None
    filled_quantity: float = 0.0
    average_fill_price: float = 0.0
    reason: str = ""
    tag: str = ""
    equity_fraction: float | None = None
    created_ns: int = 0
    updated_ns: int = 0
    exchange_id: str = ""
    outcome: str = ""
    """How the venue call went (intent, sent, unknown, acknowledged, final, lost); live only."""
    bar: int = -1
    """Bars the session had completed when this was written (where a replay re-plays it)."""

    def identity(self) -> tuple[Any, ...]:
        """What a replay must decide again for the same client id."""
        return (self.instrument, self.side, self.type, self.limit_price, self.stop_price)

    def state(self) -> tuple[str, float, str, str]:
        return (self.status, round(self.filled_quantity, 12), self.outcome, self.exchange_id)


class FillRecord(msgspec.Struct, frozen=True, kw_only=True, tag="fill", tag_field="kind"):
    """One fill, unique by ``trade_id`` (scoped to the session for simulated fills)."""

    trade_id: str
    cid: str
    instrument: str
    side: str
    quantity: float
    price: float
    fee: float
    ts: int
    source: str = "sim"
    bar: int = -1
    fee_base: float = 0.0
    """The part of ``fee`` taken in the base asset, in base units (:attr:`Fill.fee_base`)."""

    @classmethod
    def of(cls, fill: Fill, *, trade_id: str, cid: str, source: str, bar: int) -> FillRecord:
        """The record of ``fill`` under the journal's ``trade_id`` and client id ``cid``."""
        return cls(
            trade_id=trade_id,
            cid=cid,
            instrument=str(fill.instrument),
            side=fill.side.value,
            quantity=fill.quantity,
            price=fill.price,
            fee=fill.fee,
            ts=fill.ts,
            source=source,
            bar=bar,
            fee_base=fill.fee_base,
        )


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True, tag="checkpoint", tag_field="kind"):
    """Where the session stood after the step at ``step_ts`` was complete."""

    bars: int
    """Bars the session has completed in all (restarts included)."""
    step_ts: int
    orders: int
    fills: int
    cash: float
    equity: float
    positions: dict[str, float]
    next_seq: int


class Resumed(msgspec.Struct, frozen=True, kw_only=True, tag="resumed", tag_field="kind"):
    """Written at each restart: bars recorded since the last checkpoint (an unfinished step)
    are abandoned here, since the feed delivers them again."""

    abandoned: int
    step_ts: int


Record = SessionMeta | BarRecord | OrderRecord | FillRecord | Checkpoint | Resumed
_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class JournalState:
    """Everything a journal holds, read back at a restart."""

    meta: SessionMeta | None = None
    bars: list[BarRecord] = field(default_factory=list)
    """Bars up to the last checkpoint (those of an unfinished step are left out)."""
    checkpoint: Checkpoint | None = None
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    """The latest record of every client id, in the order first seen."""
    first: dict[str, OrderRecord] = field(default_factory=dict)
    """The first record of every client id (what was decided)."""
    states: set[tuple[str, str, float, str, str]] = field(default_factory=set)
    """(cid, status, filled, outcome, exchange id) of every order record: each change once."""
    fills: dict[str, FillRecord] = field(default_factory=dict)
    history: list[OrderRecord | FillRecord] = field(default_factory=list)
    """Order and fill records written before the last checkpoint, in order."""
    tail: list[OrderRecord | FillRecord] = field(default_factory=list)
    """Those written after it (by the step a crash cut short)."""

    def add(self, record: OrderRecord | FillRecord) -> None:
        if isinstance(record, OrderRecord):
            self.first.setdefault(record.cid, record)
            self.orders[record.cid] = record
            self.states.add((record.cid, *record.state()))
        else:
            self.fills.setdefault(record.trade_id, record)


class SessionJournal(Protocol):
    """What the session runner needs of durable storage (file, SQL database)."""

    def load(self) -> JournalState:
        """Everything recorded so far (empty for a new session); marks a restart."""
        ...

    def start(self, meta: SessionMeta) -> None:
        """Record what a new session was started with (once)."""
        ...

    def append_bar(self, k: int, bar: Bar, stale: tuple[int, ...] = ()) -> None: ...

    def record_order(self, record: OrderRecord) -> None: ...

    def record_fill(self, record: FillRecord) -> bool:
        """Book a fill once; False when its trade id is already recorded (a duplicate)."""
        ...

    def checkpoint(self, checkpoint: Checkpoint) -> None: ...

    def close(self) -> None: ...


def check_session_name(session: str) -> None:
    """A session name becomes a directory and a client-id seed: keep it plain."""
    ok = 0 < len(session) <= 64 and all(c.isalnum() or c in "-_." for c in session)
    if not ok or session.startswith("."):
        raise SessionError(
            f"invalid session name {session!r}: use 1-64 letters, digits, '-', '_' or '.'"
        )


def session_dir(data_dir: Path, session: str) -> Path:
    """Where a session's journal and lock live."""
    check_session_name(session)
    return data_dir / "sessions" / session


class FileJournal:
    """An append-only JSON-lines journal (see the module docstring)."""

    def __init__(self, directory: Path, *, sync: bool = False) -> None:
        self.directory = directory
        self.path = directory / JOURNAL_FILE
        self.sync = sync
        directory.mkdir(parents=True, exist_ok=True)
        # not thread-local: a service session opens its journal on the request thread and
        # closes it on its own (a thread-local lock ignored that release and stayed held)
        self._lock = FileLock(str(directory / LOCK_FILE), thread_local=False)
        try:
            self._lock.acquire(timeout=0.5)
        except Timeout:
            raise SessionBusyError(
                f"session {directory.name!r} is already running in another process "
                f"(lock {directory / LOCK_FILE}); stop it first or use another --session"
            ) from None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def load(self) -> JournalState:
        state = JournalState()
        content = self.path.read_bytes()
        if content and not content.endswith(b"\n"):
            # a torn last line (its write never completed): cut it off, so that what is
            # appended next starts on a line of its own
            content = content[: content.rfind(b"\n") + 1]
            os.truncate(self.path, len(content))
        pending: list[BarRecord] = []
        for number, line in enumerate(content.split(b"\n")):
            if not line.strip():
                continue
            try:
                record = _decoder.decode(line)
            except msgspec.DecodeError as exc:
                raise SessionError(
                    f"session journal {self.path} is corrupt at line {number + 1}: {exc}; "
                    "move it away to start the session afresh"
                ) from None
            if isinstance(record, SessionMeta):
                state.meta = record
            elif isinstance(record, BarRecord):
                pending.append(record)
            elif isinstance(record, Checkpoint):
                state.bars.extend(pending)
                pending.clear()
                state.history.extend(state.tail)
                state.tail.clear()
                state.checkpoint = record
            elif isinstance(record, Resumed):
                pending.clear()
            else:
                state.add(record)
                state.tail.append(record)
        if state.meta is not None:
            step = -1 if state.checkpoint is None else state.checkpoint.step_ts
            self._write(Resumed(abandoned=len(pending), step_ts=step))
        return state

    def start(self, meta: SessionMeta) -> None:
        self._write(meta)

    def append_bar(self, k: int, bar: Bar, stale: tuple[int, ...] = ()) -> None:
        self._write(BarRecord(k, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, stale))

    def record_order(self, record: OrderRecord) -> None:
        self._write(record)

    def record_fill(self, record: FillRecord) -> bool:
        self._write(record)
        return True

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        self._write(checkpoint)
        if self.sync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._lock.release()

    def _write(self, record: Record) -> None:
        os.write(self._fd, _encoder.encode(record) + b"\n")
