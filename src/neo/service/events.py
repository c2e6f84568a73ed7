"""The in-process event hub behind ``GET /v1/events`` (server-sent events).

Sessions, jobs and the kill-switch routes :meth:`EventHub.publish` from any thread; each SSE
client (the dashboard, a script) holds a :class:`Subscription`, an asyncio queue filled from the
server's event loop. A slow client loses its oldest events (counted in ``dropped``), never
blocks a publisher. Kinds in use: ``fill``, ``order``, ``equity``, ``risk``, ``killswitch``,
``session``, ``job``.

    hub = EventHub()
    hub.publish("fill", {"session": "paper-1", "price": 101.5})
    async with hub.subscribe({"fill"}) as sub:
        async for event in sub:          # HubEvent(id, kind, data, ts_ns)
            ...
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from neo.app.formats import to_jsonable

QUEUE_SIZE = 1000
"""Events a subscriber may fall behind before its oldest are dropped."""
HISTORY = 200
"""Recent events kept for a client that reconnects with ``Last-Event-ID``."""


@dataclass(frozen=True, slots=True)
class HubEvent:
    id: int
    kind: str
    data: dict[str, Any]
    ts_ns: int

    def sse(self) -> str:
        """The event as one server-sent-events frame."""
        payload = json.dumps(self.data, allow_nan=False, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.kind}\ndata: {payload}\n\n"


class Subscription:
    """One client's queue; iterate it (async) for events, use it as an async context."""

    def __init__(self, hub: EventHub, kinds: Collection[str] | None) -> None:
        self.hub = hub
        self.kinds = None if kinds is None else frozenset(kinds)
        self.queue: asyncio.Queue[HubEvent] = asyncio.Queue(QUEUE_SIZE)
        self.loop = asyncio.get_running_loop()
        self.dropped = 0

    def wants(self, event: HubEvent) -> bool:
        return self.kinds is None or event.kind in self.kinds

    def offer(self, event: HubEvent) -> None:
        """On the subscriber's loop: enqueue, dropping the oldest when full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> HubEvent | None:
        """The next event, or None after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[HubEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[HubEvent]:
        while True:
            yield await self.queue.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.hub.unsubscribe(self)


class EventHub:
    """Fan-out of events to every subscriber; thread-safe ``publish``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._ids = itertools.count(1)
        self._history: collections.deque[HubEvent] = collections.deque(maxlen=HISTORY)

    def publish(self, kind: str, data: Mapping[str, Any]) -> HubEvent:
        """Hand an event to every subscriber that wants ``kind`` (from any thread)."""
        with self._lock:
            event = HubEvent(next(self._ids), kind, to_jsonable(dict(data)), time.time_ns())
            self._history.append(event)
            targets = [s for s in self._subscribers if s.wants(event)]
        for sub in targets:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # its loop closed: the client is gone
                self.unsubscribe(sub)
        return event

    def subscribe(
        self, kinds: Collection[str] | None = None, *, after: int | None = None
    ) -> Subscription:
        """A new subscription (call on the event loop that will read it); with ``after`` (a
        ``Last-Event-ID``) the kept events newer than it are queued first."""
        sub = Subscription(self, kinds)
        with self._lock:
            if after is not None:
                for event in self._history:
                    if event.id > after and sub.wants(event):
                        sub.offer(event)
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def recent(self, kinds: Collection[str] | None = None) -> list[HubEvent]:
        """The kept recent events (oldest first)."""
        with self._lock:
            return [e for e in self._history if kinds is None or e.kind in kinds]
