"""Connect notifications to a running trading loop through its bus (the engine never imports
this package).

:func:`attach_notifications` subscribes to the bus events that the configured webhooks want
(fills, risk denials, kill switch, errors) and, when a webhook wants ``stale`` data alerts, to
``BarClosed`` plus a watch thread that notices an instrument whose last bar *arrived* more than
``stale_after_bars`` bar lengths of wall time ago (a feed that went quiet publishes nothing, so
only a clock can see it). Arrival, not the bar's own timestamp, is what counts: a replay or a
simulated feed runs on data time, which is not the wall clock's.

On the trading thread a handler builds the message and offers it to each webhook's queue: a few
microseconds, never a network call, never an exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from neo.domain.events import (
    BarClosed,
    EngineStopped,
    Event,
    KillSwitchEngaged,
    KillSwitchReset,
    OrderFilled,
    OrderRejected,
    RiskDenied,
    StrategyFailed,
)
from neo.domain.ids import InstrumentId
from neo.engine.bus import MessageBus
from neo.logs import get_logger
from neo.notify.config import EventKind, NotificationConfig
from neo.notify.delivery import OutcomeHook, WebhookWorker
from neo.notify.messages import Notification, fresh_again, from_event, stale_data

log = get_logger("notify")

EVENT_TYPES: dict[EventKind, tuple[type[Event], ...]] = {
    EventKind.FILL: (OrderFilled,),
    EventKind.RISK: (RiskDenied,),
    EventKind.KILL_SWITCH: (KillSwitchEngaged, KillSwitchReset),
    EventKind.ERROR: (StrategyFailed, OrderRejected, EngineStopped),
    EventKind.STALE: (),
}


class LoopLike(Protocol):
    """What notifications need of the trading loop: its bus, instruments and bar length."""

    @property
    def bus(self) -> MessageBus: ...

    @property
    def instruments(self) -> list[InstrumentId]: ...

    @property
    def timeframe(self) -> Any: ...


class Notifier:
    """The webhooks of one trading loop; :meth:`close` when the session ends."""

    def __init__(
        self,
        config: NotificationConfig,
        *,
        session: str = "",
        on_outcome: OutcomeHook | None = None,
        workers: list[WebhookWorker] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.session = session
        self.workers = (
            workers
            if workers is not None
            else [WebhookWorker(hook, config, on_outcome=on_outcome) for hook in config.webhooks]
        )
        self.kinds = frozenset(kind for hook in config.webhooks for kind in hook.events)
        self._bus: MessageBus | None = None
        self._subscribed: list[type[Event]] = []
        self.wall_ns = wall_ns
        """The wall clock (a seam for tests) the stale-data watch measures arrivals with."""
        self._stale = _StaleWatch(self) if EventKind.STALE in self.kinds else None

    def notify(self, note: Notification) -> None:
        """Offer ``note`` to every webhook that wants its kind (non-blocking)."""
        for worker in self.workers:
            worker.offer(note)

    def on_event(self, event: Event) -> None:
        """Bus handler: never raises into the trading loop."""
        try:
            note = from_event(event, self.session)
            if note is not None and note.kind in self.kinds:
                self.notify(note)
        except Exception as exc:
            log.error("cannot build a notification", extra={"error": repr(exc)})

    def attach(self, bus: MessageBus, instruments: list[InstrumentId], bar_ns: int) -> None:
        self._bus = bus
        for kind in self.kinds:
            for event_type in EVENT_TYPES[kind]:
                if event_type not in self._subscribed:
                    bus.subscribe(event_type, self.on_event)
                    self._subscribed.append(event_type)
        if self._stale is not None:
            self._stale.start(bus, instruments, bar_ns)

    def check_stale(self, now_ns: int | None = None) -> list[InstrumentId]:
        """Look for stale instruments now (the watch thread calls this); the newly stale."""
        if self._stale is None:
            return []
        return self._stale.check(self.wall_ns() if now_ns is None else now_ns)

    def stats(self) -> dict[str, dict[str, int]]:
        return {worker.label: worker.stats.as_dict() for worker in self.workers}

    def flush(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(w.flush(max(0.0, deadline - time.monotonic())) for w in self.workers)

    def close(self, timeout: float = 2.0) -> None:
        """Unsubscribe, stop the watch, and give queued messages ``timeout`` s to go out."""
        bus = self._bus
        if bus is not None:
            for event_type in self._subscribed:
                bus.unsubscribe(event_type, self.on_event)
            self._subscribed.clear()
        if self._stale is not None:
            self._stale.stop(bus)
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.close(max(0.0, deadline - time.monotonic()))


class _StaleWatch:
    """When each instrument's last bar arrived (wall time, written on the trading thread: one
    dict store), read by a daemon thread every ``stale_check_s``."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.arrived: dict[InstrumentId, int] = {}
        self.stale: set[InstrumentId] = set()
        self.instruments: list[InstrumentId] = []
        self.bar_ns = 0
        self.started_ns = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, bus: MessageBus, instruments: list[InstrumentId], bar_ns: int) -> None:
        self.instruments = list(instruments)
        self.bar_ns = bar_ns
        self.started_ns = self.notifier.wall_ns()
        bus.subscribe(BarClosed, self.on_bar)
        bus.subscribe(EngineStopped, self.on_stopped)
        self._thread = threading.Thread(target=self._run, name="neo-notify-stale", daemon=True)
        self._thread.start()

    def on_bar(self, event: Event) -> None:
        bar = event.bar  # type: ignore[attr-defined]
        instrument = bar.instrument
        now = self.notifier.wall_ns()
        self.arrived[instrument] = now
        if instrument in self.stale:
            self.stale.discard(instrument)
            self.notifier.notify(fresh_again(instrument, now, self.notifier.session))

    def on_stopped(self, event: Event) -> None:
        self._stop.set()

    def check(self, now_ns: int) -> list[InstrumentId]:
        limit = self.notifier.config.stale_after_bars * self.bar_ns
        found: list[InstrumentId] = []
        for instrument in self.instruments:
            since = self.arrived.get(instrument, self.started_ns)
            age = now_ns - since
            if age > limit and instrument not in self.stale:
                self.stale.add(instrument)
                found.append(instrument)
                note = stale_data(instrument, age / 1e9, self.bar_ns / 1e9, now_ns,
                                  self.notifier.session)  # fmt: skip
                self.notifier.notify(note)
        return found

    def _run(self) -> None:
        interval = self.notifier.config.stale_check_s
        while not self._stop.wait(interval):
            try:
                self.check(self.notifier.wall_ns())
            except Exception as exc:  # the watch must outlive a bad tick
                log.error("stale-data check failed", extra={"error": repr(exc)})

    def stop(self, bus: MessageBus | None) -> None:
        self._stop.set()
        if bus is not None:
            bus.unsubscribe(BarClosed, self.on_bar)
            bus.unsubscribe(EngineStopped, self.on_stopped)
        if self._thread is not None:
            self._thread.join(1.0)


def attach_notifications(
    loop: LoopLike,
    config: NotificationConfig,
    *,
    session: str = "",
    on_outcome: OutcomeHook | None = None,
) -> Notifier | None:
    """Send ``loop``'s fills, risk events, kill-switch changes, errors and stale-data alerts to
    the webhooks in ``config``; None when none is configured (nothing is subscribed then).

    ``on_outcome(format, outcome)`` is called for every delivery outcome (for the
    ``neo_webhook_deliveries_total`` counter). Call :meth:`Notifier.close` when the session ends.
    """
    return attach_to_bus(
        loop.bus,
        list(loop.instruments),
        int(loop.timeframe.nanos),
        config,
        session=session,
        on_outcome=on_outcome,
    )


def attach_to_bus(
    bus: MessageBus,
    instruments: list[InstrumentId],
    bar_ns: int,
    config: NotificationConfig,
    *,
    session: str = "",
    on_outcome: OutcomeHook | None = None,
) -> Notifier | None:
    """:func:`attach_notifications` for a loop not built yet: its bus, instruments and bar
    length (``neo paper`` hands the bus to the driver that builds the loop)."""
    if not config.enabled:
        return None
    notifier = Notifier(config, session=session, on_outcome=on_outcome)
    notifier.attach(bus, instruments, bar_ns)
    log.info(
        "notifications attached",
        extra={"webhooks": ", ".join(w.label for w in notifier.workers), "session": session},
    )
    return notifier
