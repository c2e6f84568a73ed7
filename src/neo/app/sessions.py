"""Trading sessions run inside the service process: start, pause, resume, stop, and what they
hold (positions, orders, fills, equity, risk events).

A paper session is the engine's paper loop (:func:`neo.engine.paper.build_paper_loop` driven by
:func:`neo.engine.paper.drive`) on its own thread with its own asyncio loop, so requests never
wait for bars. Control calls cross into that loop with ``call_soon_threadsafe``: the engine is
only ever touched from its own thread. Every fill, order, risk denial, kill-switch change and
equity sample is recorded on the session and handed to ``publish`` (the service's event hub).

Other kinds (``live``) plug in with :meth:`SessionManager.register_kind`: a starter that
receives the request body and returns a :class:`SessionRunner`.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from neo.app.backtest import allocator_of, execution_config, risk_config_of, risk_layers
from neo.app.formats import to_jsonable
from neo.app.selection import (
    SIMULATED_DEFAULT_SYMBOL,
    instruments_of,
    parse_timeframe,
    parse_window,
    resolve_timeframe,
)
from neo.domain.errors import ConfigError, NeoError, RecordNotFoundError
from neo.domain.timestamps import iso_or_none
from neo.logs import get_logger
from neo.settings import NeoSettings

if TYPE_CHECKING:
    from neo.domain.events import Event
    from neo.domain.ids import InstrumentId
    from neo.engine.loop import AutonomousTradingLoop

log = get_logger("app.sessions")

Publish = Callable[[str, Mapping[str, Any]], object]
"""``publish(kind, data)``: an event for the hub (fills, orders, equity, risk, killswitch,
session)."""

KEPT = 5_000
"""The newest fills, orders, risk events and equity samples a session keeps in memory."""
EQUITY_EVERY = 1
"""Sample equity every this many bars."""
STOP_GRACE_S = 2.0
"""After a stop, how long a quiet feed may take to notice before its task is cancelled."""


class PaperSessionRequest(BaseModel):
    """``POST /v1/sessions`` for a paper session (the flags of ``neo paper``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field("paper", pattern="^paper$")
    account: str = Field("paper", pattern="^paper$", description="Paper sessions trade paper.")
    strategy: str | None = Field(None, max_length=200)
    params: list[str] = Field(default_factory=list, max_length=50)
    feed: str = Field("simulated", pattern="^(simulated|replay)$")
    venue: str | None = Field(None, max_length=64)
    symbols: str | None = Field(None, max_length=1000)
    symbol: str | None = Field(None, max_length=64)
    timeframe: str | None = Field(None, max_length=16)
    start: str | None = Field(None, max_length=40)
    end: str | None = Field(None, max_length=40)
    speed: float | None = Field(None, gt=0, le=1e6, description="Bars per second.")
    cycles: int | None = Field(None, ge=1, le=10_000_000)
    seed: int = Field(7, ge=0, le=2**32 - 1)
    fill: str | None = Field(None, max_length=16)
    fees_bps: float | None = Field(None, ge=0, le=10_000)
    slippage_bps: float | None = Field(None, ge=0, le=10_000)
    cash: float | None = Field(None, gt=0, le=1e15)
    allocator: str | None = Field(None, max_length=64)


class SessionRunner(Protocol):
    """What a running session offers the manager (paper here; live plugs in its own)."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...


@dataclass
class Session:
    """A session's identity, state and what it recorded (newest last, bounded)."""

    id: str
    kind: str
    account: str
    strategy: str
    request: dict[str, Any]
    status: str = "starting"
    started_ns: int = field(default_factory=time.time_ns)
    updated_ns: int = field(default_factory=time.time_ns)
    error: str | None = None
    result: dict[str, Any] | None = None
    bars: int = 0
    equity_now: float | None = None
    positions: dict[str, float] = field(default_factory=dict)
    fills: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=KEPT)
    )
    orders: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=KEPT)
    )
    equity: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=KEPT)
    )
    risk_events: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=KEPT)
    )
    model: dict[str, Any] | None = None
    runner: SessionRunner | None = None

    def view(self) -> dict[str, Any]:
        """The session as ``GET /v1/sessions/{id}`` answers it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "account": self.account,
            "strategy": self.strategy,
            "status": self.status,
            "started_at": iso_or_none(self.started_ns),
            "updated_at": iso_or_none(self.updated_ns),
            "bars": self.bars,
            "equity": self.equity_now,
            "positions": dict(self.positions),
            "fills": len(self.fills),
            "orders": len(self.orders),
            "error": self.error,
            "result": self.result,
            "request": self.request,
        }


StartKind = Callable[[NeoSettings, Mapping[str, Any], "Session", Publish], SessionRunner]
"""Builds and starts a session of one kind (the hook ``live`` registers)."""


class SessionManager:
    """The sessions of this process, by id; thread-safe."""

    def __init__(self, settings: NeoSettings, publish: Publish | None = None) -> None:
        self.settings = settings
        self._publish: Publish = publish or (lambda kind, data: None)
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._kinds: dict[str, StartKind] = {"paper": start_paper}

    def register_kind(self, kind: str, start: StartKind) -> None:
        """Let ``POST /v1/sessions {"kind": kind, …}`` start sessions of another kind."""
        self._kinds[kind] = start

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def start(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Start a session described by ``body`` (``kind`` paper by default)."""
        kind = str(body.get("kind", "paper"))
        starter = self._kinds.get(kind)
        if starter is None:
            raise ConfigError(f"unknown session kind {kind!r}: use one of {', '.join(self.kinds)}")
        session = Session(
            id=f"{kind}-{secrets.token_hex(6)}",
            kind=kind,
            account=str(body.get("account", "paper")),
            strategy=str(body.get("strategy") or ""),
            request=dict(to_jsonable(body)),
        )
        session.runner = starter(self.settings, body, session, self._session_publish(session))
        with self._lock:
            self._sessions[session.id] = session
        self._publish("session", {"session": session.id, "status": session.status})
        return session.view()

    def _session_publish(self, session: Session) -> Publish:
        def publish(kind: str, data: Mapping[str, Any]) -> object:
            session.updated_ns = time.time_ns()
            return self._publish(kind, {"session": session.id, **data})

        return publish

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise RecordNotFoundError(f"no session {session_id!r}: see GET /v1/sessions")
        return session

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            sessions = list(self._sessions.values())
        return [s.view() for s in sessions]

    def control(self, session_id: str, action: str) -> dict[str, Any]:
        """``pause``, ``resume`` or ``stop`` a session; a finished one cannot change."""
        session = self.get(session_id)
        runner = session.runner
        if runner is None or session.status in ("stopped", "failed"):
            raise ConfigError(f"session {session_id} has {session.status}: it cannot {action}")
        if action == "pause":
            runner.pause()
        elif action == "resume":
            runner.resume()
        elif action == "stop":
            runner.stop()
            runner.join(STOP_GRACE_S * 3)
        else:
            raise ConfigError(f"unknown action {action!r}: use pause, resume or stop")
        self._publish("session", {"session": session.id, "status": session.status})
        return session.view()

    def shutdown(self) -> None:
        """Stop every running session (the service is going down)."""
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            if session.runner is not None and session.status not in ("stopped", "failed"):
                session.runner.stop()
        for session in sessions:
            if session.runner is not None:
                session.runner.join(STOP_GRACE_S * 3)


# -- paper ----------------------------------------------------------------------------------------


def paper_feed(settings: NeoSettings, request: PaperSessionRequest, ids: list[InstrumentId]) -> Any:
    """The session's feed: seeded simulated bars, or a replay of the store."""
    from neo.data.feeds import ReplayFeed, SimulatedMarketDataFeed

    pace = None if request.speed is None else 1.0 / request.speed
    if request.feed == "simulated":
        return SimulatedMarketDataFeed(
            [i.symbol for i in ids],
            parse_timeframe(request.timeframe or "1m"),
            n_bars=request.cycles or 10_000,
            seed=request.seed,
            venue=ids[0].venue,
            pace=pace,
        )
    from neo.data.store import HistoricalDataStore

    start_ns, end_ns = parse_window(request.start, request.end)
    return ReplayFeed(
        HistoricalDataStore.from_settings(settings),
        ids,
        resolve_timeframe(settings, request.timeframe, ids, "1m"),
        start_ns=start_ns,
        end_ns=end_ns,
        pace=pace,
    )


@dataclass(frozen=True)
class PaperSetup:
    """A built paper session, not started: its loop, its feed and its strategy's name."""

    loop: AutonomousTradingLoop
    feed: Any
    strategy: str


def build_paper(settings: NeoSettings, request: PaperSessionRequest) -> PaperSetup:
    """A paper loop as ``neo paper`` builds it: the strategy, the fill model, the account's
    kill switch (halt shared with every session of the account, basis the session's own)."""
    from neo.engine.instruments import configured_instrument
    from neo.engine.paper import build_paper_loop
    from neo.risk import HALT_ONLY
    from neo.strategies.registry import configured_strategy, served_strategy

    served_strategy(settings, request.strategy)
    symbols = request.symbols
    if request.feed == "simulated" and not (symbols or request.symbol):
        symbols = SIMULATED_DEFAULT_SYMBOL
    ids = instruments_of(settings, request.venue, symbols, request.symbol)
    parse_window(request.start, request.end)
    config = execution_config(
        settings,
        fill=request.fill,
        fees_bps=request.fees_bps,
        slippage_bps=request.slippage_bps,
        cash=request.cash,
    )
    chosen = configured_strategy(settings, request.strategy, request.params or None)
    if chosen.sizing.needs_forecast:
        raise ConfigError(
            f"size={chosen.sizing} sizes by a model's forecast: use neo paper --model"
        )
    allocator = allocator_of(settings, request.allocator)
    feed = paper_feed(settings, request, ids)
    specs = {iid: configured_instrument(iid, settings.instruments) for iid in feed.instruments}
    gate, book = risk_layers(
        settings,
        specs,
        risk_config_of(settings, None) or HALT_ONLY,
        allocator,
        data_dir=settings.data_dir,
        keep_basis=False,
    )
    loop = build_paper_loop(
        chosen,
        specs,
        feed.timeframe,
        execution=config,
        engine=settings.engine,
        risk=gate,
        portfolio=book,
    )
    return PaperSetup(loop, feed, chosen.name)


class PaperRunner:
    """A paper loop on its own thread; control calls cross into its asyncio loop."""

    def __init__(
        self, session: Session, loop: AutonomousTradingLoop, feed: Any, publish: Publish,
        cycles: int | None,
    ) -> None:  # fmt: skip
        self.session = session
        self.loop = loop
        self.feed = feed
        self.publish = publish
        self.cycles = cycles
        self._aio: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[str] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=session.id, daemon=True)
        self._subscribe()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5.0)

    def _subscribe(self) -> None:
        from neo.domain.events import (
            ORDER_STATUS_EVENTS,
            KillSwitchEngaged,
            KillSwitchReset,
            OrderFilled,
            RiskDenied,
        )

        bus = self.loop.bus
        bus.subscribe(OrderFilled, self._on_fill)
        # every status change, so a view keyed by order id shows each order's latest state
        for change in ORDER_STATUS_EVENTS:
            bus.subscribe(change, self._on_order)
        bus.subscribe(RiskDenied, self._on_risk)
        bus.subscribe(KillSwitchEngaged, self._on_killswitch)
        bus.subscribe(KillSwitchReset, self._on_killswitch)

    def _on_fill(self, event: Event) -> None:
        fill = getattr(event, "fill")  # noqa: B009  # OrderFilled
        row = {
            "ts": iso_or_none(event.ts),
            "ts_ns": event.ts,
            "order_id": str(fill.order_id),
            "instrument": str(fill.instrument),
            "side": str(getattr(fill.side, "value", fill.side)),
            "quantity": float(fill.quantity),
            "price": float(fill.price),
            "fee": float(fill.fee),
        }
        self.session.fills.append(row)
        self.publish("fill", row)

    def _on_order(self, event: Event) -> None:
        order = getattr(event, "order")  # noqa: B009
        row = {
            "ts": iso_or_none(event.ts),
            "ts_ns": event.ts,
            "event": type(event).__name__,
            "order": to_jsonable(order),
            "reason": getattr(event, "reason", None),
        }
        self.session.orders.append(row)
        self.publish("order", row)

    def _on_risk(self, event: Event) -> None:
        row = {
            "ts": iso_or_none(event.ts),
            "ts_ns": event.ts,
            "code": getattr(event, "code", ""),
            "reason": getattr(event, "reason", ""),
        }
        self.session.risk_events.append(row)
        self.publish("risk", row)

    def _on_killswitch(self, event: Event) -> None:
        row = {
            "ts": iso_or_none(event.ts),
            "ts_ns": event.ts,
            "event": type(event).__name__,
            "reason": getattr(event, "reason", getattr(event, "by", "")),
        }
        self.session.risk_events.append(row)
        self.publish("killswitch", {"account": self.session.account, **row})

    def _on_bar(self, loop: AutonomousTradingLoop) -> None:
        session = self.session
        session.bars = loop.bars_seen
        if loop.bars_seen % EQUITY_EVERY == 0:
            ledger = loop.ledger
            ts = loop.clock.now_ns()
            session.equity_now = float(ledger.equity)
            session.positions = {str(i): float(ledger.position(i)) for i in loop.instruments}
            row = {"ts": iso_or_none(ts), "ts_ns": ts, "equity": session.equity_now,
                   "cash": float(ledger.cash)}  # fmt: skip
            session.equity.append(row)
            self.publish("equity", row)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the session fails, the service goes on
            log.warning("session %s failed: %s", self.session.id, exc)
            self.session.status = "failed"
            self.session.error = str(exc) if isinstance(exc, NeoError) else repr(exc)
            self.publish("session", {"status": "failed", "error": self.session.error})
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from neo.engine.paper import drive

        self._aio = asyncio.get_running_loop()
        self.loop.start()
        self.session.status = "running"
        self._task = asyncio.create_task(
            drive(self.loop, self.feed.stream(), cycles=self.cycles, on_bar=self._on_bar)
        )
        self._ready.set()
        reason = "stopped"
        try:
            reason = await self._task
        except asyncio.CancelledError:
            reason = "stopped by request"
        finally:
            self.loop.stop(reason)
        ledger = self.loop.ledger
        self._on_bar(self.loop)
        self.session.result = {
            "bars": self.loop.bars_seen,
            "equity": float(ledger.equity),
            "cash": float(ledger.cash),
            "fills": self.loop.stats.fills,
            "strategy_failures": self.loop.stats.strategy_failures,
            "stopped_by": reason,
        }
        self.session.status = "stopped"
        self.publish("session", {"status": "stopped", "stopped_by": reason})

    def _call(self, action: Callable[[], None]) -> None:
        if self._aio is not None and not self._aio.is_closed():
            try:
                self._aio.call_soon_threadsafe(action)
            except RuntimeError:  # the loop closed meanwhile: nothing left to control
                return

    def pause(self) -> None:
        self._call(self.loop.pause)
        self.session.status = "paused"

    def resume(self) -> None:
        self._call(self.loop.resume)
        self.session.status = "running"

    def stop(self) -> None:
        def cancel() -> None:
            self.loop.stop("stopped by request")
            if self._task is not None and self._aio is not None:
                self._aio.call_later(STOP_GRACE_S, self._task.cancel)

        self._call(cancel)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def start_paper(
    settings: NeoSettings,
    body: Mapping[str, Any],
    session: Session,
    publish: Publish,
    *,
    on_loop: Callable[[AutonomousTradingLoop, str], object] | None = None,
) -> SessionRunner:
    """Validate the request, build the loop (errors surface here, before any thread), start.

    ``on_loop(loop, session_id)`` sees the loop before its first bar (the service attaches
    the session's Prometheus metrics there; this layer knows nothing of them)."""
    request = PaperSessionRequest.model_validate(dict(body))  # ValidationError: 422
    setup = build_paper(settings, request)
    session.strategy = setup.strategy
    if on_loop is not None:
        on_loop(setup.loop, session.id)
    runner = PaperRunner(session, setup.loop, setup.feed, publish, request.cycles)
    runner.start()
    return runner
